// Unsupervised pretraining (§3.1): maximise L1(U) = Σ_i log P(u_i | u_{i-k}, ..., u_{i-1}) by AdamW on
// batches of windows of the corpus, with the paper's warm-up + cosine schedule. One step reads back
// the loss; a non-finite loss stops the run before anything is saved. A batch larger than memory runs
// as micro-batches (accumulate.ts): each draws the dropout masks of its rows of the whole batch and
// weighs its tokens by 1/(B·T), so the accumulated step is the full batch's step up to summation order.
import type { GPT } from '../model/gpt.ts';
import type { Tensor } from '../backend/backend.ts';
import { pretrainDefaults } from '../model/config.ts';
import { FileFormatError } from '../io/errors.ts';
import type { TrainState } from '../io/checkpoint.ts';
import { learningRate } from './schedule.ts';
import { AdamW } from './optim.ts';
import type { Batch, TokenDataset } from './data.ts';
import { microBatches, planMemory, type MemoryPlan } from './accumulate.ts';

export interface PretrainOptions {
  steps: number;
  batchSize: number;
  /** sequences per forward pass; smaller than batchSize = gradient accumulation (default batchSize) */
  microBatch?: number;
  /** the memory estimate, once, before the first step (planMemory has checked it against the backend's limit) */
  onMemory?: (plan: MemoryPlan) => void;
  lr?: number;
  warmupSteps?: number;
  weightDecay?: number;
  gradClip?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  seed?: number;
  /** validate every N steps (and at the end); 0 = never */
  evalEvery?: number;
  evalBatches?: number;
  /** checkpoint every N steps (and at the end); 0 = only at the end */
  checkpointEvery?: number;
  /** stop early (and checkpoint) after this many seconds */
  maxSeconds?: number;
  /** continue from this step (a resumed run); the model already holds the weights */
  startStep?: number;
  /**
   * the optimizer to continue: a resumed run's (AdamW over model.parameters() holding the checkpoint's
   * moments — without it a resumed run starts with fresh moments), or one kept between calls. The caller
   * frees it. By default a new one, freed at the end.
   */
  optimizer?: AdamW;
  history?: HistoryPoint[];
  onStep?: (e: StepEvent) => void;
  onEval?: (e: EvalEvent) => void;
  /** called to persist a checkpoint; gets the state that resume needs (saveCheckpoint's trainState and optimizer) */
  checkpoint?: (state: PretrainState, optimizer: AdamW) => Promise<void>;
  now?: () => number;
}

export interface StepEvent {
  step: number;
  steps: number;
  loss: number;
  lr: number;
  tokensPerSec: number;
  elapsedSec: number;
  etaSec: number;
}
export interface EvalEvent {
  step: number;
  valLoss: number;
  valPerplexity: number;
}
export interface HistoryPoint {
  step: number;
  loss?: number;
  valLoss?: number;
}
export interface PretrainState {
  step: number;
  seed: number;
  history: HistoryPoint[];
  options: Record<string, number>;
}

/** What a run trained on: fingerprints of the corpus and tokenizer (src/train/token-cache.ts) and the token count. */
export interface DataIdentity {
  corpus: string;
  tokenizer: string;
  tokens: number;
}

export interface ResumeSettings {
  step: number;
  seed: number;
  history: HistoryPoint[];
  steps: number;
  batchSize: number;
  seqLen: number;
  lr: number;
  warmupSteps: number;
  microBatch?: number;
}

/**
 * The settings a resumed run continues with, from a checkpoint's (already field-checked) train state:
 * the run's own options win, so the schedule and batches continue exactly. Errors name the file.
 */
export function resumeSettings(st: TrainState, file: string): ResumeSettings {
  const o = st.options ?? {};
  const need = (k: string, ok: (v: number) => boolean, what: string): number => {
    const v = o[k];
    if (v === undefined || !ok(v))
      throw new FileFormatError(file, `options.${k} must be ${what}, got ${v === undefined ? 'nothing' : v}`, { field: `options.${k}` });
    return v;
  };
  const positiveInt = (v: number) => Number.isSafeInteger(v) && v > 0;
  const steps = need('steps', positiveInt, 'a positive integer');
  if (st.step > steps) throw new FileFormatError(file, `step ${st.step} is past options.steps ${steps}`, { field: 'step' });
  return {
    step: st.step,
    seed: st.seed,
    history: st.history ?? [],
    steps,
    batchSize: need('batchSize', positiveInt, 'a positive integer'),
    seqLen: need('seqLen', positiveInt, 'a positive integer'),
    lr: need('lr', (v) => v > 0, 'a number > 0'),
    warmupSteps: need('warmupSteps', (v) => Number.isSafeInteger(v) && v >= 0, 'a non-negative integer'),
    // absent in runs from before micro-batches (they ran whole batches)
    microBatch: o.microBatch === undefined ? undefined : need('microBatch', (v) => positiveInt(v) && v <= o.batchSize!, 'an integer in 1..options.batchSize'),
  };
}

/**
 * A resumed run must see the data the run trained on, or it is not the same run. Returns false when
 * the state predates the record (written by an older gptedge: nothing to compare).
 */
export function checkSameData(st: TrainState, now: DataIdentity, file: string): boolean {
  const d = st.data as Partial<DataIdentity> | undefined;
  if (d === undefined) return false;
  if (d.corpus !== now.corpus || d.tokenizer !== now.tokenizer || d.tokens !== now.tokens) {
    throw new FileFormatError(
      file,
      `the run was trained on another corpus or tokenizer (corpus ${d.corpus}, tokenizer ${d.tokenizer}, ${d.tokens} tokens; now ${now.corpus}, ${now.tokenizer}, ${now.tokens}); resume with the same --corpus and --encoding`,
      { field: 'data' },
    );
  }
  return true;
}

