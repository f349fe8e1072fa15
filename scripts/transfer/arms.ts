// One fine-tuning run ("arm") of the transfer study, cached as JSON: a family's set, n labelled
// examples (the first n of a seed's permutation of the training split, so the sets are nested), an
// init (a random init; the pretrained model; or the embeddings + first k blocks), a seed, a learning
// rate and λ. The number of epochs is chosen on the dev split: the run evaluates dev at fixed epochs and
// keeps the weights of the best, which are then scored once on the test split.
import type { Backend } from '../../src/backend/backend.ts';
import { GPT } from '../../src/model/gpt.ts';
import { argmax, computeMetrics, encodeAll, finetune, macroF1, predictEncoded, prepareFinetune, transferBlocks } from '../../src/finetune/index.ts';
import { Rng } from '../../src/util/random.ts';
import { OUT, PRETRAIN, loadTokenizer, log, modelConfig, once, readJSON } from './common.ts';
import { loadSplit, type SetInfo } from './data.ts';
import { pretrainedWeights } from './pretrain.ts';

/** 'scratch' | 'pretrained' | 'k0'..'k{L-1}' (embeddings + first k blocks; kL = pretrained) | 'pre@STEP' (a pretraining checkpoint) */
export type Init = string;
/** `epochs`: a longer run than epochPlan's (dev scored every 2 epochs); the budget part's check of under-training */
export interface ArmSpec {
  set: SetInfo;
  n: number;
  init: Init;
  seed: number;
  lr: number;
  lambda: number;
  epochs?: number;
}
export interface Scores {
  accuracy: number;
  macroF1: number;
  f1?: number;
  n: number;
}
export interface ArmResult {
  set: string;
  n: number;
  init: Init;
  seed: number;
  lr: number;
  lambda: number;
  epochs: number;
  bestEpoch: number;
  dev: { epoch: number; accuracy: number; macroF1: number }[];
  test: Scores;
  predicted: number[];
  trainL2: number;
  steps: number;
  seconds: number;
}

export const DEV_N = 100,
  TEST_N = 500,
  BATCH = 16;
/** the dev score that picks epochs and learning rates: macro-F1 (imbalanced sets), accuracy for multiple choice */
export const devScore = (family: string, s: { accuracy: number; macroF1: number }) => (family === 'multiple-choice' ? s.accuracy : s.macroF1);
/** the best dev score a run reached (at its chosen epoch) */
export const bestDev = (family: string, r: ArmResult) => Math.max(...r.dev.map((d) => devScore(family, d)));

/** epochs by label count, and the epochs at which dev is scored: small sets get more passes */
export function epochPlan(n: number, epochs?: number): { epochs: number; every: number } {
  if (epochs !== undefined) return { epochs, every: 2 };
  return n <= 100 ? { epochs: 6, every: 2 } : n <= 300 ? { epochs: 3, every: 1 } : { epochs: 2, every: 1 };
}

export const armKey = (s: ArmSpec) => `${s.set.set}/${s.init}/n${s.n}/lr${s.lr}/lam${s.lambda}${s.epochs !== undefined ? `/e${s.epochs}` : ''}/s${s.seed}`;
export const armFile = (s: ArmSpec) => `${OUT}/arms/${armKey(s).replaceAll('/', '_')}.json`;

const weightCache = new Map<number, Map<string, Float32Array>>();
async function weightsAt(step: number): Promise<Map<string, Float32Array>> {
  if (!weightCache.has(step)) weightCache.set(step, await pretrainedWeights(step));
  return weightCache.get(step)!;
}
export const finalStep = () => PRETRAIN.steps;

export function scores(probs: Float32Array[], labels: number[], classes: string[]): Scores & { predicted: number[] } {
  const m = computeMetrics(probs, labels, classes, classes.length === 2);
  return {
    accuracy: m.accuracy,
    macroF1: macroF1(m.confusion),
    f1: m.f1,
    n: m.n,
    predicted: classes.map((_, k) => probs.filter((p) => argmax(p) === k).length),
  };
}

export const classesOf = (s: SetInfo) => (s.family === 'multiple-choice' ? Array.from({ length: s.choices! }, (_, i) => `choice ${i}`) : s.labels);

/** The first n of a seed's permutation of the training split: nested sets, the same for every init of a seed. */
export function trainSubset<T>(examples: T[], n: number, seed: number, what: string): T[] {
  const perm = Array.from({ length: examples.length }, (_, i) => i),
    rng = new Rng(0x5eed + seed);
  for (let i = perm.length - 1; i > 0; i--) {
    const k = rng.int(i + 1);
    [perm[i], perm[k]] = [perm[k], perm[i]];
  }
  if (n > perm.length) throw new Error(`${what}: ${n} training examples asked, the split has ${perm.length}`);
  return perm.slice(0, n).map((i) => examples[i]);
}

