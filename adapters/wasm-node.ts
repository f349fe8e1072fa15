// The WASM backend on Node (and on Deno and Bun through their node: modules): reads wasm/build/*.wasm,
// turns on relaxed SIMD where Node 20 keeps it behind a flag, and spawns workers — worker_threads on
// Node, Web Workers where the runtime has them (Deno, Bun).
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import {
  createWasmBackend,
  hasRelaxedSimd,
  type SpawnWorker,
  type WasmBackend,
  type WasmBackendOptions,
  type WasmVariant,
  webWorkerSpawner,
} from '../src/backend/wasm/index.ts';

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

/** worker_threads, running the pool's worker source as an eval'd CommonJS script */
export const nodeWorkerSpawner: SpawnWorker = (source) => {
  const boot = source + "\nconst { parentPort } = require('node:worker_threads');\ngptedgeWorker((m) => parentPort.postMessage(m), (cb) => parentPort.on('message', cb));\n";
  const w = new Worker(boot, { eval: true });
  w.unref(); // a blocked worker must not keep the process alive
  return {
    post: (m) => w.postMessage(m),
    onMessage: (cb) => void w.on('message', cb),
    onError: (cb) => void w.on('error', cb),
    terminate: () => void w.terminate(),
  };
};

const files = new Map<WasmVariant, Promise<Uint8Array>>();
/** the bytes of one build, read once per process (the same object lets the core compile it once) */
export function loadWasmFile(variant: WasmVariant): Promise<Uint8Array> {
  let p = files.get(variant);
  if (!p) {
    const url = new URL(`../wasm/build/gptedge-${variant}.wasm`, import.meta.url);
    p = readFile(url).then((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength), (err) => {
      files.delete(variant);
      throw new Error(`wasm backend: cannot read ${url.pathname} (run \`node wasm/build.mjs\`): ${(err as Error).message}`);
    });
    files.set(variant, p);
  }
  return p;
}

export async function createNodeWasmBackend(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
  enableRelaxedSimd();
  const spawnWorker = opts.spawnWorker ?? (isNode || typeof g.Worker !== 'function' ? nodeWorkerSpawner : webWorkerSpawner());
  return createWasmBackend({ load: loadWasmFile, ...opts, spawnWorker, threads: opts.threads ?? availableParallelism() });
}
