// The baselines beside every family, on the same labelled subsets and test examples as the fine-tuned
// arms: the majority class of the training subset, and bag-of-words logistic regression
// (src/finetune/baseline.ts) with its L2 penalty chosen on the same dev examples.
import { majorityBaseline, predictBow, trainBow } from '../../src/finetune/baseline.ts';
import { DEV_N, TEST_N, classesOf, devScore, scores, trainSubset, type Scores } from './arms.ts';
import { OUT, log, once } from './common.ts';
import { SETS, loadSplit } from './data.ts';
import { N_LIST, SEEDS } from './study.ts';

export interface BaselineResult {
  set: string;
  n: number;
  seed: number;
  majority: Scores;
  bow: Scores & { l2: number };
  seconds: number;
}
export const BOW_L2 = [1e-5, 1e-4, 1e-3];

export async function baselinesPart(): Promise<BaselineResult[]> {
  return once(`${OUT}/baselines.json`, 'baselines', async () => {
    const out: BaselineResult[] = [];
    for (const info of SETS) {
      const train = loadSplit(info, 'train'),
        dev = loadSplit(info, 'dev').examples.slice(0, DEV_N),
        test = loadSplit(info, 'test').examples.slice(0, TEST_N);
      const classes = classesOf(info),
        spec = train.spec;
      const ys = (ex: typeof test) =>
        ex.map((e) => (info.family === 'multiple-choice' ? (e as { label: number }).label : info.labels.indexOf((e as { label: string }).label)));
      for (const n of N_LIST)
        for (const seed of SEEDS) {
          const t0 = Date.now(),
            sub = trainSubset(train.examples, n, seed, info.set);
          const maj = majorityBaseline(spec, sub);
          const { predicted: _, ...majority } = scores(
            test.map(() => maj),
            ys(test),
            classes,
          );
          let best = { l2: BOW_L2[0], dev: -1 };
          for (const l2 of BOW_L2) {
            const d = devScore(info.family, scores(predictBow(trainBow(spec, sub, { l2, seed }), dev), ys(dev), classes));
            if (d > best.dev) best = { l2, dev: d };
          }
          const { predicted: __, ...bow } = scores(predictBow(trainBow(spec, sub, { l2: best.l2, seed }), test), ys(test), classes);
          out.push({ set: info.set, n, seed, majority, bow: { ...bow, l2: best.l2 }, seconds: (Date.now() - t0) / 1000 });
          log(
            `baseline ${info.set} n${n} s${seed}: majority acc ${(100 * majority.accuracy).toFixed(1)}% (macro-F1 ${majority.macroF1.toFixed(3)}), BoW acc ${(100 * bow.accuracy).toFixed(1)}% (macro-F1 ${bow.macroF1.toFixed(3)}, l2 ${best.l2})`,
          );
        }
    }
    return out;
  });
}
