// The CLI end to end (dist/adapters/cli/main.js, built by `npm install`): a tiny pretraining run from a text file,
// generation from its folder, resume, and clear errors for bad commands and options.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assert, assertEqual, test } from '../lib/harness.ts';

const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, ['dist/adapters/cli/main.js', ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

/** `pretrain` arguments for a tiny model on the reference backend: vocabulary 300, batch 2, no evaluation, checkpoints or samples unless `o` says (null drops an option) */
function tinyPretrainArgs(corpus: string, out: string, o: Record<string, string | number | null> = {}): string[] {
  const all: Record<string, string | number | null> = {
    preset: 'tiny',
    vocab: 300,
    corpus,
    out,
    batch: 2,
    'eval-every': 0,
    'ckpt-every': 0,
    samples: 0,
    backend: 'reference',
    ...o,
  };
  return Object.entries(all).flatMap(([k, v]) => (v === null ? [] : [`--${k}`, String(v)]));
}

test('cli: pretrain a tiny model from a text file, generate from it, resume it', async () => {
  assert(existsSync('dist/adapters/cli/main.js'), 'dist/adapters/cli/main.js is built by npm install (scripts/build.mjs)');
  const dir = mkdtempSync(join(tmpdir(), 'gptedge-cli-'));
  try {
    const corpus = join(dir, 'corpus.txt');
    writeFileSync(corpus, 'It was the best of times, it was the worst of times, it was the age of wisdom. '.repeat(200));
    const out = join(dir, 'run');
    const common = tinyPretrainArgs(corpus, out, { 'eval-every': 2, 'ckpt-every': 2, samples: 1 });
    const p = cli('pretrain', ...common, '--steps', '4');
    assertEqual(p.code, 0, `pretrain failed: ${p.err}`);
    assert(/validation loss/.test(p.err) && /--- sample 1 ---/.test(p.out), `progress and samples:\n${p.err}\n${p.out}`);
    assertEqual(readdirSync(out).sort(), ['latest.json', 'loss.svg', 'step-000002', 'step-000004']);
    const g = cli('generate', '--model', out, '--prompt', 'It was', '--max-tokens', '5', '--temperature', '0', '--backend', 'reference');
    assertEqual(g.code, 0, g.err);
    assert(/^It was[\s\S]*\n$/.test(g.out) && !g.out.includes('[length]'), `generation: ${g.out}`);
    assert(/\[length\]/.test(g.err), `the finish reason goes to stderr: ${g.err}`);
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
      const texts = ['wasm', 'reference'].map((backend) =>
        cli('generate', '--model', qdir, '--prompt', 'It was', '--max-tokens', '5', '--temperature', '0', '--backend', backend),
      );
      for (const t of texts) assert(t.code === 0 && /^It was[\s\S]*\n$/.test(t.out) && /\[length\]/.test(t.err), `${to}: ${t.err}${t.out}`);
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
  assert(/\/nonexistent\.txt: not found/.test(corpus.err), corpus.err);
});

test('cli: --version, "did you mean", an existing run is neither overwritten nor extended by accident', () => {
  const v = cli('--version');
  assertEqual(v.code, 0, v.err);
  assert(/^gptedge \d+\.\d+\.\d+\n$/.test(v.out), v.out);
  const c = cli('pretrian');
  assertEqual(c.code, 2);
  assert(/did you mean "pretrain"\?/.test(c.err), c.err);
  const o = cli('generate', '--model', 'x', '--temprature', '0');
  assert(/unknown option --temprature; did you mean --temperature\?/.test(o.err), o.err);
  const dir = mkdtempSync(join(tmpdir(), 'gptedge-cli-'));
  try {
    const corpus = join(dir, 'corpus.txt');
    writeFileSync(corpus, 'The quick brown fox jumps over the lazy dog. '.repeat(200));
    const out = join(dir, 'run');
    const common = tinyPretrainArgs(corpus, out);
    assertEqual(cli('pretrain', ...common, '--steps', '2').code, 0);
    const again = cli('pretrain', ...common, '--steps', '2');
    assertEqual(again.code, 1);
    assert(/already holds a run; pass --resume .* or --overwrite/.test(again.err), again.err);
    assertEqual(readdirSync(out).sort(), ['latest.json', 'loss.svg', 'step-000002'], 'the refused run left the old one untouched');
    const more = cli('pretrain', ...common, '--resume', '--steps', '3');
    assertEqual(more.code, 0, more.err);
    assert(/resuming .*step-000002 at step 2\/3/.test(more.err), more.err);
    assertEqual(
      readdirSync(out)
        .filter((n) => n.startsWith('step-'))
        .sort(),
      ['step-000002', 'step-000003'],
    );
    const fresh = cli('pretrain', ...common, '--steps', '1', '--overwrite');
    assertEqual(fresh.code, 0, fresh.err);
    assertEqual(readdirSync(out).sort(), ['latest.json', 'loss.svg', 'step-000001'], '--overwrite replaced the old checkpoints');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);

test('cli: resume is exact or refuses — malformed train_state.json, missing optimizer state, another corpus (issue 14)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gptedge-cli-resume-'));
  try {
    const corpus = join(dir, 'corpus.txt');
    writeFileSync(corpus, 'It was the best of times, it was the worst of times, it was the age of wisdom. '.repeat(200));
    const out = join(dir, 'run');
    const common = tinyPretrainArgs(corpus, out, { 'ckpt-every': 2 });
    assertEqual(cli('pretrain', ...common, '--steps', '4').code, 0);
    writeFileSync(join(out, 'latest.json'), '{"checkpoint": "step-000002"}'); // as if the run had stopped at step 2
    const step = join(out, 'step-000002');
    const state = readFileSync(join(step, 'train_state.json'), 'utf8');

    writeFileSync(join(step, 'train_state.json'), JSON.stringify({ ...JSON.parse(state), step: 'abc' }));
    const bad = cli('pretrain', ...common, '--steps', '4', '--resume');
    assertEqual(bad.code, 1, `a malformed train_state.json exits non-zero: ${bad.out}`);
    assert(/train_state\.json: step must be a non-negative integer, got "abc"/.test(bad.err), bad.err);
    writeFileSync(join(step, 'train_state.json'), state);

    const other = join(dir, 'other.txt');
    writeFileSync(other, 'Call me Ishmael. Some years ago, never mind how long precisely. '.repeat(200));
    const moved = cli('pretrain', ...common.map((a) => (a === corpus ? other : a)), '--steps', '4', '--resume');
    assertEqual(moved.code, 1);
    assert(/train_state\.json: the run was trained on another corpus or tokenizer/.test(moved.err), moved.err);

    rmSync(join(step, 'optimizer.safetensors'));
    const noOpt = cli('pretrain', ...common, '--steps', '4', '--resume');
    assertEqual(noOpt.code, 1);
    assert(/optimizer\.safetensors: missing; resuming without it would not repeat the uninterrupted run .*--reset-optimizer/.test(noOpt.err), noOpt.err);
    const reset = cli('pretrain', ...common, '--steps', '4', '--resume', '--reset-optimizer');
    assertEqual(reset.code, 0, reset.err);
    assert(/resuming .*step-000002 at step 2\/4 with a fresh optimizer state \(--reset-optimizer\)/.test(reset.err), reset.err);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 180_000);

test('cli: a corpus that is not UTF-8 is an error naming the byte offset; --encoding reads it (issue 14)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gptedge-cli-enc-'));
  try {
    const corpus = join(dir, 'latin1.txt');
    writeFileSync(corpus, Buffer.from("Un caf\xe9 noir, s'il vous pla\xeet. ".repeat(300), 'latin1'));
    const args = tinyPretrainArgs(corpus, join(dir, 'run'), { vocab: 280, steps: 1, 'ckpt-every': null });
    const bad = cli('pretrain', ...args);
    assertEqual(bad.code, 1);
    assert(/latin1\.txt: not valid UTF-8 at byte 6 \(0xe9\); pass --encoding/.test(bad.err), bad.err);
    const ok = cli('pretrain', ...args, '--encoding', 'latin1');
    assertEqual(ok.code, 0, ok.err);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
