// `npm install` runs this (the `prepare` script): builds the WASM kernels, then the CLI bundle.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { build } from 'esbuild';

// WGSL sources -> src/wgsl/index.ts (committed; a test checks it is current)
{
  const r = spawnSync(process.execPath, ['scripts/build-wgsl.mjs'], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
if (existsSync('wasm/build.mjs')) {
  const r = spawnSync(process.execPath, ['wasm/build.mjs'], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

await build({
  // the engine worker of `gptedge serve` (adapters/serve-engine.ts starts it from beside the CLI)
  entryPoints: { cli: 'adapters/cli.ts', 'serve-worker': 'adapters/serve-worker.ts' },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'warning',
});
console.log('gptedge: built dist/cli.js, dist/serve-worker.js');
