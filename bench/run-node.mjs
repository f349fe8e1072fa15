// Runs a TypeScript bench under Node 20 (which cannot strip types): bundles bench/<name>.ts with esbuild
// into .cache/bench/ (packages stay external) and imports it. Usage: node bench/run-node.mjs gemm [args]
import { build } from 'esbuild';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const name = process.argv[2];
if (!name) throw new Error('usage: node bench/run-node.mjs <bench name> [args]');
process.argv.splice(2, 1);
const outfile = resolve('.cache/bench', `${name}.mjs`);
await build({
  entryPoints: [resolve('bench', `${name}.ts`)],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  packages: 'external',
  logLevel: 'warning',
});
await import(pathToFileURL(outfile).href);
