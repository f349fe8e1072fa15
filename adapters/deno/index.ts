// gptedge/deno: the portable core with Deno's files (DenoFileSystem), backends (navigator.gpu, WASM with
// Web Workers) and server (Deno.serve), and the one-call `load` / `create` bound to them.
import { createWith, loadWith, type CreateOptions, type LoadOptions, type ModelSource, type Pipeline, type Runtime } from '../../src/pipeline/index.ts';
import { chooseBackend } from './backend.ts';
import { DenoFileSystem } from './fs.ts';

export * from '../../src/index.ts';
export { chooseBackend, createBackend, denoProviders } from './backend.ts';
export { DenoFileSystem } from './fs.ts';
export { requestDevice } from './webgpu.ts';
export { serveDeno as serve } from './server.ts';
export type { RunningServer } from '../node/server.ts';

/** Deno's files and backends, for loadWith/createWith and code that takes a Runtime. */
export const runtime: Runtime = { fs: new DenoFileSystem(), chooseBackend };

/** Opens a model folder, an http(s) URL or in-memory files on the best backend Deno offers. */
export function load(source: ModelSource, o: LoadOptions = {}): Promise<Pipeline> {
  return loadWith(runtime, source, o);
}

/** A new, randomly initialised GPT with its tokenizer, ready to pretrain. */
export function create(o: CreateOptions): Promise<Pipeline> {
  return createWith(runtime, o);
}
