// createWasmBackend: picks the kernel build (relaxed SIMD where the engine has it as the int8 kernels need,
// else SIMD128),
// instantiates it over a memory this backend owns, and starts a worker pool when threads > 1.
// Nothing here touches files or runtime-specific APIs: the .wasm bytes come from `load` (adapters that
// read files), `modules` (precompiled, as workerd requires) or, by default, a fetch of the build beside
// wasm/kernels.ts (assets.ts); workers come from `spawnWorker`, by default Web Workers where the runtime
// has them (browsers, Deno, Bun; Node's worker_threads: adapters/node/wasm.ts).
import type { WasmVariant } from '../../../wasm/kernels.ts';
import { fetchKernel, wasmEnv, type WasmEnv } from './assets.ts';
import { hasSharedMemory, hasSimd128, kernelDotMatches, relaxedSimdStatus } from './features.ts';
import { Pool, type SpawnWorker, CTRL_BYTES, MAX_THREADS, webWorkerSpawner } from './pool.ts';
import { WasmBackend } from './wasm-backend.ts';
import { bindKernels } from './kernels.ts';

export { WasmBackend } from './wasm-backend.ts';
export { webWorkerSpawner, WORKER_SOURCE, type SpawnWorker, type WorkerPort } from './pool.ts';
export { hasRelaxedSimd, hasSharedMemory, hasSimd128, relaxedSimdStatus } from './features.ts';

export { wasmEnv, kernelLocation, fetchKernel, type WasmEnv } from './assets.ts';
export { kernelURL, kernelFile, WASM_VARIANTS, type WasmVariant } from '../../../wasm/kernels.ts';
type ModuleSource = WebAssembly.Module | BufferSource;

