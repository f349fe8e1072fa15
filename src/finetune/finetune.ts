// Supervised fine-tuning (§3.2): maximise L3(C) = L2(C) + λ·L1(C) over labelled examples, where L2 is
// the task head's cross-entropy at the extract token and L1 the language-model loss on the same inputs
// (masked mean over real tokens). Paper defaults: lr 6.25e-5, batch 32, 3 epochs, linear warm-up over
// 0.2% of the updates then linear decay to 0, classifier dropout 0.1, λ = 0.5. A batch that does not fit
// runs as several micro-batches whose gradients accumulate before one update.
//
// One micro-batch, in order (dh is the model's d(h_n), (S,T,C)):
//   transformer(ids)            h_n
//   lmLoss(targets, w, λ·scale) L1; OVERWRITES dh with λ·dL1/dh and accumulates dW_e   (λ = 0: dh = 0)
//   head.forward / head.loss    L2
//   head.backward(dh, scale)    ADDS dL2/dh at the extract rows; dW_y, db accumulate
//   backward()                  dh → every parameter gradient (accumulated)
// then one AdamW update (src/train/optim.ts) of the transformer and the head together, clipped by one
// global norm over both.
import type { GPT } from '../model/gpt.ts';
import type { Tensor } from '../backend/backend.ts';
import { finetuneDefaults } from '../model/config.ts';
import { checkDropoutSites, type TrainStep } from '../model/dropout.ts';
import { AdamW } from '../train/optim.ts';
import { finetuneLearningRate } from '../train/schedule.ts';
import type { GPTTokenizer } from '../tokenizer/tokenizer.ts';
import { Rng } from '../util/random.ts';
import { TaskHead } from './head.ts';
import { computeMetrics, type Metrics } from './metrics.ts';
import type { Example, TaskSpec } from './task.ts';
import { classNames, familyOf, headOutputs, seqsPerExample, validateSpec } from './task.ts';
import { argmax, softmax } from '../util/softmax.ts';
import { microBatches, planMemory } from '../train/accumulate.ts';
import { encodeExample, makeBatch, specialIds, type EncodedExample, type FinetuneBatch, type SpecialIds } from './transform.ts';
import { withFinetuneTokens } from './vocab.ts';

/** A pretrained transformer with its tokenizer (holding the special tokens), a task and its head. */
export interface FinetuneModel {
  model: GPT;
  tokenizer: GPTTokenizer;
  spec: TaskSpec;
  head: TaskHead;
  ids: SpecialIds;
  /** sequences are truncated to this many tokens (≤ the context window) */
  maxLen: number;
}

export interface PrepareOptions {
  seed?: number;
  clfPdrop?: number;
  maxLen?: number;
}

/** Add the special tokens if missing (new W_e rows), and a new head W_y ~ N(0, 0.02²), b = 0. */
export async function prepareFinetune(model: GPT, tokenizer: GPTTokenizer, spec: TaskSpec, o: PrepareOptions = {}): Promise<FinetuneModel> {
  validateSpec(spec);
  const seed = o.seed ?? 1;
  const ext = await withFinetuneTokens(model, tokenizer, seed);
  const head = new TaskHead(ext.model.be, ext.model.cfg.nEmbd, headOutputs(spec), o.clfPdrop ?? finetuneDefaults.clfPdrop).init(seed ^ 0x4ead);
  return { model: ext.model, tokenizer: ext.tokenizer, spec, head, ids: specialIds(ext.tokenizer), maxLen: checkMaxLen(o.maxLen, ext.model.cfg.nCtx) };
}

export function checkMaxLen(maxLen: number | undefined, nCtx: number): number {
  const m = maxLen ?? nCtx;
  if (!(Number.isInteger(m) && m >= 4 && m <= nCtx)) throw new Error(`maxLen must be an integer in 4..${nCtx} (the context window), got ${maxLen}`);
  return m;
}

/** Encode examples with the task's layout; errors name `where(i)` (default "example i+1"). */
export function encodeAll(ft: FinetuneModel, examples: Example[], where: (i: number) => string = (i) => `example ${i + 1}`): EncodedExample[] {
  return examples.map((e, i) => encodeExample(ft.tokenizer, ft.ids, ft.spec, e, ft.maxLen, where(i)));
}

