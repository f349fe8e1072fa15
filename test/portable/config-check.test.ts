// config.json: bounds (layers, width, heads, context, vocabulary), internal consistency (heads divide
// the width, eps > 0, numbers are numbers), and agreement with the weights, checked before any
// parameter spec is built (issue 14, findings 1 and 3).
import { MemoryFileSystem } from '../../src/io/fs.ts';
import { loadCheckpoint, saveCheckpoint } from '../../src/io/checkpoint.ts';
import { configFromHF, configToHF } from '../../src/io/hf-config.ts';
import { CONFIG_LIMITS, preset, presets } from '../../src/model/config.ts';
import { paramCount, paramSpecs, numel } from '../../src/model/params.ts';
import { assert, assertEqual, test } from '../lib/harness.ts';
import { tinyModel, tinyTokenizerJSON } from '../lib/helpers.ts';
import { assertFileError } from '../lib/file-errors.ts';

const DIR = 'run/step-000001';

async function checkpointWith(edit: (cfg: Record<string, unknown>) => unknown, layout: 'post-ln' | 'pre-ln' = 'post-ln'): Promise<MemoryFileSystem> {
  const fs = new MemoryFileSystem();
  await saveCheckpoint(fs, 'run', tinyModel({ layout }), tinyTokenizerJSON(), { step: 1, seed: 1 });
  const cfg = JSON.parse(new TextDecoder().decode(await fs.readFile(`${DIR}/config.json`)));
  const edited = edit(cfg);
  await fs.writeFile(`${DIR}/config.json`, JSON.stringify(edited === undefined ? cfg : edited));
  return fs;
}

const rejectsLoad = (fs: MemoryFileSystem, pattern: RegExp) => assertFileError(() => loadCheckpoint(fs, 'run'), `${DIR}/config.json`, pattern);

test('config: n_layer 1e8 is rejected at once (bounds), not after building 1.2e9 parameter specs', async () => {
  const fs = await checkpointWith((c) => void (c.n_layer = 1e8));
  const t0 = Date.now();
  await rejectsLoad(fs, /n_layer 100000000 is more than the limit of 1024/);
  // generous for a loaded CI machine (~20 ms here): 73110d9 gave no answer in 40 s
  assert(Date.now() - t0 < 5000, `rejected in ${Date.now() - t0} ms`);
});

test('config: a config within bounds that implies another parameter count than the weights fails before specs are built, naming both files', async () => {
  // 1000 layers is within the bounds; the file holds 2. The message gives both counts.
  const fs = await checkpointWith((c) => void (c.n_layer = 1000));
  const err = await rejectsLoad(
    fs,
    /config\.json: n_layer 1000 \(\d+ parameters\) disagrees with run\/step-000001\/model\.safetensors, which holds 2 layers \(\d+ parameters\)/,
  );
  assert(err.message.includes(`${DIR}/model.safetensors`));
});

test('config: an n_layer smaller than the weights is an error (it used to serve a truncated model)', async () => {
  const fs = await checkpointWith((c) => void (c.n_layer = 1));
  await rejectsLoad(fs, /config\.json: n_layer 1 .*disagrees with run\/step-000001\/model\.safetensors, which holds 2 layers/);
});

