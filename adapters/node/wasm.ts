// The WASM backend on Node (and on Deno and Bun through their node: modules): reads wasm/build/*.wasm,
// turns on relaxed SIMD where Node 20 keeps it behind a flag, and spawns workers — worker_threads on
// Node and Deno, Web Workers on Bun.
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import {
  createWasmBackend,
  hasRelaxedSimd,
  type WasmBackend,
  type WasmBackendOptions,
  type WasmVariant,
  webWorkerSpawner,
  kernelLocation,
  fetchKernel,
} from '../../src/backend/wasm/index.ts';
import { nodeWorkerSpawner } from './worker.ts';

export { nodeWorkerSpawner } from './worker.ts';
import { fileURLToPath } from 'node:url';

const g = globalThis as { Deno?: unknown; Bun?: unknown; Worker?: unknown };
const isNode = !g.Deno && !g.Bun;

/**
 * Node 20 validates relaxed SIMD only behind --experimental-wasm-relaxed-simd, which NODE_OPTIONS does
 * not accept; setting it at run time works as long as it happens before the module is compiled.
 * Returns whether relaxed SIMD is now available.
 */
export function enableRelaxedSimd(): boolean {
  if (!hasRelaxedSimd() && isNode) setFlagsFromString('--experimental-wasm-relaxed-simd');
  return hasRelaxedSimd();
}

const files = new Map<WasmVariant, Promise<Uint8Array>>();
/** the bytes of one build, read once per process (the same object lets the core compile it once) */
export function loadWasmFile(variant: WasmVariant): Promise<Uint8Array> {
  let p = files.get(variant);
  if (!p) {
    const url = kernelLocation(variant);
    p = (url.protocol === 'file:' ? readFile(url).then((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)) : fetchKernel(variant)).catch((err) => {
      files.delete(variant);
      throw new Error(
        `wasm backend: cannot read ${url.protocol === 'file:' ? fileURLToPath(url) : url.href} (in a clone, \`npm run build\` makes it): ${(err as Error).message}`,
      );
    });
    files.set(variant, p);
  }
  return p;
}

export async function createNodeWasmBackend(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
  enableRelaxedSimd();
  // Bun's Web Workers can be unref'd and Deno's cannot: Deno (and Node) get worker_threads
  const spawnWorker = opts.spawnWorker ?? (g.Bun && typeof g.Worker === 'function' ? webWorkerSpawner() : nodeWorkerSpawner);
  return createWasmBackend({ load: loadWasmFile, ...opts, spawnWorker, threads: opts.threads ?? availableParallelism() });
}
