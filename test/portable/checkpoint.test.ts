// Checkpoints: round trip is bit-exact with Hugging Face tensor names for both families; writes are
// atomic (a failure mid-save leaves the previous checkpoint intact and pointed to); truncated,
// corrupted and mismatched files fail with errors naming the file and the tensor.
import { MemoryFileSystem, type FileSystem } from '../../src/io/fs.ts';
import { saveCheckpoint, loadCheckpoint, resolveModelDir } from '../../src/io/checkpoint.ts';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.ts';
import { loadModel } from '../../src/model/load.ts';
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import { NodeFileSystem } from '../../adapters/node/fs.ts';
import { assert, assertEqual, assertRejects, test } from '../lib/harness.ts';
import { tinyModel, tinyTokenizerJSON } from '../lib/helpers.ts';

for (const layout of ['post-ln', 'pre-ln'] as const) {
  test(`checkpoint round trip is bit-exact (${layout}), HF names of the family`, async () => {
    const fs = new MemoryFileSystem();
    const model = tinyModel({ layout }, 5);
    const dir = await saveCheckpoint(fs, 'run', model, tinyTokenizerJSON(), { step: 3, seed: 1 });
    assertEqual(dir, 'run/step-000003');
    const names = [...readSafetensors(await fs.readFile('run/step-000003/model.safetensors')).tensors.keys()];
    assert(names.includes(layout === 'post-ln' ? 'tokens_embed.weight' : 'wte.weight'), `family names: ${names.slice(0, 3)}`);
    assertEqual(names.includes('ln_f.weight'), layout === 'pre-ln');
    const { model: back } = await loadModel(fs, 'run', new ReferenceBackend());
    const a = await model.readParams(),
      b = await back.readParams();
    for (const [k, v] of a) assertEqual(Array.from(b.get(k)!), Array.from(v), k);
    assertEqual(back.cfg, model.cfg);
  });
}

test('a failure mid-save leaves the previous checkpoint intact, pointed to, and no temp folder', async () => {
  const fs = new MemoryFileSystem();
  const model = tinyModel();
  await saveCheckpoint(fs, 'run', model, tinyTokenizerJSON(), { step: 1, seed: 1 });
  const failing: FileSystem = Object.create(fs);
  failing.writeFile = async (p: string, d: Uint8Array | string) => {
    if (p.endsWith('config.json')) throw new Error('disk full');
    return fs.writeFile(p, d);
  };
  await assertRejects(() => saveCheckpoint(failing, 'run', model, tinyTokenizerJSON(), { step: 2, seed: 1 }), /disk full/);
  assertEqual(await resolveModelDir(fs, 'run'), 'run/step-000001');
  assertEqual((await fs.readdir('run')).sort(), ['latest.json', 'step-000001']);
  await loadModel(fs, 'run', new ReferenceBackend());
});

test('old checkpoints are pruned to `keep`, never the newest', async () => {
  const fs = new MemoryFileSystem();
  const model = tinyModel();
  for (const step of [1, 2, 3, 4]) await saveCheckpoint(fs, 'run', model, tinyTokenizerJSON(), { step, seed: 1 }, { keep: 2 });
  assertEqual((await fs.readdir('run')).sort(), ['latest.json', 'step-000003', 'step-000004']);
});

test('bad checkpoints: truncated, corrupted header, wrong shape, missing tensor, bad pointer', async () => {
  const fs = new MemoryFileSystem();
  const model = tinyModel();
  await saveCheckpoint(fs, 'run', model, tinyTokenizerJSON(), { step: 1, seed: 1 });
  const file = 'run/step-000001/model.safetensors';
  const good = await fs.readFile(file);

  await fs.writeFile(file, good.subarray(0, good.length - 100));
  await assertRejects(() => loadCheckpoint(fs, 'run'), /model\.safetensors: truncated: tensor \S+ ends at byte/);
  await fs.writeFile(file, good.subarray(0, 5));
  await assertRejects(() => loadCheckpoint(fs, 'run'), /model\.safetensors: truncated \(5 bytes/);
  const bad = good.slice();
  bad[9] = 0x3a; // corrupt the JSON header: {:_metadata...
  await fs.writeFile(file, bad);
  await assertRejects(() => loadCheckpoint(fs, 'run'), /model\.safetensors: corrupted header/);

  const t = readSafetensors(good).tensors;
  const wrong = new Map(t);
  wrong.set('h.1.mlp.c_fc.weight', { data: new Float32Array(32 * 64), shape: [32, 64] });
  await fs.writeFile(file, writeSafetensors(wrong));
  await assertRejects(() => loadCheckpoint(fs, 'run'), /model\.safetensors: tensor h\.1\.mlp\.c_fc\.weight has shape \[32,64\], the config needs \[32,128\]/);
  const missing = new Map(t);
  missing.delete('h.0.attn.c_proj.bias');
  await fs.writeFile(file, writeSafetensors(missing));
  await assertRejects(() => loadCheckpoint(fs, 'run'), /model\.safetensors: tensor h\.0\.attn\.c_proj\.bias is missing/);

  await fs.writeFile(file, good);
  await fs.writeFile('run/latest.json', '{"checkpoint": "step-999"}');
  await assertRejects(() => loadCheckpoint(fs, 'run'), /latest\.json: points to run\/step-999, which has no model\.safetensors/);
  await fs.writeFile('run/latest.json', '{oops');
  await assertRejects(() => loadCheckpoint(fs, 'run'), /latest\.json: not valid JSON/);
  await assertRejects(() => loadCheckpoint(fs, 'nowhere'), /no model at nowhere: the folder does not exist/);
  await fs.writeFile('run/step-000001/config.json', '{"model_type": "bert"}');
  await assertRejects(() => loadCheckpoint(fs, 'run/step-000001'), /config\.json: model_type must be "gpt2" or "openai-gpt"/);
});

test('on a real file system: the checkpoint folder is renamed into place, no temp files remain', async () => {
  const fs = new NodeFileSystem();
  const root = `/tmp/gptedge-ckpt-test-${Math.random().toString(36).slice(2)}`;
  try {
    const model = tinyModel();
    await saveCheckpoint(fs, root, model, tinyTokenizerJSON(), { step: 7, seed: 1 });
    assertEqual((await fs.readdir(root)).sort(), ['latest.json', 'step-000007']);
    assertEqual((await fs.readdir(`${root}/step-000007`)).sort(), ['config.json', 'model.safetensors', 'tokenizer.json', 'train_state.json']);
    await loadModel(fs, root, new ReferenceBackend());
  } finally {
    await fs.remove(root);
  }
});
