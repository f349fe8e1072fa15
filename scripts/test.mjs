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
  // Deno has twice aborted in glibc while exiting, after every test had passed ("double free or corruption",
  // "corrupted size vs. prev_size in fastbins"; native teardown of its WebGPU on Mesa llvmpipe, not one of
  // our tests): such a run is run once more, and that run decides
  { name: 'deno', cmd: bin('deno'), args: ['test', '-A', '--no-check', 'test/portable/'], rerunExitCrash: true },
  { name: 'bun', cmd: bin('bun'), args: ['test', '--timeout', '300000', './test/portable/'] },
];
const only = process.env.GPTEDGE_TEST_RUNTIMES?.split(',');
const results = [];
for (const r of runs) {
  if (only && !only.some((o) => r.name.startsWith(o))) continue;
  console.log(`\n=== ${r.name}: ${r.cmd} ${r.args.join(' ')}`);
  const t0 = Date.now();
  let p = run(r);
  if (r.rerunExitCrash && crashedAfterPassing(p)) {
    console.log(`\n=== ${r.name}: every test passed, then the process died of ${p.signal} while exiting; running it once more`);
    p = run(r);
  }
  results.push({ name: r.name, ok: p.status === 0, sec: (Date.now() - t0) / 1000, status: p.status ?? p.signal });
}
/** Runs one test command, its output shown as it comes (and kept, for the runs that may be rerun). */
function run(r) {
  const env = { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' };
  if (!r.rerunExitCrash) return spawnSync(r.cmd, r.args, { stdio: 'inherit', env });
  const p = spawnSync(r.cmd, r.args, { stdio: ['inherit', 'pipe', 'pipe'], env, encoding: 'utf8', maxBuffer: 1 << 28 });
  process.stdout.write(p.stdout ?? '');
  process.stderr.write(p.stderr ?? '');
  return p;
}
/** killed by a signal after its own summary said every test passed (Deno: "ok | N passed | 0 failed") */
function crashedAfterPassing(p) {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: Deno colours its summary even under NO_COLOR
  const out = (p.stdout ?? '').replace(/\x1b\[[0-9;]*m/g, '');
  return p.signal !== null && /^ok \| \d+ passed \| 0 failed/m.test(out) && !/^FAILED|^error:/m.test(out);
}

console.log('\n=== summary');
for (const r of results) console.log(`${r.ok ? 'PASS' : 'FAIL'}  ${r.name}  (${r.sec.toFixed(0)} s${r.ok ? '' : `, exit ${r.status}`})`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