/**
 * Forward (and with `backward`, backward) of one micro-batch; returns the L2 and L1 loss tensors
 * (L1 null when λ = 0 and `withL1` is not asked). Gradients are scaled by `scale` (the micro-batch's
 * share of the batch) and accumulate into model.grads and the head's dW, db.
 */
export function forwardBackward(
  ft: FinetuneModel,
  b: FinetuneBatch,
  o: { lmCoef: number; scale?: number; train?: TrainStep; backward?: boolean; withL1?: boolean },
): { l2: Tensor; l1: Tensor | null } {
  const { model, head } = ft,
    scale = o.scale ?? 1,
    BT = b.S * b.T;
  if (o.train) checkDropoutSites([model.dropoutSites, head.dropoutSites]);
  const pass = model.forward(b.ids, b.S, b.T, o.train ? { train: o.train } : {});
  let l1: Tensor | null = null;
  if (o.lmCoef > 0 || o.withL1) {
    l1 = pass.loss(b.lmTargets, b.lmWeights, o.backward ? o.lmCoef * scale : undefined);
  }
  if (o.backward && !(o.lmCoef > 0)) model.be.fill(model.be.slice(pass.hiddenGrad(), 0, BT * model.cfg.nEmbd), 0);
  head.forward(pass.hidden(), b.groups, b.R, o.train);
  const labelled = b.labels.reduce((n, y) => n + (y >= 0 ? 1 : 0), 0);
  const w = Float32Array.from(b.labels, (y) => (y >= 0 ? 1 / Math.max(1, labelled) : 0));
  const l2 = head.loss(b.labels, w, b.nClass);
  if (o.backward) {
    head.backward(pass.hiddenGrad(), b.groups, scale);
    pass.backward();
  }
  return { l2, l1 };
}

export interface FinetuneOptions {
  epochs?: number;
  batchSize?: number;
  /** examples per forward pass; smaller than batchSize = gradient accumulation (default batchSize) */
  microBatch?: number;
  /** total optimizer steps (default epochs × ⌈n / batchSize⌉) */
  steps?: number;
  lr?: number;
  warmupFraction?: number;
  weightDecay?: number;
  /** λ of L3 = L2 + λ·L1 (0.5; 0 turns the auxiliary LM loss off) */
  lmCoef?: number;
  gradClip?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  seed?: number;
  onStep?: (e: FinetuneStepEvent) => void;
  /** held-out examples, evaluated every `evalEvery` steps and at the end */
  evalSet?: EncodedExample[];
  evalEvery?: number;
  /** awaited before training goes on, so it may read the weights (e.g. keep the best so far) */
  onEval?: (e: { step: number; metrics: Metrics }) => void | Promise<void>;
}

export interface FinetuneStepEvent {
  step: number;
  steps: number;
  epoch: number;
  l2: number;
  l1: number | null;
  l3: number;
  lr: number;
  elapsedSec: number;
}
export interface FinetuneResult {
  steps: number;
  history: FinetuneStepEvent[];
  evals: { step: number; metrics: Metrics }[];
}

export { finetuneLearningRate };

/** The examples of update `step`: ⌈n/B⌉ batches per epoch over a permutation drawn from (seed, epoch). */
export function batchIndices(n: number, B: number, step: number, seed: number): { epoch: number; idx: number[] } {
  const per = Math.ceil(n / B),
    epoch = Math.floor(step / per),
    j = step % per;
  const perm = Array.from({ length: n }, (_, i) => i),
    rng = new Rng((seed * 1000003 + epoch * 7919) >>> 0);
  for (let i = n - 1; i > 0; i--) {
    const k = rng.int(i + 1);
    [perm[i], perm[k]] = [perm[k], perm[i]];
  }
  return { epoch, idx: perm.slice(j * B, Math.min(n, (j + 1) * B)) };
}

export class NonFiniteFinetuneLossError extends Error {
  constructor(
    readonly step: number,
    readonly loss: number,
  ) {
    super(`fine-tuning stopped at step ${step}: the loss is ${loss} (not finite)`);
    this.name = 'NonFiniteFinetuneLossError';
  }
}

