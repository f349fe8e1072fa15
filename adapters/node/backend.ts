// createBackend for Node (Bun's entry reuses it): WebGPU through the npm `webgpu` package (Dawn, an
// optional dependency), WASM with worker_threads, or the reference backend; `auto` falls back in that
// order with a one-line reason (src/backend/select.ts).
import { readdirSync } from 'node:fs';
import type { Backend } from '../../src/backend/backend.ts';
import { selectBackend, type BackendChoice, type BackendOptions, type BackendProviders } from '../../src/backend/select.ts';
import { createNodeWasmBackend } from './wasm.ts';

export { BACKEND_KINDS, type BackendKind, type BackendOptions, type BackendChoice } from '../../src/backend/select.ts';

/**
 * On Linux a real GPU shows up as a DRM render node or an NVIDIA device file. Without one, Dawn can only
 * offer a software adapter — slower than WASM, so `auto` would not take it — and probing costs start-up
 * time and prints Dawn's limit warnings; so `auto` skips the probe there.
 */
function mayHaveGpu(): boolean {
  if (process.platform !== 'linux') return true;
  const has = (dir: string, re: RegExp) => {
    try {
      return readdirSync(dir).some((n) => re.test(n));
    } catch {
      return false;
    }
  };
  return has('/dev/dri', /^renderD\d+$/) || has('/dev', /^nvidia\d+$/);
}

export const nodeProviders: BackendProviders = {
  webgpu: async (o) => (await import('./webgpu.ts')).requestDevice(o),
  // WebGPU cannot tell how much memory the GPU has: GPTEDGE_GPU_MEMORY_GIB states it, refused up front when exceeded
  webgpuOptions: () => {
    const gib = Number(process.env.GPTEDGE_GPU_MEMORY_GIB);
    return { memoryBudgetBytes: gib > 0 ? gib * 1024 ** 3 : undefined };
  },
  wasm: (threads) => createNodeWasmBackend({ threads }),
  mayHaveGpu,
};

/** The backend of `kind` and the one line that says which and why. */
export function chooseBackend(kind: string = 'auto', opts: BackendOptions = {}): Promise<BackendChoice> {
  return selectBackend(kind, nodeProviders, opts);
}

/** The backend of `kind`: 'auto' (default: WebGPU on a real GPU, else WASM, else reference), 'webgpu', 'wasm', 'reference'. */
export async function createBackend(kind: string = 'auto', opts: BackendOptions = {}): Promise<Backend> {
  return (await chooseBackend(kind, opts)).backend;
}
