// The CLI end to end (dist/adapters/cli/main.js, built by `npm install`): a tiny pretraining run from a text file,
// generation from its folder, resume, and clear errors for bad commands and options.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assert, assertEqual, test } from '../lib/harness.ts';

const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, ['dist/adapters/cli/main.js', ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

test('cli: pretrain a tiny model from a text file, generate from it, resume it', async () => {
  assert(existsSync('dist/adapters/cli/main.js'), 'dist/adapters/cli/main.js is built by npm install (scripts/build.mjs)');
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
    assert(/^It was[\s\S]*\n$/.test(g.out) && !g.out.includes('[length]'), `generation: ${g.out}`);
    assert(/\[length\]/.test(g.err), `the finish reason goes to stderr: ${g.err}`);
    const r = cli('pretrain', ...common, '--steps', '4', '--resume');
    assertEqual(r.code, 0, r.err);
    assert(/resuming .*step-000004 at step 4\/4/.test(r.err), `resume message: ${r.err}`);
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
    const common = ['--preset', 'tiny', '--vocab', '300', '--corpus', corpus, '--out', out, '--batch', '2', '--eval-every', '0', '--ckpt-every', '0', '--samples', '0', '--backend', 'reference'];
    assertEqual(cli('pretrain', ...common, '--steps', '2').code, 0);
    const again = cli('pretrain', ...common, '--steps', '2');
    assertEqual(again.code, 1);
    assert(/already holds a run; pass --resume .* or --overwrite/.test(again.err), again.err);
    assertEqual(readdirSync(out).sort(), ['latest.json', 'loss.svg', 'step-000002'], 'the refused run left the old one untouched');
    const more = cli('pretrain', ...common, '--resume', '--steps', '3');
    assertEqual(more.code, 0, more.err);
    assert(/resuming .*step-000002 at step 2\/3/.test(more.err), more.err);
    assertEqual(readdirSync(out).filter((n) => n.startsWith('step-')).sort(), ['step-000002', 'step-000003']);
    const fresh = cli('pretrain', ...common, '--steps', '1', '--overwrite');
    assertEqual(fresh.code, 0, fresh.err);
    assertEqual(readdirSync(out).sort(), ['latest.json', 'loss.svg', 'step-000001'], '--overwrite replaced the old checkpoints');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
