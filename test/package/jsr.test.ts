// The package as JSR would publish it: `deno publish --dry-run` passes (no slow types, no sloppy
// imports, license, the WASM kernels included, tests and benches left out), `deno check` passes on every
// entry point of deno.json, and the deno tasks run. Node only (vitest), driving the npm-installed deno.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { assert, assertEqual, runtime, test } from '../lib/harness.ts';

const deno = (...args: string[]) => {
  const r = spawnSync('node_modules/.bin/deno', args, { encoding: 'utf8', timeout: 300_000, env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout + r.stderr };
};

if (runtime === 'node') {
  test('jsr: deno publish --dry-run passes and publishes the sources and kernels, not the tests', () => {
    const r = deno('publish', '--dry-run', '--allow-dirty');
    assertEqual(r.code, 0, r.out);
    const files = [...r.out.matchAll(/file:\/\/\S+?\/((?:src|adapters|wasm|test|bench|scripts|examples|docs)\/\S+|[\w.-]+\.(?:md|json))/g)].map((m) => m[1]);
    for (const f of [
      'src/index.ts',
      'adapters/deno/index.ts',
      'wasm/kernels.ts',
      'wasm/build/gptedge-relaxed-mt.wasm',
      'wasm/build/gptedge-simd128.wasm',
      'README.md',
    ])
      assert(files.includes(f), `${f} is published: ${files.join(' ')}`);
    assert(/LICENSE/.test(r.out), 'LICENSE is published');
    const stray = files.filter((f) => /^(test|bench|scripts|examples|docs)\//.test(f));
    assertEqual(stray, [], 'no tests, benches, scripts, examples or docs');
  }, 300_000);

  test('jsr: deno check passes on every entry point (and the Deno example)', () => {
    const exports = JSON.parse(readFileSync('deno.json', 'utf8')).exports as Record<string, string>;
    const r = deno('check', ...Object.values(exports), 'adapters/cli/main.ts', 'examples/deno/server.ts');
    assertEqual(r.code, 0, r.out);
  }, 300_000);

  test('jsr: the deno tasks run', () => {
    const r = deno('task', 'generate', '--help');
    assertEqual(r.code, 0, r.out);
    assert(/usage: gptedge generate/.test(r.out), r.out);
  }, 120_000);
}
