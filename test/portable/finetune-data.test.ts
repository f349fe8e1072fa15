// Fine-tuning data files: JSONL and CSV readers per family, and every bad-input case with a clear
// error naming the file, line and field (missing fields, empty text, labels outside the declared set,
// malformed rows, wrong choice counts).
import { parseCSV, readDataset } from '../../src/finetune/dataset.ts';
import { formatMetrics, computeMetrics } from '../../src/finetune/metrics.ts';
import { checkMaxLen, finetuneLearningRate, batchIndices } from '../../src/finetune/finetune.ts';
import { assert, assertEqual, assertThrows, test } from '../lib/harness.ts';

const jsonl = (...rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

test('JSONL: each family reads into examples; labels sorted unless declared', () => {
  const c = readDataset(jsonl({ text: 'hi there', label: 'spam' }, { text: 'hello', label: 'ham' }), 'classification', 'c.jsonl');
  assertEqual(c.spec, { family: 'classification', labels: ['ham', 'spam'] });
  assertEqual(c.examples, [
    { text: 'hi there', label: 'spam' },
    { text: 'hello', label: 'ham' },
  ]);
  const e = readDataset(
    jsonl({ premise: 'p', hypothesis: 'h', label: 'entailment' }, { premise: 'q', hypothesis: 'g', label: 'neutral' }),
    'entailment',
    'e.jsonl',
    { labels: ['entailment', 'neutral', 'contradiction'] },
  );
  assertEqual(e.spec.labels, ['entailment', 'neutral', 'contradiction'], 'declared order kept');
  const s = readDataset(jsonl({ a: 'x', b: 'y', label: 1 }, { a: 'x', b: 'z', label: 0 }), 'similarity', 's.jsonl');
  assertEqual(s.spec.labels, ['0', '1'], 'numeric labels compare as strings');
  const m = readDataset(jsonl({ context: 'c', choices: ['a', 'b', 'c'], label: 2 }), 'multiple-choice', 'm.jsonl');
  assertEqual(m.spec, { family: 'multiple-choice', labels: [], choices: 3 });
  assertEqual(m.examples, [{ context: 'c', choices: ['a', 'b', 'c'], label: 2 }]);
  assertEqual(m.lines, [1]);
});

test('CSV: quotes, escaped quotes, commas and newlines inside fields, CRLF; choice_k columns', () => {
  const rows = parseCSV('text,label\r\n"a, ""quoted""\nline",spam\r\nplain,ham\r\n', 'x.csv');
  assertEqual(rows, [
    { line: 2, fields: { text: 'a, "quoted"\nline', label: 'spam' } },
    { line: 4, fields: { text: 'plain', label: 'ham' } },
  ]);
  const m = readDataset('context,choice_0,choice_1,label\nonce,a,b,1\ntwice,c,d,0\n', 'multiple-choice', 'm.csv');
  assertEqual(m.examples, [
    { context: 'once', choices: ['a', 'b'], label: 1 },
    { context: 'twice', choices: ['c', 'd'], label: 0 },
  ]);
  assertEqual(m.lines, [2, 3]);
});

test('bad input: each case is an error naming file, line and field', () => {
  const bad: [string, string, Parameters<typeof readDataset>[1], RegExp, object?][] = [
    [
      'e.jsonl',
      jsonl({ premise: 'p', hypothesis: 'h', label: 'x' }, { premise: 'p', label: 'y' }),
      'entailment',
      /e\.jsonl line 2: missing field "hypothesis"/,
    ],
    ['c.jsonl', jsonl({ text: 'a', label: 'x' }, { text: '   ', label: 'y' }), 'classification', /c\.jsonl line 2: field "text" is empty/],
    [
      'c.jsonl',
      jsonl({ text: 'a', label: 'x' }, { text: 'b', label: 'maybe' }),
      'classification',
      /c\.jsonl line 2: label "maybe" is not one of the declared labels \["x","y"\]/,
      { labels: ['x', 'y'] },
    ],
    ['c.jsonl', jsonl({ text: 'a', label: 'x' }, { text: 'b' }), 'classification', /c\.jsonl line 2: missing field "label"/],
    ['c.jsonl', jsonl({ text: 'a', label: 'x' }, { text: 'b', label: 'x' }), 'classification', /needs at least 2 labels; found \["x"\]/],
    ['c.jsonl', '{"text": "a", "label": "x"}\n{"text": "b", label}\n', 'classification', /c\.jsonl line 2: not valid JSON/],
    ['c.jsonl', '[1,2]\n', 'classification', /line 1: expected a JSON object/],
    ['c.jsonl', jsonl({ text: 5, label: 'x' }), 'classification', /line 1: field "text" must be a string, got 5/],
    ['c.csv', 'text,label\na,x\nb\n', 'classification', /c\.csv line 3: 1 fields, the header has 2/],
    ['c.csv', 'text,label\n"a,x\n', 'classification', /c\.csv line 2: a quoted field is not closed/],
    ['c.csv', 'premise,label\na,x\n', 'entailment', /c\.csv line 2: missing field "hypothesis"/],
    ['s.csv', 'a,b,label\nx,,1\n', 'similarity', /s\.csv line 2: field "b" is empty/],
    [
      'm.jsonl',
      jsonl({ context: 'c', choices: ['a', 'b'], label: 0 }, { context: 'c', choices: ['a', 'b', 'c'], label: 0 }),
      'multiple-choice',
      /m\.jsonl line 2: 3 choices, expected 2/,
    ],
    ['m.jsonl', jsonl({ context: 'c', choices: ['a', 'b'], label: 2 }), 'multiple-choice', /line 1: label 2 is not a choice index in 0\.\.1/],
    ['m.jsonl', jsonl({ context: 'c', choices: ['a', ''], label: 0 }), 'multiple-choice', /line 1: field "choices\[1\]" is empty/],
    ['m.jsonl', jsonl({ context: 'c', label: 0 }), 'multiple-choice', /line 1: missing field "choices"/],
    ['x.txt', 'text\n', 'classification', /x\.txt: unknown data format/],
    ['e.jsonl', '\n\n', 'classification', /e\.jsonl: no examples/],
  ];
  for (const [file, text, family, pattern, opts] of bad) assertThrows(() => readDataset(text, family, file, opts), pattern, file);
  // rows without labels are allowed for prediction
  const p = readDataset(jsonl({ text: 'a' }), 'classification', 'p.jsonl', { requireLabels: false, labels: ['x', 'y'] });
  assertEqual(p.examples, [{ text: 'a' }]);
  assertThrows(() => checkMaxLen(100, 64), /maxLen must be an integer in 4\.\.64/);
});

test('metrics: accuracy, F1 of labels[1], confusion matrix; schedule and batches', () => {
  const probs = [
    [0.9, 0.1],
    [0.2, 0.8],
    [0.6, 0.4],
    [0.3, 0.7],
  ];
  const m = computeMetrics(probs, [0, 1, 1, 0], ['ham', 'spam'], true);
  assertEqual(m.confusion, [
    [1, 1],
    [1, 1],
  ]);
  assertEqual([m.accuracy, m.precision, m.recall, m.f1], [0.5, 0.5, 0.5, 0.5]);
  assert(/confusion/.test(formatMetrics(m)) && /F1 \(positive class "spam"\) 0\.5000/.test(formatMetrics(m)), formatMetrics(m));
  assertEqual(computeMetrics(probs, [0, 1, 0, 1], ['a', 'b'], true).f1, 1);
  // linear warm-up then linear decay to 0
  assertEqual(
    [0, 1, 2, 5, 9].map((s) => +finetuneLearningRate(s, 1, 2, 10).toFixed(4)),
    [0.5, 1, 1, 0.625, 0.125],
  );
  // every example once per epoch, the order a function of (seed, epoch)
  const seen = [0, 1, 2].flatMap((s) => batchIndices(10, 4, s, 7).idx).sort((a, b) => a - b);
  assertEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assertEqual(batchIndices(10, 4, 4, 7), batchIndices(10, 4, 4, 7));
  assert(JSON.stringify(batchIndices(10, 4, 0, 7).idx) !== JSON.stringify(batchIndices(10, 4, 3, 7).idx), 'epochs reshuffle');
});