export class NonFiniteLossError extends Error {
  constructor(
    readonly step: number,
    readonly loss: number,
  ) {
    super(`training stopped at step ${step}: the loss is ${loss} (not finite); nothing from this step was saved`);
    this.name = 'NonFiniteLossError';
  }
}

/** Mean next-token loss over batches (no dropout, no gradients), `micro` sequences per forward pass. */
export async function evaluate(model: GPT, batches: Iterable<Batch>, micro = Infinity): Promise<number> {
  let total = 0,
    count = 0;
  for (const b of batches) {
    for (const { start, count: n } of microBatches(b.B, Math.min(micro, b.B))) {
      const rows = (x: Int32Array) => x.subarray(start * b.T, (start + n) * b.T),
        BT = n * b.T;
      const loss = model.forward(rows(b.inputs), n, b.T).loss(rows(b.targets), new Float32Array(BT).fill(1));
      total += (await model.be.read(loss))[0];
      count += BT;
    }
  }
  if (count === 0) throw new Error('the validation split holds no complete window');
  return total / count;
}

export async function pretrain(model: GPT, data: TokenDataset, o: PretrainOptions): Promise<PretrainState> {
  const d = pretrainDefaults;
  const hp = {
    lr: o.lr ?? d.lr,
    warmup: o.warmupSteps ?? d.warmupSteps,
    weightDecay: o.weightDecay ?? d.weightDecay,
    gradClip: o.gradClip ?? d.gradClip,
    beta1: o.beta1 ?? d.beta1,
    beta2: o.beta2 ?? d.beta2,
    eps: o.eps ?? d.eps,
  };
  const seed = o.seed ?? 1,
    B = o.batchSize,
    T = data.T,
    BT = B * T,
    micro = o.microBatch ?? B;
  if (!(Number.isInteger(o.steps) && o.steps > 0)) throw new Error(`steps must be a positive integer, got ${o.steps}`);
  if (!(Number.isInteger(B) && B > 0)) throw new Error(`batch size must be a positive integer, got ${B}`);
  if (!(Number.isInteger(micro) && micro > 0 && micro <= B)) throw new Error(`micro-batch must be an integer in 1..${B} (the batch size), got ${o.microBatch}`);
  if (T > model.cfg.nCtx) throw new Error(`sequence length ${T} exceeds the model's context window of ${model.cfg.nCtx}`);
  const memory = planMemory(model, micro, T); // throws when over the backend's limit
  o.onMemory?.(memory);
  const parts = microBatches(B, micro);
  const now = o.now ?? (() => Date.now());
  const history = o.history ? [...o.history] : [];
  const state = (step: number): PretrainState => ({
    step,
    seed,
    history,
    options: {
      steps: o.steps,
      batchSize: B,
      microBatch: micro,
      seqLen: T,
      lr: hp.lr,
      warmupSteps: hp.warmup,
      weightDecay: hp.weightDecay,
      gradClip: hp.gradClip,
    },
  });
  const weights = new Float32Array(BT).fill(1 / BT);
  const optimizer = o.optimizer ?? new AdamW(model.be, [model.parameters()]);
  const t0 = now();
  const start = o.startStep ?? 0;
  let step = start;
  const runEval = async (s: number) => {
    const valLoss = await evaluate(model, data.valBatches(B, o.evalBatches ?? 8), micro);
    history.push({ step: s, valLoss });
    o.onEval?.({ step: s, valLoss, valPerplexity: Math.exp(valLoss) });
  };
  try {
    while (step < o.steps) {
      const lr = learningRate(step, hp.lr, hp.warmup, o.steps);
      const batch = data.batch(step, B, seed);
      model.zeroGrad();
      let loss = 0,
        lossT: Tensor | null = null;
      for (const { start, count } of parts) {
        // the loss tensor is the micro-batch's; the last one is read after the update (one sync per step)
        if (lossT) loss += (await model.be.read(lossT))[0];
        const train = { seed, step, row0: start },
          end = (start + count) * T;
        const pass = model.forward(batch.inputs.subarray(start * T, end), count, T, { train });
        lossT = pass.loss(batch.targets.subarray(start * T, end), weights.subarray(start * T, end), 1);
        pass.backward();
      }
      optimizer.update({ lr, beta1: hp.beta1, beta2: hp.beta2, eps: hp.eps, weightDecay: hp.weightDecay, gradClip: hp.gradClip });
      loss += (await model.be.read(lossT!))[0];
      if (!Number.isFinite(loss)) throw new NonFiniteLossError(step + 1, loss);
      step += 1;
      history.push({ step, loss });
      const elapsed = (now() - t0) / 1000;
      const done = step - start;
      o.onStep?.({
        step,
        steps: o.steps,
        loss,
        lr,
        tokensPerSec: (done * BT) / Math.max(elapsed, 1e-9),
        elapsedSec: elapsed,
        etaSec: (elapsed / done) * (o.steps - step),
      });
      const outOfTime = o.maxSeconds !== undefined && elapsed >= o.maxSeconds;
      const last = step === o.steps || outOfTime;
      if (o.evalEvery && (step % o.evalEvery === 0 || last)) await runEval(step);
      if (o.checkpoint && ((o.checkpointEvery && step % o.checkpointEvery === 0) || last)) await o.checkpoint(state(step), optimizer);
      if (outOfTime) break;
    }
  } finally {
    if (!o.optimizer) optimizer.free();
  }
  return state(step);
}
