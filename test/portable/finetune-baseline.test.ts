// Baselines (majority, bag-of-words logistic regression), macro-F1, and loading only the first k
// pretrained blocks: what the transfer study (docs/transfer.md) sets beside a fine-tuned GPT.
import { bagOfWords, majorityBaseline, predictBow, trainBow } from '../../src/finetune/baseline.ts';
import { macroF1, argmax } from '../../src/finetune/metrics.ts';
import { isTransferred, transferBlocks } from '../../src/finetune/transfer.ts';
import { paramSpecs, numel } from '../../src/model/params.ts';
import { preset } from '../../src/model/config.ts';
import type { Example, TaskSpec } from '../../src/finetune/task.ts';
import { assert, assertClose, assertEqual, assertThrows, test } from '../lib/harness.ts';

const accuracy = (probs: Float32Array[], ys: number[]) => probs.filter((p, i) => argmax(p) === ys[i]).length / ys.length;

test('bag of words: lower-cased words with counts, punctuation dropped', () => {
  assertEqual(
    [...bagOfWords("Buy NOW, buy! Don't wait.")],
    [
      ['buy', 2],
      ['now', 1],
      ["don't", 1],
      ['wait', 1],
    ],
  );
});

test('BoW classification learns the words that decide the label and generalises to new texts', () => {
  const spec: TaskSpec = { family: 'classification', labels: ['ham', 'spam'] };
  const spammy = ['cheap', 'winner', 'viagra', 'prize', 'free'],
    hammy = ['meeting', 'lunch', 'report', 'kernel', 'patch'];
  const filler = ['the', 'a', 'you', 'we', 'today', 'this'];
  // filler words chosen by ⌊i/2⌋: each appears as often with either label, so only the decisive words carry signal
  const make = (i: number, spam: boolean): Example => ({
    text: `${filler[(i >> 1) % 6]} ${(spam ? spammy : hammy)[i % 5]} ${filler[((i >> 1) + 2) % 6]}`,
    label: spam ? 'spam' : 'ham',
  });
  const train = Array.from({ length: 60 }, (_, i) => make(i, i % 2 === 0)),
    test = Array.from({ length: 20 }, (_, i) => make(i + 3, i % 3 === 0));
  const m = trainBow(spec, train, { epochs: 5 });
  assertEqual(
    accuracy(
      predictBow(m, test),
      test.map((e) => spec.labels.indexOf((e as { label: string }).label)),
    ),
    1,
  );
  // a text of filler only carries no evidence: near the prior (balanced), not confidently either class
  const p = predictBow(m, [{ text: 'the a you we' }])[0];
  assert(Math.abs(p[0] - 0.5) < 0.25, `filler-only text should be near 50/50, got ${p[0]}`);
});

test('BoW pairs see overlap: paraphrase vs unrelated pairs, with words never seen in training', () => {
  const spec: TaskSpec = { family: 'similarity', labels: ['different', 'same'] };
  const words = Array.from({ length: 400 }, (_, i) => `w${i}`);
  const sent = (i: number) => [0, 1, 2, 3].map((j) => words[(i * 4 + j) % 400]).join(' ');
  const ex = (i: number, same: boolean): Example => ({ a: sent(i), b: same ? sent(i) : sent(i + 37), label: same ? 'same' : 'different' });
  const train = Array.from({ length: 40 }, (_, i) => ex(i, i % 2 === 0)),
    test = Array.from({ length: 20 }, (_, i) => ex(60 + i, i % 2 === 1));
  const m = trainBow(spec, train, { epochs: 10 });
  assertEqual(
    accuracy(
      predictBow(m, test),
      test.map((e) => ((e as { label: string }).label === 'same' ? 1 : 0)),
    ),
    1,
    'only the overlap features can carry over to unseen words',
  );
});

test('BoW multiple choice: one weight vector scores each candidate (conditional logit)', () => {
  const spec: TaskSpec = { family: 'multiple-choice', labels: [], choices: 3 };
  const ex = (i: number): Example => {
    const ctx = `alpha${i} beta${i} gamma${i}`,
      right = `beta${i} again`,
      label = i % 3;
    const choices = [`other${i} words`, `more${i} stuff`, `third${i} thing`];
    choices[label] = right;
    return { context: ctx, choices, label };
  };
  const m = trainBow(
    spec,
    Array.from({ length: 30 }, (_, i) => ex(i)),
    { epochs: 10 },
  );
  const test = Array.from({ length: 12 }, (_, i) => ex(100 + i));
  assertEqual(
    accuracy(
      predictBow(m, test),
      test.map((e) => (e as { label: number }).label),
    ),
    1,
    'the candidate that shares a context word wins',
  );
  assertThrows(() => trainBow(spec, []), /no training examples/);
  assertThrows(() => trainBow({ family: 'classification', labels: ['a', 'b'] }, [{ text: 'x', label: 'c' }]), /example 1 has no \(known\) label/);
});

test('majority baseline: the most common training label, as probabilities', () => {
  const spec: TaskSpec = { family: 'classification', labels: ['ham', 'spam'] };
  assertEqual(
    [
      ...majorityBaseline(spec, [
        { text: 'a', label: 'spam' },
        { text: 'b', label: 'ham' },
        { text: 'c', label: 'spam' },
      ]),
    ],
    [0, 1],
  );
  assertEqual([...majorityBaseline({ family: 'multiple-choice', labels: [], choices: 3 }, [{ context: 'c', choices: ['a', 'b', 'c'], label: 2 }])], [0, 0, 1]);
});

test('macro-F1: the mean of per-class F1; a class never predicted scores 0', () => {
  // rows = true class: class 0 has tp 8, fn 2, fp 1; class 1 has tp 1, fn 1, fp 2
  const c = [
    [8, 2],
    [1, 1],
  ];
  assertClose(macroF1(c), ((2 * 8) / (16 + 1 + 2) + (2 * 1) / (2 + 2 + 1)) / 2, { atol: 1e-12 });
  assertClose(
    macroF1([
      [90, 0],
      [10, 0],
    ]),
    (180 / 190 + 0) / 2,
    { atol: 1e-12 },
    'always "ham": high accuracy, macro-F1 below 0.5',
  );
  assertThrows(() => macroF1([]), /empty/);
});

test('layers transferred: embeddings + the first k blocks from pretraining, the rest (and ln_f unless k = L) from the init', () => {
  const cfg = preset('tiny', { layout: 'pre-ln', nLayer: 3 });
  const specs = paramSpecs(cfg);
  const pre = new Map(specs.map((s) => [s.name, new Float32Array(numel(s.shape)).fill(1)]));
  const init = new Map(specs.map((s) => [s.name, new Float32Array(numel(s.shape)).fill(0)]));
  for (let k = 0; k <= 3; k++) {
    const got = transferBlocks(pre, init, cfg, k);
    assertEqual(got.size, specs.length);
    for (const s of specs) {
      const block = /^h\.(\d+)\./.exec(s.name);
      const want = s.name.startsWith('wte') || s.name.startsWith('wpe') || (block ? Number(block[1]) < k : k === 3);
      assertEqual(got.get(s.name)![0], want ? 1 : 0, `k=${k} ${s.name}`);
      assertEqual(isTransferred(s.name, k, 3), want);
    }
  }
  assertThrows(() => transferBlocks(pre, init, cfg, 4), /0\.\.3/);
  assertThrows(() => transferBlocks(new Map(), init, cfg, 1), /lack wte\.weight/);
});
