// Backend selection for Node (and Bun/Deno through their Node compatibility): --backend
// webgpu | wasm | reference | auto. `auto` takes WebGPU when a non-fallback adapter exists, else WASM.
import { readdirSync } from 'node:fs';
import type { Backend } from '../src/backend/backend.ts';
import { ReferenceBackend } from '../src/backend/reference/reference.ts';
import { createNodeWasmBackend } from './wasm-node.ts';
import { createWebGPUBackend, type WebGPUBackendOptions } from '../src/backend/webgpu/webgpu.ts';

export type BackendKind = 'auto' | 'webgpu' | 'wasm' | 'reference';
export const BACKEND_KINDS: BackendKind[] = ['auto', 'webgpu', 'wasm', 'reference'];

export interface BackendOptions {
  /** WASM worker threads (default: available cores) */
  threads?: number;
}

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

/** The WebGPU backend's name, and its memory budget from GPTEDGE_GPU_MEMORY_GIB (WebGPU cannot tell it). */
function webgpuOptions(adapterName: string): WebGPUBackendOptions {
  const gib = Number(process.env.GPTEDGE_GPU_MEMORY_GIB);
  return { name: `webgpu-${adapterName}`, memoryBudgetBytes: gib > 0 ? gib * 1024 ** 3 : undefined };
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
      if (!h) throw new Error('--backend webgpu: no WebGPU adapter found (on a machine without a GPU: scripts/setup-webgpu.sh, then GPTEDGE_SOFTWARE_VULKAN=1 for its software adapter)');
      return createWebGPUBackend(h.device, webgpuOptions(h.adapterName));
    }
    case 'auto': {
      // a software adapter (lavapipe, SwiftShader) is slower than WASM: only a real GPU wins
      const h = mayHaveGpu() ? await (await import('./webgpu-node.ts')).requestDevice({ softwareFallback: false }).catch(() => null) : null;
      if (h && !h.software) return createWebGPUBackend(h.device, webgpuOptions(h.adapterName));
      h?.device.destroy();
      return createNodeWasmBackend({ threads: opts.threads });
    }
  }
}