export interface WasmBackendOptions {
  /** worker threads including the caller's; default: navigator.hardwareConcurrency where workers can be spawned, else 1 */
  threads?: number;
  /** 'auto' (default): relaxed SIMD where the engine has it and its int8 dot is exact (features.ts), else SIMD128 */
  simd?: 'auto' | 'simd128' | 'relaxed';
  /**
   * fetches one build: bytes (preferred: workers in every runtime can compile them) or a compiled module.
   * Default: fetch it from `wasmPaths`, else from beside wasm/kernels.ts.
   */
  load?: (variant: WasmVariant) => ModuleSource | Promise<ModuleSource>;
  /** where the default `load` fetches from (overrides the process-wide `wasmEnv.wasmPaths`) */
  wasmPaths?: WasmEnv['wasmPaths'];
  /** builds given up front (e.g. `import mod from './gptedge-relaxed.wasm'` under workerd) */
  modules?: Partial<Record<WasmVariant, ModuleSource>>;
  /** starts a worker (default: Web Workers where the runtime has them) */
  spawnWorker?: SpawnWorker;
  /** where the one-line notice goes when threads were asked for but cannot be had (default console.warn: stderr on servers) */
  log?: (message: string) => void;
  /** linear memory limit in bytes; default and maximum 4 GiB */
  maxMemoryBytes?: number;
  /** with threads: how long a thread waiting for work spins before it sleeps, µs (default 2000; see pool.ts) */
  spinMicros?: number;
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

const INEXACT_DOT =
  "wasm backend: relaxed SIMD requested, but this engine's i16x8.relaxed_dot_i8x16_i7x16_s is not exact where the int8 kernels need it (use simd: 'simd128')";

export async function createWasmBackend(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
  if (!hasSimd128()) throw new Error('wasm backend: this engine has no WebAssembly SIMD128');
  const simd = opts.simd ?? 'auto';
  const status = relaxedSimdStatus();
  if (simd === 'relaxed' && status === 'absent')
    throw new Error('wasm backend: relaxed SIMD requested, but WebAssembly.validate rejects it here (Node 20 needs --experimental-wasm-relaxed-simd)');
  if (simd === 'relaxed' && status === 'inexact') throw new Error(INEXACT_DOT);
  const spawnWorker = opts.spawnWorker ?? (typeof (globalThis as { Worker?: unknown }).Worker === 'function' ? webWorkerSpawner() : undefined);
  const canThread = !!spawnWorker && hasSharedMemory();
  const hc = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  let threads = Math.min(MAX_THREADS, Math.max(1, Math.floor(opts.threads ?? (canThread ? (hc ?? 1) : 1))));
  if (threads > 1 && !canThread) {
    const why = spawnWorker ? 'no SharedArrayBuffer here (browsers give it only to cross-origin-isolated pages)' : 'this runtime has no Worker';
    sayOnce(opts.log, `gptedge: WASM runs on 1 thread instead of ${threads}: ${why}`);
    threads = 1;
  }
  // 'unchecked' (workerd): the relaxed build when it can be had — a loader, or the very module given
  const canLoad = (v: WasmVariant) => !opts.modules || !!opts.load || opts.modules[v] !== undefined;
  let relaxed = simd === 'relaxed' || (simd === 'auto' && (status === 'exact' || (status === 'unchecked' && canLoad(variantOf(true, threads)))));
  const maxBytes = Math.min(opts.maxMemoryBytes ?? 2 ** 32, 2 ** 32);

  let k = await instantiateBuild(relaxed, threads, maxBytes, opts);
  if (relaxed && status === 'unchecked' && !kernelDotMatches(k.kernels.dotI8Pairs, k.memory, k.ctrl + CTRL_BYTES)) {
    // the engine would not compile a probe, and the relaxed build's own dot is not exact: SIMD128 then
    if (simd === 'relaxed') throw new Error(INEXACT_DOT);
    relaxed = false;
    k = await instantiateBuild(false, threads, maxBytes, opts);
  }

  let pool: Pool | null = null;
  if (threads > 1) {
    pool = await Pool.start({
      exports: k.exports,
      memory: k.memory,
      ctrl: k.ctrl,
      module: k.module,
      bytes: k.bytes,
      threads,
      spawn: spawnWorker!,
      spinMicros: opts.spinMicros,
    });
  }
  const name = `wasm-${relaxed ? 'relaxed' : 'simd128'}${threads > 1 ? `-x${threads}` : ''}`;
  return new WasmBackend(name, k.memory, k.exports, pool, k.ctrl, maxBytes);
}

const variantOf = (relaxed: boolean, threads: number) => `${relaxed ? 'relaxed' : 'simd128'}${threads > 1 ? '-mt' : ''}` as WasmVariant;

/** one kernel build, instantiated over a fresh memory of at most maxBytes */
async function instantiateBuild(relaxed: boolean, threads: number, maxBytes: number, opts: WasmBackendOptions) {
  const variant = variantOf(relaxed, threads);
  const src =
    opts.modules?.[variant] ??
    (await (opts.load ?? ((v: WasmVariant) => fetchKernel(v, opts.wasmPaths ? { ...wasmEnv, wasmPaths: opts.wasmPaths } : wasmEnv)))(variant));
  if (!src) throw new Error(`wasm backend: no ${variant} build given (pass load or modules)`);
  const { module, bytes } = await compile(src);
  const maximum = Math.ceil(maxBytes / 65536);
  const memory = new WebAssembly.Memory({ initial: 64, maximum, shared: threads > 1 } as WebAssembly.MemoryDescriptor);
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const exports = instance.exports as Record<string, unknown>,
    kernels = bindKernels(exports);
  // the control block (futex words, arguments, partial sums) sits right after the kernels' static data
  const ctrl = kernels.heapBase();
  if (ctrl + CTRL_BYTES + 4096 > memory.buffer.byteLength) throw new Error('wasm backend: static data larger than expected');
  return { module, bytes, memory, exports, kernels, ctrl };
}

const said = new Set<string>();
/** one line per distinct message and process: a notice, not a log flood */
function sayOnce(log: ((m: string) => void) | undefined, message: string): void {
  if (said.has(message)) return;
  said.add(message);
  (log ?? ((m: string) => console.warn(m)))(message);
}
