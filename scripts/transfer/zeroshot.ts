// Zero-shot multiple choice over pretraining (the paper's Figure 2, right): the cloze test examples
// answered by the language model alone — the candidate with the highest length-normalised
// log-probability after the context (src/infer/score.ts) — at each pretraining checkpoint, step 0 being
// the random init. No labelled example is used.
import type { Backend } from '../../src/backend/backend.ts';
import { GPT } from '../../src/model/gpt.ts';
import { scoreContinuations } from '../../src/infer/score.ts';
import { TEST_N } from './arms.ts';
import { OUT, PRETRAIN, loadTokenizer, log, modelConfig, once } from './common.ts';
import { SETS, loadSplit } from './data.ts';
import { pretrainedWeights } from './pretrain.ts';

export interface ZeroShotPoint {
  step: number;
  accuracy: number;
  n: number;
  sumAccuracy: number;
  seconds: number;
}

export async function zeroShotPart(be: Backend): Promise<ZeroShotPoint[]> {
  const steps = [0, ...Array.from({ length: Math.floor(PRETRAIN.steps / PRETRAIN.ckptEvery) }, (_, i) => (i + 1) * PRETRAIN.ckptEvery)];
  const out: ZeroShotPoint[] = [];
  for (const step of steps) out.push(await once(`${OUT}/zeroshot/step-${step}.json`, `zero-shot cloze at step ${step}`, () => zeroShotAt(be, step)));
  return out;
}

async function zeroShotAt(be: Backend, step: number): Promise<ZeroShotPoint> {
  const t0 = Date.now(),
    tok = loadTokenizer(),
    cfg = modelConfig(tok.vocabSize);
  const info = SETS.find((s) => s.family === 'multiple-choice')!;
  const test = loadSplit(info, 'test').examples.slice(0, TEST_N) as { context: string; choices: string[]; label: number }[];
  const model = new GPT(be, cfg).init(PRETRAIN.initSeed);
  model.writeParams(await pretrainedWeights(step));
  let right = 0,
    rightSum = 0;
  for (const ex of test) {
    const choices = ex.choices.map((c) => ' ' + c); // a continuation after the context's last sentence
    const longest = Math.max(...choices.map((c) => tok.encode(c).length));
    const prompt = tok.encode(ex.context).slice(-(cfg.nCtx - longest)); // keep the context's end when it is too long
    const s = await scoreContinuations(model, tok, prompt, choices);
    const pick = (f: (x: (typeof s)[number]) => number) => s.reduce((b, x, i) => (f(x) > f(s[b]) ? i : b), 0);
    if (pick((x) => x.meanLogprob) === ex.label) right++;
    if (pick((x) => x.logprob) === ex.label) rightSum++;
  }
  model.free();
  const r = { step, accuracy: right / test.length, sumAccuracy: rightSum / test.length, n: test.length, seconds: (Date.now() - t0) / 1000 };
  log(
    `zero-shot cloze at step ${step}: ${(100 * r.accuracy).toFixed(1)}% (length-normalised), ${(100 * r.sumAccuracy).toFixed(1)}% (total log-probability), n ${r.n}`,
  );
  return r;
}