export async function finetune(ft: FinetuneModel, train: EncodedExample[], o: FinetuneOptions = {}): Promise<FinetuneResult> {
  const d = finetuneDefaults,
    { model, head } = ft,
    be = model.be;
  const B = o.batchSize ?? d.batchSize,
    micro = Math.min(o.microBatch ?? B, B),
    epochs = o.epochs ?? d.epochs;
  const lmCoef = o.lmCoef ?? d.lmCoef,
    seed = o.seed ?? 1,
    clipNorm = o.gradClip ?? 1;
  if (train.length === 0) throw new Error('fine-tuning: the training set is empty');
  for (const [i, e] of train.entries()) if (e.label < 0) throw new Error(`fine-tuning: training example ${i + 1} has no label`);
  if (!(Number.isInteger(B) && B > 0)) throw new Error(`batch size must be a positive integer, got ${B}`);
  if (!(Number.isInteger(micro) && micro > 0)) throw new Error(`micro-batch must be a positive integer, got ${o.microBatch}`);
  if (!(lmCoef >= 0)) throw new Error(`λ (lmCoef) must be ≥ 0, got ${lmCoef}`);
  const total = o.steps ?? epochs * Math.ceil(train.length / B);
  if (!(Number.isInteger(total) && total > 0)) throw new Error(`steps must be a positive integer, got ${total}`);
  const warmup = Math.max(1, Math.ceil((o.warmupFraction ?? d.warmupFraction) * total));
  const hp = { beta1: o.beta1 ?? 0.9, beta2: o.beta2 ?? 0.999, eps: o.eps ?? 1e-8, weightDecay: o.weightDecay ?? d.weightDecay };
  planMemory(model, micro * seqsPerExample(ft.spec), ft.maxLen); // the longest a padded micro-batch can be
  const optimizer = new AdamW(be, [model.parameters(), head.parameters()]);
  const history: FinetuneStepEvent[] = [],
    evals: FinetuneResult['evals'] = [];
  const t0 = Date.now();
  try {
    for (let step = 0; step < total; step++) {
      const lr = finetuneLearningRate(step, o.lr ?? d.lr, warmup, total);
      const { epoch, idx } = batchIndices(train.length, B, step, seed);
      model.zeroGrad();
      head.zeroGrad();
      let l2 = 0,
        l1 = 0;
      const parts = microBatches(idx.length, micro),
        nMicro = parts.length;
      for (const [m, { start, count }] of parts.entries()) {
        const batch = makeBatch(
          ft.spec,
          idx.slice(start, start + count).map((i) => train[i]),
        );
        const scale = count / idx.length;
        const r = forwardBackward(ft, batch, { lmCoef, scale, train: { seed, step: step * nMicro + m }, backward: true });
        l2 += scale * (await be.read(r.l2))[0];
        if (r.l1) l1 += scale * (await be.read(r.l1))[0];
      }
      const l3 = l2 + lmCoef * l1;
      if (!Number.isFinite(l3)) throw new NonFiniteFinetuneLossError(step + 1, l3);
      optimizer.update({ lr, ...hp, gradClip: clipNorm }); // one global norm over the transformer and the head
      const ev: FinetuneStepEvent = { step: step + 1, steps: total, epoch, l2, l1: lmCoef > 0 ? l1 : null, l3, lr, elapsedSec: (Date.now() - t0) / 1000 };
      history.push(ev);
      o.onStep?.(ev);
      if (o.evalSet && o.evalSet.length > 0 && ((o.evalEvery && (step + 1) % o.evalEvery === 0) || step + 1 === total)) {
        const metrics = await evaluateEncoded(ft, o.evalSet, { batchSize: micro });
        evals.push({ step: step + 1, metrics });
        await o.onEval?.({ step: step + 1, metrics });
      }
    }
  } finally {
    optimizer.free(); // also when onStep stops the loop (a cancelled job)
  }
  return { steps: total, history, evals };
}

// ---- inference ----------------------------------------------------------------------------------

