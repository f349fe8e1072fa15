// `npm run build` (also run by `prepare` on `npm install` in a clone, and by `prepack`): everything the
// package ships, in dist/:
//   1. src/wgsl/index.ts from the .wgsl files (committed; a test checks it is current)
//   2. the WASM kernels, wasm/build/gptedge-{simd128,relaxed}{,-mt}.wasm (AssemblyScript, a devDependency)
//   3. JavaScript, declarations and source maps of src/, adapters/ and wasm/kernels.ts (tsc, tsconfig.build.json)
//   4. the kernels copied to dist/wasm/build/, beside dist/wasm/kernels.js which locates them
// Steps whose outputs are newer than their inputs are skipped, so prepare + prepack build once.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
const mtime = (f) => (existsSync(f) ? statSync(f).mtimeMs : 0);
const newest = (dir, re) =>
  Math.max(
    0,
    ...readdirSync(dir, { recursive: true })
      .filter((f) => re.test(String(f)))
      .map((f) => mtime(join(dir, String(f)))),
  );
const t0 = Date.now();

run(process.execPath, ['scripts/build-wgsl.mjs']);

const kernels = ['simd128', 'relaxed', 'simd128-mt', 'relaxed-mt'].map((v) => `wasm/build/gptedge-${v}.wasm`);
const wasmInputs = Math.max(newest('wasm/assembly', /\.ts$/), mtime('wasm/build.mjs'));
if (kernels.some((k) => mtime(k) < wasmInputs)) {
  if (!existsSync('node_modules/assemblyscript')) {
    console.error('gptedge build: the WASM kernels need AssemblyScript (a devDependency): run `npm install` in the repository first');
    process.exit(1);
  }
  run(process.execPath, ['wasm/build.mjs']);
}

// tsc's incremental state says nothing about dist/ having been deleted since: then it must emit again
if (!existsSync('dist/src/index.js')) rmSync('.cache/tsc', { recursive: true, force: true });
run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json']);

mkdirSync('dist/wasm/build', { recursive: true });
for (const k of kernels) copyFileSync(k, join('dist', k));
chmodSync('dist/adapters/cli/main.js', 0o755);
console.log(`gptedge: built dist/ (JavaScript, declarations, ${kernels.length} WASM kernels) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
