// The CLI end to end (dist/cli.js, built by `npm install`): a tiny pretraining run from a text file,
// generation from its folder, resume, and clear errors for bad commands and options.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assert, assertEqual, test } from '../harness.ts';

const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, ['dist/cli.js', ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

test('cli: pretrain a tiny model from a text file, generate from it, resume it', async () => {
  assert(existsSync('dist/cli.js'), 'dist/cli.js is built by npm install (scripts/build.mjs)');
  const dir = mkdtempSync(join(tmpdir(), 'gptedge-cli-'));
  try {
    const corpus = join(dir, 'corpus.txt');
    writeFileSync(corpus, 'It was the best of times, it was the worst of times, it was the age of wisdom. '.repeat(200));
    const out = join(dir, 'run');
    const common = ['--preset', 'tiny', '--vocab', '300', '--corpus', corpus, '--out', out, '--batch', '2', '--eval-every', '2', '--ckpt-every', '2', '--samples', '1', '--backend', 'reference'];
    const p = cli('pretrain', ...common, '--steps', '4');
    assertEqual(p.code, 0, `pretrain failed: ${p.err}`);
    assert(/validation loss/.test(p.err) && /--- sample 1 ---/.test(p.out), `progress and samples:\n${p.err}\n${p.out}`);
    assertEqual(readdirSync(out).sort(), ['latest.json', 'loss.svg', 'step-000002', 'step-000004']);
    const g = cli('generate', '--model', out, '--prompt', 'It was', '--max-tokens', '5', '--temperature', '0', '--backend', 'reference');
    assertEqual(g.code, 0, g.err);
    assert(/^It was[\s\S]*\[length\]\n$/.test(g.out), `generation: ${g.out}`);
    const r = cli('pretrain', ...common, '--steps', '4', '--resume');
    assertEqual(r.code, 0, r.err);
    assert(/resuming .*step-000004 at step 4\/4/.test(r.err), `resume message: ${r.err}`);
    // quantized: a new folder that generate loads as stored, on WASM and on the reference
    for (const to of ['int8', 'int4']) {
      const qdir = join(dir, to);
      const q = cli('quantize', '--model', out, '--to', to, '--out', qdir);
      assertEqual(q.code, 0, q.err);
      assert(new RegExp(`quantized .* to ${to}: .*model\\.safetensors [\\d.]+ MiB -> [\\d.]+ MiB`).test(q.out), q.out);
      assertEqual(readdirSync(qdir).sort(), ['config.json', 'model.safetensors', 'tokenizer.json']);
      const texts = ['wasm', 'reference'].map((backend) => cli('generate', '--model', qdir, '--prompt', 'It was', '--max-tokens', '5', '--temperature', '0', '--backend', backend));
      for (const t of texts) assert(t.code === 0 && /^It was[\s\S]*\[length\]\n$/.test(t.out), `${to}: ${t.err}${t.out}`);
      const f = cli('generate', '--model', out, '--weights', to, '--prompt', 'It was', '--max-tokens', '5', '--temperature', '0', '--backend', 'reference');
      assertEqual(f.out, texts[1].out, `${to}: quantized on load = quantized ahead`);
    }
    const again = cli('quantize', '--model', out, '--to', 'int8', '--out', join(dir, 'int8'));
    assert(again.code === 1 && /int8: already exists/.test(again.err), again.err);
    const bad = cli('quantize', '--model', out, '--to', 'int3', '--out', join(dir, 'x'));
    assert(bad.code === 1 && /--to must be int8 or int4, got "int3"/.test(bad.err), bad.err);
    const w = cli('generate', '--model', out, '--weights', 'int3', '--backend', 'reference');
    assert(w.code === 1 && /--weights must be one of f32, f16, int8, int4, got "int3"/.test(w.err), w.err);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 180_000);

test('cli: bad commands and options are clear errors', () => {
  const u = cli('frobnicate');
  assertEqual(u.code, 2);
  assert(/unknown command "frobnicate"/.test(u.err), u.err);
  const n = cli('generate', '--model', 'x', '--temperature', 'hot');
  assertEqual(n.code, 1);
  assert(/--temperature must be a number, got "hot"/.test(n.err), n.err);
  const m = cli('generate');
  assert(/--model is required/.test(m.err), m.err);
  const missing = cli('generate', '--model', '/nonexistent/run', '--backend', 'reference');
  assert(/no model at \/nonexistent\/run: the folder does not exist/.test(missing.err), missing.err);
  const preset = cli('pretrain', '--preset', 'gpt5', '--backend', 'reference', '--corpus', 'package.json');
  assert(/unknown preset "gpt5"/.test(preset.err), preset.err);
  const corpus = cli('pretrain', '--corpus', '/nonexistent.txt', '--backend', 'reference');
  assert(/corpus file \/nonexistent.txt: not found/.test(corpus.err), corpus.err);
});