/** Class (or candidate) probabilities of each example, no dropout. */
export async function predictEncoded(ft: FinetuneModel, examples: EncodedExample[], o: { batchSize?: number } = {}): Promise<Float32Array[]> {
  const bs = o.batchSize ?? 16,
    out: Float32Array[] = [];
  for (let i = 0; i < examples.length; i += bs) {
    const batch = makeBatch(ft.spec, examples.slice(i, i + bs));
    const h = ft.model.forward(batch.ids, batch.S, batch.T).hidden();
    const logits = (await ft.model.be.read(ft.head.forward(h, batch.groups, batch.R))) as Float32Array;
    for (let n = 0; n < batch.N; n++) out.push(softmax(logits.subarray(n * batch.nClass, (n + 1) * batch.nClass)));
  }
  return out;
}

export async function predict(ft: FinetuneModel, examples: Example[], o: { batchSize?: number } = {}): Promise<Float32Array[]> {
  return predictEncoded(
    ft,
    encodeAll(
      ft,
      examples.map((e) => ({ ...e, label: undefined })),
    ),
    o,
  );
}

export async function evaluateEncoded(ft: FinetuneModel, examples: EncodedExample[], o: { batchSize?: number } = {}): Promise<Metrics> {
  const probs = await predictEncoded(ft, examples, o);
  return computeMetrics(
    probs,
    examples.map((e) => e.label),
    classNames(ft.spec),
    familyOf(ft.spec).classes === 'labels',
  );
}

/** Accuracy, F1 (binary tasks), confusion matrix and loss on labelled examples. */
export async function evaluate(ft: FinetuneModel, examples: Example[], o: { batchSize?: number } = {}): Promise<Metrics> {
  return evaluateEncoded(ft, encodeAll(ft, examples), o);
}

export interface ClassProbabilities {
  label: string;
  probabilities: Record<string, number>;
}

/** Class probabilities by label name, and the most probable label. */
export function byLabel(labels: string[], p: Float32Array): ClassProbabilities {
  const probabilities: Record<string, number> = {};
  labels.forEach((l, i) => (probabilities[l] = p[i]));
  return { label: labels[argmax(p)], probabilities };
}

function requireFamily(ft: FinetuneModel, call: string, ...families: TaskSpec['family'][]): void {
  if (!families.includes(ft.spec.family)) throw new Error(`${call}() needs a ${families.join(' or ')} model; this one is fine-tuned for ${ft.spec.family}`);
}

/**
 * The label of one input of a labelled family, and every label's probability. The input is what the
 * family takes (families.ts): a text (classification), { premise, hypothesis } (entailment) or { a, b }
 * (similarity); one that does not fit is an InputError naming the parameter.
 */
export function classifyInput(ft: FinetuneModel, input: unknown, call = 'classify'): Promise<ClassProbabilities> {
  const family = familyOf(ft.spec);
  if (family.classes !== 'labels') throw new Error(`${call}() needs a model with class labels; this one is fine-tuned for ${ft.spec.family} (use choose)`);
  return classifyExample(ft, family.input(input, 'input'), call);
}

/** The label of one example of a labelled family, and every label's probability. */
export async function classifyExample(ft: FinetuneModel, ex: Example, call = 'classify'): Promise<ClassProbabilities> {
  const [p] = await predictEncoded(
    ft,
    encodeAll(ft, [ex], () => `${call}()`),
  );
  return byLabel(ft.spec.labels, p);
}

/** Classification (`text`) or entailment (`{premise, hypothesis}`): the label and every label's probability. */
export function classify(ft: FinetuneModel, input: string | { premise: string; hypothesis: string }): Promise<ClassProbabilities> {
  requireFamily(ft, 'classify', 'classification', 'entailment');
  return classifyInput(ft, input);
}

/** Similarity of a and b (both orders, summed): the label and every label's probability. */
export function similarity(ft: FinetuneModel, a: string, b: string): Promise<ClassProbabilities> {
  requireFamily(ft, 'similarity', 'similarity');
  return classifyInput(ft, { a, b }, 'similarity');
}

/** The most likely continuation of `context` among `choices`, and the softmax over all of them. */
export async function choose(ft: FinetuneModel, context: string, choices: string[]): Promise<{ index: number; choice: string; probabilities: number[] }> {
  requireFamily(ft, 'choose', 'multiple-choice');
  const [p] = await predictEncoded(
    ft,
    encodeAll(ft, [familyOf(ft.spec).input({ context, choices }, 'input')], () => 'choose()'),
  );
  const best = argmax(p);
  return { index: best, choice: choices[best], probabilities: Array.from(p) };
}
