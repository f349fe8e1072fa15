// `npm test`: each test folder runs under the runtimes its name says, each runtime's result reported
// separately; fails if any fails.
//   test/portable/  Node (vitest), Deno and Bun: the core, the backends' conformance, tokenizer, serving
//   test/node/      Node only (vitest): CLI, ONNX Runtime, tfjs oracle, servers, workerd
//   test/browser/   Node (vitest) driving headless Chromium
//   test/package/   Node (vitest): the packed tarball installed into an empty project, used from Node,
//                   TypeScript, Deno, Bun, a browser and workerd
// First Biome (biome.json: the formatter and the linter; `npm run format` rewrites), then tsc.
import { spawnSync } from 'node:child_process';

const bin = (n) => `node_modules/.bin/${n}`;
const runs = [
  { name: 'format and lint (biome)', cmd: bin('biome'), args: ['check', '.'] },
  { name: 'typecheck (tsc)', cmd: bin('tsc'), args: ['--noEmit', '-p', '.'] },
  { name: 'node (vitest)', cmd: bin('vitest'), args: ['run'] },
  { name: 'deno', cmd: bin('deno'), args: ['test', '-A', '--no-check', 'test/portable/'] },
  { name: 'bun', cmd: bin('bun'), args: ['test', '--timeout', '300000', './test/portable/'] },
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
