// createBackend for Deno: WebGPU through Deno's own navigator.gpu, WASM kernels read from beside
// wasm/kernels.ts (Deno fetches file: URLs) with a worker_threads pool, or the reference backend.
import type { Backend } from '../../src/backend/backend.ts';
import { selectBackend, type BackendChoice, type BackendOptions, type BackendProviders } from '../../src/backend/select.ts';
import { createWasmBackend } from '../../src/backend/wasm/index.ts';
import { nodeWorkerSpawner } from '../node/worker.ts';
import { requestDevice } from './webgpu.ts';

export const denoProviders: BackendProviders = {
  webgpu: () => requestDevice(),
  // worker_threads rather than Web Workers: only those can be unref'd, so a finished script exits
  wasm: (threads) => createWasmBackend({ threads, spawnWorker: nodeWorkerSpawner }),
};

/** The backend of `kind` and the one line that says which and why. */
export function chooseBackend(kind: string = 'auto', opts: BackendOptions = {}): Promise<BackendChoice> {
  return selectBackend(kind, denoProviders, opts);
}

/** The backend of `kind`: 'auto' (default: WebGPU on a real GPU, else WASM, else reference), 'webgpu', 'wasm', 'reference'. */
export async function createBackend(kind: string = 'auto', opts: BackendOptions = {}): Promise<Backend> {
  return (await chooseBackend(kind, opts)).backend;
}
