// gptedge/node: the portable core with Node's files (NodeFileSystem), backends (WebGPU through the
// optional `webgpu` package, WASM kernels read from disk with worker_threads) and HTTP server
// (@hono/node-server), and the one-call `load` / `create` bound to them.
import { createWith, loadWith, type CreateOptions, type LoadOptions, type ModelSource, type Pipeline, type Runtime } from '../../src/pipeline/index.ts';
import { chooseBackend } from './backend.ts';
import { NodeFileSystem } from './fs.ts';

export * from '../../src/index.ts';
export { chooseBackend, createBackend, nodeProviders } from './backend.ts';
export { NodeFileSystem } from './fs.ts';
export { createNodeWasmBackend, enableRelaxedSimd, nodeWorkerSpawner, loadWasmFile } from './wasm.ts';
export { requestDevice } from './webgpu.ts';
export { serveNode as serve, type RunningServer } from './server.ts';

/** Node's files and backends, for loadWith/createWith and code that takes a Runtime. */
export const runtime: Runtime = { fs: new NodeFileSystem(), chooseBackend };

/** Opens a model folder, an http(s) URL or in-memory files on the best backend Node offers. */
export function load(source: ModelSource, o: LoadOptions = {}): Promise<Pipeline> {
  return loadWith(runtime, source, o);
}

/** A new, randomly initialised GPT with its tokenizer, ready to pretrain. */
export function create(o: CreateOptions): Promise<Pipeline> {
  return createWith(runtime, o);
}
