// The edge bundles (esbuild): dist/edge/worker.js — the workerd / Cloudflare Worker entry
// (examples/workerd/worker.ts), one ESM file whose WASM kernels and model are imported modules —,
// dist/edge/worker-binding.js — the same worker with its model fetched from a binding
// (examples/workerd/worker-binding.ts: GPT-2-sized models, which no script can carry) — and
// dist/edge/gptedge.js — the library (public API + Hono app + WASM backend) as one ESM file for browsers,
// Deno and Node; its WASM comes from `load` (fetch) or `modules`. Both beside the .wasm builds. Neither
// may import node:* (checked). With --model DIR, the model folder's three files are copied to
// dist/edge/model/ so that dist/edge/ is a deployable worker folder (examples/workerd/config.capnp).
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const out = process.env.GPTEDGE_EDGE_OUT ?? 'dist/edge';
mkdirSync(out, { recursive: true });
const common = {
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  mainFields: ['module', 'main'],
  conditions: ['workerd', 'worker', 'browser', 'import'],
  logLevel: 'warning',
  legalComments: 'none',
  minifySyntax: true,
};
await build({ ...common, entryPoints: ['examples/workerd/worker.ts'], outfile: join(out, 'worker.js'), external: ['*.wasm', '*.safetensors', './model/*'] });
await build({ ...common, entryPoints: ['examples/workerd/worker-binding.ts'], outfile: join(out, 'worker-binding.js'), external: ['*.wasm'] });
const libEntry = [
  "export * from './src/index.ts';",
  "export { createApp, DEFAULT_LIMITS, ApiError, apiKeys, parseApiKeys, ModelRegistry, LocalEngine } from './src/serve/index.ts';",
  "export { createWasmBackend, webWorkerSpawner } from './src/backend/wasm/index.ts';",
  "export { createWebGPUBackend } from './src/backend/webgpu/webgpu.ts';",
].join('\n');
await build({
  ...common,
  stdin: { contents: libEntry, resolveDir: process.cwd(), loader: 'ts', sourcefile: 'gptedge-edge.ts' },
  outfile: join(out, 'gptedge.js'),
});
for (const f of ['worker.js', 'worker-binding.js', 'gptedge.js']) {
  const js = readFileSync(join(out, f), 'utf8');
  const bad = js.match(/(?:from|import\()\s*["'](node:[^"']+|fs|path|os|worker_threads|child_process)["']/);
  if (bad) throw new Error(`${out}/${f} imports ${bad[1]}: the edge bundles must not use Node modules`);
}
for (const v of ['simd128', 'relaxed']) {
  const src = `wasm/build/gptedge-${v}.wasm`;
  if (!existsSync(src)) throw new Error(`${src} is missing: run \`node wasm/build.mjs\` first`);
  copyFileSync(src, join(out, `gptedge-${v}.wasm`));
}
const mi = process.argv.indexOf('--model');
if (mi > 0) {
  const dir = process.argv[mi + 1];
  mkdirSync(join(out, 'model'), { recursive: true });
  for (const f of ['config.json', 'tokenizer.json', 'model.safetensors']) copyFileSync(join(dir, f), join(out, 'model', f));
}
const kb = (f) => `${(readFileSync(join(out, f)).length / 1024).toFixed(0)} KiB`;
console.log(
  `gptedge: built ${out}/worker.js (${kb('worker.js')}), ${out}/worker-binding.js (${kb('worker-binding.js')}), ${out}/gptedge.js (${kb('gptedge.js')}), gptedge-{simd128,relaxed}.wasm`,
);
