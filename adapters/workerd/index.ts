// gptedge/workerd: the portable core for Cloudflare Workers and workerd. workerd refuses to compile
// WebAssembly from bytes and has no worker threads or WebGPU, so the WASM kernels arrive as modules the
// runtime compiled — imported by the worker and passed in — and run on one thread:
//
//   import simd128 from 'gptedge/wasm/gptedge-simd128.wasm';
//   import relaxed from 'gptedge/wasm/gptedge-relaxed.wasm';
//   const gpt = await load('https://models.example/demo/', { modules: { simd128, relaxed } });
//
// Weights come from a fetch, or from a binding (R2, KV) as in-memory files: load({ files: {...} }, ...).
import type { Backend } from '../../src/backend/backend.ts';
import { selectBackend, type BackendChoice, type BackendOptions } from '../../src/backend/select.ts';
import { createWasmBackend, type WasmVariant } from '../../src/backend/wasm/index.ts';
import { createWith, loadWith, type CreateOptions, type LoadOptions, type ModelSource, type Pipeline, type Runtime } from '../../src/pipeline/index.ts';

export * from '../../src/index.ts';

/** The single-thread builds, as the runtime compiled them (the -mt builds need threads workerd lacks). */
export type KernelModules = Partial<Record<Extract<WasmVariant, 'simd128' | 'relaxed'>, WebAssembly.Module>>;

export interface WorkerdOptions {
  /** the WASM kernel modules the worker imported (see above); without them only the reference backend runs */
  modules?: KernelModules;
}

/** A Runtime whose WASM backend runs the given modules on one thread. */
export function workerdRuntime(modules: KernelModules | undefined): Runtime {
  const providers = modules && Object.keys(modules).length ? { wasm: () => createWasmBackend({ modules, threads: 1 }) } : {};
  return { chooseBackend: (kind: string, o: BackendOptions) => selectBackend(kind, providers, o) };
}

/** The backend of `kind`; 'auto' is WASM when kernel modules are given, else the reference backend. */
export function chooseBackend(kind: string = 'auto', o: BackendOptions & WorkerdOptions = {}): Promise<BackendChoice> {
  return workerdRuntime(o.modules).chooseBackend(kind, o);
}

export async function createBackend(kind: string = 'auto', o: BackendOptions & WorkerdOptions = {}): Promise<Backend> {
  return (await chooseBackend(kind, o)).backend;
}

/** Opens a model from an http(s) URL or in-memory files (e.g. read from an R2 or KV binding). */
export function load(source: ModelSource, o: LoadOptions & WorkerdOptions = {}): Promise<Pipeline> {
  return loadWith(workerdRuntime(o.modules), source, o);
}

/** A new, randomly initialised GPT with its tokenizer. */
export function create(o: CreateOptions & WorkerdOptions): Promise<Pipeline> {
  return createWith(workerdRuntime(o.modules), o);
}