export function readArm(spec: ArmSpec): ArmResult | null {
  return readJSON<ArmResult>(armFile(spec));
}

export async function runArm(be: Backend, spec: ArmSpec): Promise<ArmResult> {
  return once(armFile(spec), `arm ${armKey(spec)}`, async () => {
    const t0 = Date.now(),
      info = spec.set,
      tok = loadTokenizer(),
      cfg = modelConfig(tok.vocabSize);
    const train = loadSplit(info, 'train'),
      dev = loadSplit(info, 'dev'),
      test = loadSplit(info, 'test');
    const trainEx = trainSubset(train.examples, spec.n, spec.seed, info.set);

    const model = new GPT(be, cfg).init(PRETRAIN.initSeed + spec.seed); // the pretraining run's init scheme, another draw
    if (spec.init === 'pretrained') model.writeParams(await weightsAt(finalStep()));
    else if (/^k\d+$/.test(spec.init))
      model.writeParams(transferBlocks(await weightsAt(finalStep()), await model.readParams(), cfg, Number(spec.init.slice(1))));
    else if (/^pre@\d+$/.test(spec.init)) model.writeParams(await weightsAt(Number(spec.init.slice(4))));
    else if (spec.init !== 'scratch') throw new Error(`unknown init ${spec.init}`);
    const ft = await prepareFinetune(model, tok, train.spec, { seed: spec.seed, maxLen: info.maxLen });
    const enc = encodeAll(ft, trainEx),
      encDev = encodeAll(ft, dev.examples.slice(0, DEV_N)),
      encTest = encodeAll(ft, test.examples.slice(0, TEST_N));
    const classes = classesOf(info),
      plan = epochPlan(spec.n, spec.epochs),
      perEpoch = Math.ceil(enc.length / BATCH);
    const devLog: ArmResult['dev'] = [];
    type Snapshot = { score: number; epoch: number; params: Map<string, Float32Array>; W: Float32Array; b: Float32Array };
    let best = null as Snapshot | null;
    const r = await finetune(ft, enc, {
      epochs: plan.epochs,
      batchSize: BATCH,
      lr: spec.lr,
      lmCoef: spec.lambda,
      seed: spec.seed,
      evalSet: encDev,
      evalEvery: perEpoch * plan.every,
      onEval: async (e) => {
        // finetune scored dev already: accuracy and the confusion matrix give both numbers
        const sc: Scores = { accuracy: e.metrics.accuracy, macroF1: macroF1(e.metrics.confusion), n: e.metrics.n },
          epoch = Math.round(e.step / perEpoch);
        devLog.push({ epoch, accuracy: sc.accuracy, macroF1: sc.macroF1 });
        if (!best || devScore(info.family, sc) > best.score) {
          best = {
            score: devScore(info.family, sc),
            epoch,
            params: await ft.model.readParams(),
            W: (await be.read(ft.head.W)) as Float32Array,
            b: (await be.read(ft.head.b)) as Float32Array,
          };
        }
      },
    });
    const b = best!;
    if (b.epoch !== plan.epochs) {
      ft.model.writeParams(b.params);
      be.write(ft.head.W, b.W);
      be.write(ft.head.b, b.b);
    }
    const probs = await predictEncoded(ft, encTest, { batchSize: BATCH });
    const s = scores(
      probs,
      encTest.map((x) => x.label),
      classes,
    );
    const last = r.history.slice(-Math.min(10, r.history.length));
    ft.head.free();
    ft.model.free();
    if (ft.model !== model) model.free();
    const result: ArmResult = {
      set: info.set,
      n: spec.n,
      init: spec.init,
      seed: spec.seed,
      lr: spec.lr,
      lambda: spec.lambda,
      epochs: plan.epochs,
      bestEpoch: b.epoch,
      dev: devLog,
      test: { accuracy: s.accuracy, macroF1: s.macroF1, f1: s.f1, n: s.n },
      predicted: s.predicted,
      trainL2: last.reduce((t, e) => t + e.l2, 0) / last.length,
      steps: r.steps,
      seconds: (Date.now() - t0) / 1000,
    };
    log(
      `  ${armKey(spec)}: test acc ${(100 * s.accuracy).toFixed(1)}% macro-F1 ${s.macroF1.toFixed(3)} (best dev epoch ${b.epoch}/${plan.epochs}), train L2 ${result.trainL2.toFixed(3)}, ${result.seconds.toFixed(0)} s`,
    );
    return result;
  });
}
