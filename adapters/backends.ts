// Backend selection for Node (and Bun/Deno through their Node compatibility): --backend
// webgpu | wasm | reference | auto. `auto` takes WebGPU when a non-fallback adapter exists, else WASM.
import type { Backend } from '../src/backend/backend.ts';
import { ReferenceBackend } from '../src/backend/reference/reference.ts';
import { createNodeWasmBackend } from './wasm-node.ts';
import { createWebGPUBackend } from '../src/backend/webgpu/webgpu.ts';

export type BackendKind = 'auto' | 'webgpu' | 'wasm' | 'reference';
export const BACKEND_KINDS: BackendKind[] = ['auto', 'webgpu', 'wasm', 'reference'];

export interface BackendOptions {
  /** WASM worker threads (default: available cores) */
  threads?: number;
}

export async function createBackend(kind: string, opts: BackendOptions = {}): Promise<Backend> {
  if (!BACKEND_KINDS.includes(kind as BackendKind)) throw new Error(`unknown backend "${kind}"; choose one of ${BACKEND_KINDS.join(', ')}`);
  switch (kind as BackendKind) {
    case 'reference':
      return new ReferenceBackend();
    case 'wasm':
      return createNodeWasmBackend({ threads: opts.threads });
    case 'webgpu': {
      const h = await (await import('./webgpu-node.ts')).requestDevice();
      if (!h) throw new Error('--backend webgpu: no WebGPU adapter found (on a machine without a GPU, run scripts/setup-webgpu.sh for a software one)');
      return createWebGPUBackend(h.device, { name: `webgpu-${h.adapterName}` });
    }
    case 'auto': {
      // a software adapter (lavapipe, SwiftShader) is slower than WASM: only a real GPU wins
      const h = await (await import('./webgpu-node.ts')).requestDevice().catch(() => null);
      if (h && !h.software) return createWebGPUBackend(h.device, { name: `webgpu-${h.adapterName}` });
      h?.device.destroy();
      return createNodeWasmBackend({ threads: opts.threads });
    }
  }
}