test('config: internal consistency — eps > 0, numbers are numbers, heads divide the width', async () => {
  const cases: [(c: Record<string, unknown>) => unknown, RegExp][] = [
    [(c) => void (c.layer_norm_epsilon = -1), /layer_norm_epsilon must be a finite number > 0, got -1/],
    [(c) => void (c.layer_norm_epsilon = 0), /layer_norm_epsilon must be a finite number > 0, got 0/],
    [(c) => void (c.layer_norm_epsilon = '1e-5'), /layer_norm_epsilon must be a number, got "1e-5"/],
    [(c) => void (c.n_inner = '512'), /n_inner must be a number or null, got "512"/],
    [(c) => void (c.n_head = 5), /n_embd \(32\) must be divisible by n_head \(5\)/],
    [(c) => void (c.n_head = 4.5), /n_head must be a positive integer, got 4\.5/],
    [(c) => void (c.n_embd = 1e9), /n_embd 1000000000 is more than the limit of 65536/],
    [(c) => void (c.vocab_size = 1e12), /vocab_size 1000000000000 is more than the limit of 4194304/],
    [(c) => void (c.n_positions = 2 ** 21), /n_positions 2097152 is more than the limit of 1048576/],
    [(c) => void (c.n_ctx = 8), /n_positions \(16\) and n_ctx \(8\) disagree/],
    [(c) => void (c.attn_pdrop = 1.5), /attn_pdrop must be in \[0, 1\), got 1\.5/],
    [(c) => void (c.initializer_range = -0.02), /initializer_range must be a finite number >= 0, got -0\.02/],
    [() => null, /must hold a JSON object, got null/],
    [() => [1, 2], /must hold a JSON object, got an array/],
    [() => 42, /must hold a JSON object, got 42/],
  ];
  for (const [edit, pattern] of cases) await rejectsLoad(await checkpointWith(edit), pattern);
  // a number too large for a double parses as Infinity: still "not a finite number"
  const fs = await checkpointWith((c) => void (c.layer_norm_epsilon = 1));
  await fs.writeFile(
    `${DIR}/config.json`,
    new TextDecoder().decode(await fs.readFile(`${DIR}/config.json`)).replace(/"layer_norm_epsilon":\s*1/, '"layer_norm_epsilon": 1e400'),
  );
  await rejectsLoad(fs, /layer_norm_epsilon must be a finite number > 0, got Infinity/);
  // null n_inner means 4 × n_embd, as in Hugging Face's configs
  const ok = await loadCheckpoint(await checkpointWith((c) => void (c.n_inner = null)), 'run');
  assertEqual(ok.config.nInner, 128);
});

test('config: an empty or oversized config.json is a clear error, read no further', async () => {
  const fs = await checkpointWith(() => undefined);
  await fs.writeFile(`${DIR}/config.json`, '');
  await rejectsLoad(fs, /config\.json: empty/);
  await fs.writeFile(`${DIR}/config.json`, ' '.repeat(2 << 20));
  let reads = 0;
  const read = fs.readFile.bind(fs);
  fs.readFile = async (p: string) => {
    if (p.endsWith('config.json')) reads++;
    return read(p);
  };
  await rejectsLoad(fs, /config\.json: 2097152 bytes, more than the 1048576 a config\.json may have/);
  assertEqual(reads, 0, 'the size is checked before the file is read');
});

test('config: the closed-form parameter count equals the sum over the specs; presets are within bounds', () => {
  for (const [name, p] of Object.entries(presets)) {
    assertEqual(
      paramCount(p),
      paramSpecs(p).reduce((n, s) => n + numel(s.shape), 0),
      name,
    );
    preset(name);
  }
  assertEqual(paramCount(presets.gpt2), 124439808, 'GPT-2 124M');
  assert(CONFIG_LIMITS.nLayer === 1024 && CONFIG_LIMITS.vocabSize === 4194304);
});

test('config: HF config round trip for both layouts; errors from configFromHF name the file', async () => {
  for (const layout of ['post-ln', 'pre-ln'] as const) {
    const c = preset('tiny', { layout });
    assertEqual(configFromHF(configToHF(c), 'x/config.json'), c);
  }
  await assertFileError(() => configFromHF(null, 'x/config.json'), 'x/config.json', /must hold a JSON object, got null/);
});

test('config: a pre-LN checkpoint without ln_f, or a post-LN one with it, names both files', async () => {
  const fs = await checkpointWith((c) => void (c.model_type = 'gpt2'));
  await rejectsLoad(fs, /config\.json: model_type "gpt2" \(pre-LN, with a final ln_f\) disagrees with run\/step-000001\/model\.safetensors, which has no ln_f/);
});
