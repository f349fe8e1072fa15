// gptedge/browser: the portable core with what a page or a Web Worker has: WebGPU through
// navigator.gpu, WASM kernels fetched from beside wasm/kernels.ts (or `wasmEnv.wasmPaths`) with Web
// Workers when the page is cross-origin isolated, and the one-call `load` / `create` (models from
// http(s) URLs or in-memory files; there is no file system: save() takes a FileSystem you give it).
import type { Backend } from '../../src/backend/backend.ts';
import { selectBackend, type BackendChoice, type BackendOptions, type BackendProviders } from '../../src/backend/select.ts';
import { createWasmBackend } from '../../src/backend/wasm/index.ts';
import { createWith, loadWith, type CreateOptions, type LoadOptions, type ModelSource, type Pipeline, type Runtime } from '../../src/pipeline/index.ts';
import { requestDevice } from './webgpu.ts';

export * from '../../src/index.ts';
export { requestDevice } from './webgpu.ts';

export const browserProviders: BackendProviders = {
  webgpu: () => requestDevice(),
  wasm: (threads) => createWasmBackend({ threads }),
};

/** The backend of `kind` and the one line that says which and why. */
export function chooseBackend(kind: string = 'auto', opts: BackendOptions = {}): Promise<BackendChoice> {
  return selectBackend(kind, browserProviders, opts);
}

/** The backend of `kind`: 'auto' (default: WebGPU on a real GPU, else WASM, else reference), 'webgpu', 'wasm', 'reference'. */
export async function createBackend(kind: string = 'auto', opts: BackendOptions = {}): Promise<Backend> {
  return (await chooseBackend(kind, opts)).backend;
}

/** The browser's backends (no file system), for loadWith/createWith and code that takes a Runtime. */
export const runtime: Runtime = { chooseBackend };

/** Opens a model from an http(s) URL (progress through `onProgress`) or in-memory files. */
export function load(source: ModelSource, o: LoadOptions = {}): Promise<Pipeline> {
  return loadWith(runtime, source, o);
}

/** A new, randomly initialised GPT with its tokenizer, ready to pretrain. */
export function create(o: CreateOptions): Promise<Pipeline> {
  return createWith(runtime, o);
}
