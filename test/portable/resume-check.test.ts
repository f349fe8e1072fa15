// Resume is exact or refuses: a missing or mismatched optimizer state or train state is an error naming
// the file (unless the optimizer is explicitly reset), and the token cache carries a header (format
// version, corpus and tokenizer fingerprints, length, checksum) and is rebuilt when it does not match
// (issue 14, finding 5).
import { MemoryFileSystem } from '../../src/io/fs.ts';
import { loadCheckpoint, parseTrainState, saveCheckpoint } from '../../src/io/checkpoint.ts';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.ts';
import { loadModel } from '../../src/model/load.ts';
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import { GPTTokenizer } from '../../src/tokenizer/tokenizer.ts';
import { TokenDataset } from '../../src/train/data.ts';
import { pretrain } from '../../src/train/pretrain.ts';
import { tokenizeCached, TOKEN_CACHE_VERSION } from '../../src/train/token-cache.ts';
import { assert, assertEqual, test } from '../lib/harness.ts';
import { patternTokens, tinyModel, tinyTokenizerJSON } from '../lib/helpers.ts';
import { assertFileError } from '../lib/file-errors.ts';

const STEP = 'run/step-000002';

async function trainedRun(): Promise<MemoryFileSystem> {
  const fs = new MemoryFileSystem();
  const model = tinyModel({}, 1);
  await pretrain(model, new TokenDataset(patternTokens(2000, 67), 16, 0.1), {
    steps: 2,
    batchSize: 2,
    lr: 1e-3,
    warmupSteps: 1,
    checkpoint: async (st, optimizer) => void (await saveCheckpoint(fs, 'run', model, tinyTokenizerJSON(), { ...st }, { optimizer })),
  });
  return fs;
}

test('resume: a missing optimizer.safetensors is an error naming it, unless the optimizer is reset on purpose', async () => {
  const fs = await trainedRun();
  await fs.remove(`${STEP}/optimizer.safetensors`);
  await assertFileError(
    () => loadModel(fs, 'run', new ReferenceBackend(), { withOptimizer: true }),
    `${STEP}/optimizer.safetensors`,
    /optimizer\.safetensors: missing; resuming without it would not repeat the uninterrupted run .*--reset-optimizer/,
  );
  const fresh = await loadModel(fs, 'run', new ReferenceBackend(), { withOptimizer: true, resetOptimizer: true });
  assertEqual(fresh.checkpoint.optimizer, null, 'fresh moments, optimizer step 0');
  assertEqual(fresh.checkpoint.trainState?.step, 2);
  // serving does not need the optimizer at all
  await loadModel(fs, 'run', new ReferenceBackend());
});

test('resume: an optimizer state that disagrees with train_state.json or the model is an error naming the file', async () => {
  const fs = await trainedRun();
  const opt = `${STEP}/optimizer.safetensors`,
    state = `${STEP}/train_state.json`;
  const st = JSON.parse(new TextDecoder().decode(await fs.readFile(state)));
  await fs.writeFile(state, JSON.stringify({ ...st, optimizerStep: 5 }));
  await assertFileError(
    () => loadModel(fs, 'run', new ReferenceBackend(), { withOptimizer: true }),
    opt,
    /optimizer\.safetensors: holds the moments of optimizer step 2, but run\/step-000002\/train_state\.json says 5/,
  );
  await fs.writeFile(state, JSON.stringify(st));
  const t = readSafetensors(await fs.readFile(opt)).tensors;
  t.get('v.wte.weight')!.data[0] = -1;
  await fs.writeFile(opt, writeSafetensors(t, { step: '2' }));
  await assertFileError(
    () => loadModel(fs, 'run', new ReferenceBackend(), { withOptimizer: true }),
    opt,
    /tensor v\.wte\.weight holds a negative second moment \(-1\) at index 0/,
  );
  t.get('v.wte.weight')!.data[0] = 0;
  t.delete('m.h.1.ln_2.bias');
  await fs.writeFile(opt, writeSafetensors(t, { step: '2' }));
  await assertFileError(() => loadModel(fs, 'run', new ReferenceBackend(), { withOptimizer: true }), opt, /tensor m\.h\.1\.ln_2\.bias is missing/);
});

