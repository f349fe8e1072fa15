// tokenizer.json: ids bounded before anything is sized by them, an empty file is "empty" (not
// "missing"), and model, config and tokenizer agree or loading fails naming the files. A tokenizer
// smaller than the model's vocabulary is allowed: generation never samples an id the tokenizer cannot
// decode (issue 14, finding 3).
import { MemoryFileSystem } from '../../src/io/fs.ts';
import { saveCheckpoint } from '../../src/io/checkpoint.ts';
import { loadModel } from '../../src/model/load.ts';
import { generate } from '../../src/infer/generate.ts';
import { GPTTokenizer } from '../../src/tokenizer/tokenizer.ts';
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import { assert, assertEqual, test } from '../lib/harness.ts';
import { lettersTokenizerJSON, tinyModel, tinyTokenizerJSON } from '../lib/helpers.ts';
import { assertFileError } from '../lib/file-errors.ts';

test('tokenizer.json: a token id of 1e12 is a clear error (it was "Invalid array length")', async () => {
  const j = JSON.parse(lettersTokenizerJSON(5));
  j.model.vocab.E = 1e12;
  await assertFileError(
    () => GPTTokenizer.fromJSON(JSON.stringify(j), 'm/tokenizer.json'),
    'm/tokenizer.json',
    /vocab entry "E" has id 1000000000000, more than the limit of 4194303/,
  );
  const k = JSON.parse(lettersTokenizerJSON(5));
  k.added_tokens[0].id = 2 ** 40;
  await assertFileError(
    () => GPTTokenizer.fromJSON(JSON.stringify(k), 'm/tokenizer.json'),
    'm/tokenizer.json',
    /added token "<\|endoftext\|>" has id 1099511627776, more than the limit/,
  );
  const dup = JSON.parse(lettersTokenizerJSON(5));
  dup.added_tokens[0].id = 2;
  await assertFileError(
    () => GPTTokenizer.fromJSON(JSON.stringify(dup), 'm/tokenizer.json'),
    'm/tokenizer.json',
    /id 2 is given to both "C" and the added token "<\|endoftext\|>"/,
  );
});

test('tokenizer.json: every rejection is a FileFormatError naming the file', async () => {
  await assertFileError(() => GPTTokenizer.fromJSON('', 'a/tokenizer.json'), 'a/tokenizer.json', /a\/tokenizer\.json: empty/);
  await assertFileError(() => GPTTokenizer.fromJSON('{"model": ', 'a/tokenizer.json'), 'a/tokenizer.json', /not valid JSON/);
  await assertFileError(() => GPTTokenizer.fromJSON('null', 'a/tokenizer.json'), 'a/tokenizer.json', /must hold a JSON object/);
  await assertFileError(
    () => GPTTokenizer.fromJSON('{"model": {"type": "BPE", "vocab": {"x": 0}, "merges": ["a b"]}}', 'a/tokenizer.json'),
    'a/tokenizer.json',
    /a\/tokenizer\.json: merge 0 \("a b"\) refers to unknown token "a"/,
  );
  await assertFileError(
    () => GPTTokenizer.fromJSON('{"model": {"type": "BPE", "vocab": {}, "merges": []}}', 'a/tokenizer.json'),
    'a/tokenizer.json',
    /holds no tokens/,
  );
  // the file name defaults to tokenizer.json
  await assertFileError(() => GPTTokenizer.fromJSON('[]'), 'tokenizer.json', /^tokenizer\.json: must hold a JSON object/);
});

test('model folder: an empty tokenizer.json is reported as empty, not missing', async () => {
  const fs = new MemoryFileSystem();
  await saveCheckpoint(fs, 'run', tinyModel(), tinyTokenizerJSON(), { step: 1, seed: 1 });
  await fs.writeFile('run/step-000001/tokenizer.json', '');
  await assertFileError(() => loadModel(fs, 'run', new ReferenceBackend()), 'run/step-000001/tokenizer.json', /tokenizer\.json: empty/);
});

test("model folder: a tokenizer with ids beyond the model's vocabulary fails naming tokenizer.json and config.json", async () => {
  const fs = new MemoryFileSystem();
  await saveCheckpoint(fs, 'run', tinyModel(), lettersTokenizerJSON(26, undefined, 70), { step: 1, seed: 1 });
  await assertFileError(
    () => loadModel(fs, 'run', new ReferenceBackend()),
    'run/step-000001/tokenizer.json',
    /tokenizer\.json has ids up to 70, outside the model's vocabulary of 67 \(vocab_size in run\/step-000001\/config\.json\)/,
  );
});

test("a tokenizer smaller than the model's vocabulary: generation never samples an id it cannot decode", async () => {
  // 10 tokens + <|endoftext|> = ids 0..10 of the model's 67; the other 56 ids are masked when sampling.
  const fs = new MemoryFileSystem();
  await saveCheckpoint(fs, 'run', tinyModel({}, 7), lettersTokenizerJSON(10), { step: 1, seed: 1 });
  const { model, tokenizer } = await loadModel(fs, 'run', new ReferenceBackend());
  assertEqual(tokenizer.vocabSize, 11);
  for (const [seed, temperature] of [
    [1, 0],
    [2, 1],
    [3, 2],
    [4, 5],
  ]) {
    const g = await generate(model, tokenizer, 'ABC', { maxTokens: 12, temperature, seed });
    assertEqual(g.tokens.length, 12, `seed ${seed}: generation ran to the end`);
    assert(
      g.tokens.every((t) => t <= 10),
      `seed ${seed}: sampled ${g.tokens}`,
    );
  }
  // holes inside the tokenizer's own id range are masked too: ids 0..4 and 9, nothing in 5..8
  const holes = GPTTokenizer.fromJSON(lettersTokenizerJSON(6, [0, 1, 2, 3, 4, 9], 10));
  const g = await generate(tinyModel({}, 8), holes, 'ABC', { maxTokens: 16, temperature: 3, seed: 1 });
  assert(
    g.tokens.every((t) => t <= 4 || t === 9 || t === 10),
    `sampled ${g.tokens}`,
  );
  assertEqual(holes.canDecode(7), false);
  assertEqual(holes.canDecode(9), true);
});

test('a fine-tuned folder whose tokenizer.json lacks a special token the task needs is refused, naming tokenizer.json', async () => {
  const { prepareFinetune, saveFinetuned, loadFinetuned } = await import('../../src/finetune/index.ts');
  const ft = await prepareFinetune(
    tinyModel({}, 3),
    GPTTokenizer.fromJSON(lettersTokenizerJSON(10)),
    { family: 'classification', labels: ['a', 'b'] },
    { seed: 1 },
  );
  const fs = new MemoryFileSystem();
  await saveFinetuned(fs, 'ft', ft);
  await loadFinetuned(fs, 'ft', new ReferenceBackend());
  const j = JSON.parse(new TextDecoder().decode(await fs.readFile('ft/tokenizer.json')));
  j.added_tokens = j.added_tokens.filter((t: { content: string }) => t.content !== '<|extract|>');
  await fs.writeFile('ft/tokenizer.json', JSON.stringify(j));
  await assertFileError(
    () => loadFinetuned(fs, 'ft', new ReferenceBackend()),
    'ft/tokenizer.json',
    /ft\/tokenizer\.json: this tokenizer has no extract token \(<\|extract\|>\)/,
  );
});
