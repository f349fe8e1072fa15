// gptedge/bun: the portable core with Bun's files (Bun implements node:fs: NodeFileSystem), backends
// (Dawn's `webgpu` addon, WASM kernels read from disk with Bun's Web Workers) and server (Bun.serve), and
// the one-call `load` / `create` bound to them.
import { createWith, loadWith, type CreateOptions, type LoadOptions, type ModelSource, type Pipeline, type Runtime } from '../../src/pipeline/index.ts';
import { chooseBackend } from '../node/backend.ts';
import { NodeFileSystem } from '../node/fs.ts';

export * from '../../src/index.ts';
export { chooseBackend, createBackend } from '../node/backend.ts';
export { NodeFileSystem } from '../node/fs.ts';
export { requestDevice } from '../node/webgpu.ts';
export { serveBun as serve } from './server.ts';
export type { RunningServer } from '../node/server.ts';

/** Bun's files and backends, for loadWith/createWith and code that takes a Runtime. */
export const runtime: Runtime = { fs: new NodeFileSystem(), chooseBackend };

/** Opens a model folder, an http(s) URL or in-memory files on the best backend Bun offers. */
export function load(source: ModelSource, o: LoadOptions = {}): Promise<Pipeline> {
  return loadWith(runtime, source, o);
}

/** A new, randomly initialised GPT with its tokenizer, ready to pretrain. */
export function create(o: CreateOptions): Promise<Pipeline> {
  return createWith(runtime, o);
}
