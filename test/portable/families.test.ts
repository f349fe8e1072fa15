// Task families as one object each (src/finetune/families.ts): every family's input transformation makes
// as many sequences as it says, its API input is read or refused with the parameter named, and batches
// group the extract rows the family sums; the one softmax module (src/util/softmax.ts).
import { FAMILIES, InputError, TASK_FAMILIES, encodeExample, familyOf, makeBatch, taskSpec, type Example, type TaskSpec } from '../../src/finetune/index.ts';
import { GPTTokenizer } from '../../src/tokenizer/tokenizer.ts';
import { argmax, logSoftmaxAt, softmax } from '../../src/util/softmax.ts';
import { assert, assertClose, assertEqual, assertThrows, test } from '../lib/harness.ts';
import { tinyTokenizerJSON } from '../lib/helpers.ts';

const IDS = { start: 67, delimiter: 68, extract: 69 };
const tok = GPTTokenizer.fromJSON(tinyTokenizerJSON());
const cases: { spec: TaskSpec; input: unknown; example: Example }[] = [
  { spec: { family: 'classification', labels: ['a', 'b'] }, input: 'ABC', example: { text: 'ABC', label: 'b' } },
  {
    spec: { family: 'entailment', labels: ['e', 'n', 'c'] },
    input: { premise: 'AB', hypothesis: 'CD' },
    example: { premise: 'AB', hypothesis: 'CD', label: 'c' },
  },
  { spec: { family: 'similarity', labels: ['x', 'y'] }, input: { a: 'AB', b: 'CDE' }, example: { a: 'AB', b: 'CDE', label: 'x' } },
  {
    spec: { family: 'multiple-choice', labels: [], choices: 3 },
    input: { context: 'AB', choices: ['C', 'D', 'E'] },
    example: { context: 'AB', choices: ['C', 'D', 'E'], label: 1 },
  },
];

test('families: one object per family; encode makes sequences(spec) sequences; batches group the extract rows a family sums', () => {
  assertEqual([...TASK_FAMILIES], Object.keys(FAMILIES));
  assertEqual(
    cases.map((c) => c.spec.family),
    [...TASK_FAMILIES],
    'a case per family',
  );
  for (const { spec, example } of cases) {
    const f = familyOf(spec);
    const enc = encodeExample(tok, IDS, spec, example, 16);
    assertEqual(enc.seqs.length, f.sequences(spec), `${spec.family} sequences`);
    for (const s of enc.seqs) assert(s[0] === IDS.start && s[s.length - 1] === IDS.extract, `${spec.family}: framed by <s> .. <e>`);
    const b = makeBatch(spec, [enc, enc]);
    assertEqual(b.groups.length, f.sumSequences, `${spec.family}: one group per summed sequence`);
    assertEqual(b.R * f.sumSequences, b.S, `${spec.family}: head rows`);
    for (let g = 0; g < b.groups.length; g++) for (let r = 0; r < b.R; r++) assertEqual(b.groups[g][r], b.extract[r * f.sumSequences + g]);
    assertEqual(b.nClass, f.classes === 'choices' ? spec.choices : spec.labels.length);
    assertEqual(
      taskSpec(spec.family, spec.labels, spec.choices ?? null),
      f.classes === 'choices' ? { family: spec.family, labels: [], choices: spec.choices } : { family: spec.family, labels: spec.labels },
    );
  }
});

test("families: an API input in the family's shape becomes its example; another shape is an InputError naming the parameter", () => {
  for (const { spec, input, example } of cases) {
    const f = familyOf(spec);
    const { label: _, ...fields } = example as Example & { label?: unknown };
    assertEqual(f.input(input, 'input'), fields, `${spec.family} input`);
    const err = assertThrows(() => f.input(42, 'input[3]'), /'input\[3\]' must be/, `${spec.family}: a number`);
    assert(err instanceof InputError && err.param === 'input[3]', `${spec.family}: InputError with the parameter`);
  }
  const e = assertThrows(() => familyOf('entailment').input({ premise: 'A' }, 'input'), /'input\.hypothesis' must be a string/);
  assertEqual((e as InputError).param, 'input.hypothesis');
  assertThrows(() => familyOf('multiple-choice').input({ context: 'A', choices: ['B', 7] }, 'x'), /'x\.choices' must be an array of strings/);
});

test('softmax module: probabilities, log-probabilities and argmax agree; large logits do not overflow', () => {
  const x = [1000, 1001, 999.5, -Infinity];
  const p = softmax(x),
    q = softmax(x, [] as number[]);
  assertClose(
    p.reduce((s, v) => s + v, 0),
    1,
    { atol: 1e-6 },
    'sums to 1',
  );
  assertClose(p, q, { atol: 1e-7 }, 'f32 and f64 outputs');
  assertEqual(p[3], 0);
  const logits = Float32Array.from([0.5, -1, 2, 1000, 1001, 999.5]),
    row = softmax([1000, 1001, 999.5], [] as number[]);
  for (let id = 0; id < 3; id++) assertClose(logSoftmaxAt(logits, 1, 3, id), Math.log(row[id]), { atol: 1e-6 }, `log softmax of row 1, id ${id}`);
  assertEqual(argmax([3, 7, 7, 1]), 1, 'the first of equal maxima');
});