test('resume: a malformed train_state.json is a clear error naming the file and the field', async () => {
  const fs = await trainedRun();
  const state = `${STEP}/train_state.json`;
  const good = JSON.parse(new TextDecoder().decode(await fs.readFile(state)));
  const cases: [string, RegExp][] = [
    ['{oops', /train_state\.json: not valid JSON/],
    ['null', /train_state\.json: must hold a JSON object, got null/],
    [JSON.stringify({ ...good, step: 'abc' }), /train_state\.json: step must be a non-negative integer, got "abc"/],
    [JSON.stringify({ ...good, step: -3 }), /step must be a non-negative integer, got -3/],
    [JSON.stringify({ ...good, seed: 1.5 }), /seed must be an integer/],
    [JSON.stringify({ ...good, history: {} }), /history must be an array/],
    [JSON.stringify({ ...good, history: [{ step: 1, loss: 'x' }] }), /history\[0\]\.loss must be a finite number/],
    [JSON.stringify({ ...good, options: { steps: 'ten' } }), /options\.steps must be a finite number, got "ten"/],
    [JSON.stringify({ ...good, optimizerStep: 1e100 }), /optimizerStep must be a non-negative integer/],
    ['', /train_state\.json: empty/],
  ];
  for (const [text, pattern] of cases) {
    await fs.writeFile(state, text);
    await assertFileError(() => loadModel(fs, 'run', new ReferenceBackend(), { withOptimizer: true }), state, pattern);
  }
  await fs.remove(state);
  await assertFileError(() => loadCheckpoint(fs, 'run', { resume: true }), state, /train_state\.json: missing; the run cannot be resumed exactly/);
  assertEqual(parseTrainState(JSON.stringify(good), 'x.json'), good);
});

test('token cache: a header with version, fingerprints, length and checksum; a damaged or foreign cache is rebuilt, never trusted', async () => {
  const fs = new MemoryFileSystem();
  const tok = GPTTokenizer.fromJSON(tinyTokenizerJSON());
  const texts = ['ABCDEF GHIJ', 'KLMNOP'];
  const reasons: string[] = [];
  const opts = { onRebuild: (why: string) => reasons.push(why) };
  const fresh = await tokenizeCached(fs, 'cache', texts, tok, opts);
  assertEqual(reasons.length, 0, 'a cache that does not exist yet is built, not "rebuilt"');
  const [name] = await fs.readdir('cache');
  const path = `cache/${name}`;
  const bytes = await fs.readFile(path);
  assertEqual(new TextDecoder().decode(bytes.subarray(0, 8)), 'GPTETOK\0');
  assertEqual(new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true), TOKEN_CACHE_VERSION);
  assertEqual(Array.from(await tokenizeCached(fs, 'cache', texts, tok, opts)), Array.from(fresh), 'a good cache is used');
  assertEqual(reasons.length, 0);

  const damage: [string, (b: Uint8Array) => Uint8Array, RegExp][] = [
    [
      'a flipped id',
      (b) => {
        const c = b.slice();
        c[c.length - 5] ^= 0x01;
        return c;
      },
      /checksum/,
    ],
    ['truncated', (b) => b.slice(0, b.length - 4), /length/],
    ['no header (the old format)', (b) => b.slice(64), /not a gptedge token cache/],
    [
      'another version',
      (b) => {
        const c = b.slice();
        c[8] = 99;
        return c;
      },
      /version 99/,
    ],
    ['empty', () => new Uint8Array(0), /not a gptedge token cache/],
  ];
  for (const [what, edit, reason] of damage) {
    reasons.length = 0;
    await fs.writeFile(path, edit(bytes));
    assertEqual(Array.from(await tokenizeCached(fs, 'cache', texts, tok, opts)), Array.from(fresh), what);
    assert(reasons.length === 1 && reason.test(reasons[0]), `${what}: ${reasons}`);
  }
  // the same ids under another tokenizer's fingerprint: a foreign cache copied into place
  const other = GPTTokenizer.fromJSON(tinyTokenizerJSON().replace('"version":"1.0"', '"version":"1.1"'));
  const otherIds = await tokenizeCached(fs, 'cache2', texts, other);
  const [n2] = await fs.readdir('cache2');
  await fs.writeFile(path, await fs.readFile(`cache2/${n2}`));
  reasons.length = 0;
  assertEqual(Array.from(await tokenizeCached(fs, 'cache', texts, tok, opts)), Array.from(fresh));
  assert(reasons.length === 1 && /tokenizer fingerprint/.test(reasons[0]), String(reasons));
  assertEqual(Array.from(otherIds), Array.from(fresh));
});
