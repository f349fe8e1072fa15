// `npm test`: the same portable test files under Node (vitest, plus the Node-only tests), Deno and
// Bun, each runtime's result reported separately. Fails if any runtime fails.
import { spawnSync } from 'node:child_process';

const bin = (n) => `node_modules/.bin/${n}`;
// The files every runtime runs: the portable suite, the tokenizer, and both compiled backends.
const portable = ['test/portable/', 'test/tokenizer.test.ts'];
const wasm = ['test/conformance-wasm.test.ts', 'test/wasm-backend.test.ts', 'test/wasm-pretrain.test.ts'];
const webgpu = ['test/conformance-webgpu.test.ts', 'test/webgpu-backend.test.ts', 'test/webgpu-gpt.test.ts', 'test/webgpu-wgsl.test.ts', 'test/webgpu-faults.test.ts', 'test/webgpu-budget.test.ts', 'test/webgpu-adapter.test.ts'];
const runs = [
  { name: 'typecheck (tsc)', cmd: bin('tsc'), args: ['--noEmit', '-p', '.'] },
  { name: 'node (vitest)', cmd: bin('vitest'), args: ['run'] },
  { name: 'deno', cmd: bin('deno'), args: ['test', '-A', '--no-check', ...portable, ...wasm, ...webgpu] },
  { name: 'bun', cmd: bin('bun'), args: ['test', '--timeout', '300000', ...portable.map((p) => './' + p), ...wasm.map((p) => './' + p), ...webgpu.map((p) => './' + p)] },
];
const only = process.env.GPTEDGE_TEST_RUNTIMES?.split(',');
const results = [];
for (const r of runs) {
  if (only && !only.some((o) => r.name.startsWith(o))) continue;
  console.log(`\n=== ${r.name}: ${r.cmd} ${r.args.join(' ')}`);
  const t0 = Date.now();
  const p = spawnSync(r.cmd, r.args, { stdio: 'inherit', env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' } });
  results.push({ name: r.name, ok: p.status === 0, sec: (Date.now() - t0) / 1000, status: p.status ?? p.signal });
}
console.log('\n=== summary');
for (const r of results) console.log(`${r.ok ? 'PASS' : 'FAIL'}  ${r.name}  (${r.sec.toFixed(0)} s${r.ok ? '' : `, exit ${r.status}`})`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
