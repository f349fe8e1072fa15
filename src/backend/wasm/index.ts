// createWasmBackend: picks the kernel build (relaxed SIMD when the engine validates it, else SIMD128),
// instantiates it over a memory this backend owns, and starts a worker pool when threads > 1.
// Nothing here touches files or runtime-specific APIs: the .wasm bytes (or a compiled module, as
// workerd requires) come from `load`/`modules`, and workers from `spawnWorker` (see adapters/wasm-node.ts).
import { hasRelaxedSimd, hasSharedMemory, hasSimd128 } from './features.ts';
import { Pool, type SpawnWorker, CTRL_BYTES, MAX_THREADS } from './pool.ts';
import { WasmBackend } from './wasm-backend.ts';

export { WasmBackend } from './wasm-backend.ts';
export { webWorkerSpawner, WORKER_SOURCE, type SpawnWorker, type WorkerPort } from './pool.ts';
export { hasRelaxedSimd, hasSharedMemory, hasSimd128 } from './features.ts';

/** The four builds of wasm/build.mjs: SIMD128 or relaxed SIMD; private or shared (-mt) memory. */
export type WasmVariant = 'simd128' | 'relaxed' | 'simd128-mt' | 'relaxed-mt';
type ModuleSource = WebAssembly.Module | BufferSource;

export interface WasmBackendOptions {
  /** worker threads including the caller's; default: navigator.hardwareConcurrency where workers can be spawned, else 1 */
  threads?: number;
  /** 'auto' (default): relaxed SIMD where WebAssembly.validate accepts it, else SIMD128 */
  simd?: 'auto' | 'simd128' | 'relaxed';
  /** fetches one build: bytes (preferred: workers in every runtime can compile them) or a compiled module */
  load?: (variant: WasmVariant) => ModuleSource | Promise<ModuleSource>;
  /** builds given up front (e.g. `import mod from './gptedge-relaxed.wasm'` under workerd) */
  modules?: Partial<Record<WasmVariant, ModuleSource>>;
  /** starts a worker; required for threads > 1 */
  spawnWorker?: SpawnWorker;
  /** linear memory limit in bytes; default and maximum 4 GiB */
  maxMemoryBytes?: number;
}

const compiled = new WeakMap<object, Promise<WebAssembly.Module>>();

async function compile(src: ModuleSource): Promise<{ module: WebAssembly.Module; bytes: BufferSource | null }> {
  if (src instanceof WebAssembly.Module) return { module: src, bytes: null };
  // the same bytes object (an adapter caches it) compiles once per process
  let m = compiled.get(src);
  if (!m) {
    m = WebAssembly.compile(src);
    compiled.set(src, m);
  }
  return { module: await m, bytes: src };
}

export async function createWasmBackend(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
  if (!hasSimd128()) throw new Error('wasm backend: this engine has no WebAssembly SIMD128');
  const simd = opts.simd ?? 'auto';
  const relaxed = simd === 'relaxed' || (simd === 'auto' && hasRelaxedSimd());
  if (simd === 'relaxed' && !hasRelaxedSimd()) throw new Error('wasm backend: relaxed SIMD requested, but WebAssembly.validate rejects it here (Node 20 needs --experimental-wasm-relaxed-simd)');

  const canThread = !!opts.spawnWorker && hasSharedMemory();
  const hc = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  const threads = Math.min(MAX_THREADS, Math.max(1, Math.floor(opts.threads ?? (canThread ? hc ?? 1 : 1))));
  if (threads > 1 && !canThread) {
    throw new Error(`wasm backend: ${threads} threads need ${opts.spawnWorker ? 'SharedArrayBuffer (cross-origin isolation in browsers)' : 'a spawnWorker function'}`);
  }

  const variant = `${relaxed ? 'relaxed' : 'simd128'}${threads > 1 ? '-mt' : ''}` as WasmVariant;
  const src = opts.modules?.[variant] ?? (await opts.load?.(variant));
  if (!src) throw new Error(`wasm backend: no ${variant} build given (pass load or modules)`);
  const { module, bytes } = await compile(src);

  const maxBytes = Math.min(opts.maxMemoryBytes ?? 2 ** 32, 2 ** 32);
  const maximum = Math.ceil(maxBytes / 65536);
  const memory = new WebAssembly.Memory({ initial: 64, maximum, shared: threads > 1 } as WebAssembly.MemoryDescriptor);
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const exports = instance.exports as Record<string, unknown>;
  // the control block (futex words, arguments, partial sums) sits right after the kernels' static data
  const ctrl = (exports.heapBase as () => number)();
  if (ctrl + CTRL_BYTES + 4096 > memory.buffer.byteLength) throw new Error('wasm backend: static data larger than expected');

  let pool: Pool | null = null;
  if (threads > 1) {
    pool = await Pool.start({ exports: exports as Record<string, (...a: number[]) => void>, memory, ctrl, module, bytes, threads, spawn: opts.spawnWorker! });
  }
  const name = `wasm-${relaxed ? 'relaxed' : 'simd128'}${threads > 1 ? `-x${threads}` : ''}`;
  return new WasmBackend(name, memory, exports, pool, ctrl, maxBytes);
}
