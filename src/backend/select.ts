// Choosing a backend: every runtime's createBackend('auto' | 'webgpu' | 'wasm' | 'reference') is this
// function with the runtime's pieces injected (how it gets a GPU device, how it builds the WASM backend).
// `auto` falls back WebGPU → WASM → reference and says why in one line; an explicit kind fails loudly.
import type { Backend } from './backend.ts';
import { ReferenceBackend } from './reference/reference.ts';
import { createWebGPUBackend, type WebGPUBackendOptions } from './webgpu/webgpu.ts';
import type { WebGPUDeviceHandle } from './webgpu/adapter.ts';

export type BackendKind = 'auto' | 'webgpu' | 'wasm' | 'reference';
export const BACKEND_KINDS: readonly BackendKind[] = ['auto', 'webgpu', 'wasm', 'reference'];

/** What a runtime can offer. A missing piece means the runtime has no such backend. */
export interface BackendProviders {
  /**
   * a WebGPU device, or null when the runtime has WebGPU but no adapter; `softwareFallback: false` asks the
   * runtime not to reach for a software adapter it keeps in reserve (auto would not take one)
   */
  webgpu?: (o: { softwareFallback?: boolean }) => Promise<WebGPUDeviceHandle | null>;
  /** the WebGPU backend's options for a device (e.g. a memory budget the runtime knows) */
  webgpuOptions?: (h: WebGPUDeviceHandle) => WebGPUBackendOptions;
  /** the WASM backend with `threads` worker threads (undefined: the runtime's default) */
  wasm?: (threads: number | undefined) => Promise<Backend>;
  /** false when probing for a GPU is pointless here (no GPU device node): auto skips WebGPU, saying so */
  mayHaveGpu?: () => boolean;
}

export interface BackendOptions {
  /** WASM worker threads (default: every core the runtime reports, where SharedArrayBuffer exists) */
  threads?: number;
  /** auto takes a software WebGPU adapter (lavapipe, SwiftShader) too; they are correct but slower than WASM */
  allowSoftwareGPU?: boolean;
}

export interface BackendChoice {
  backend: Backend;
  /** one line: which backend, and for `auto` why the faster ones were passed over */
  reason: string;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export async function selectBackend(kind: string, p: BackendProviders, opts: BackendOptions = {}): Promise<BackendChoice> {
  if (!BACKEND_KINDS.includes(kind as BackendKind)) throw new Error(`unknown backend "${kind}"; choose one of ${BACKEND_KINDS.join(', ')}`);
  const webgpu = async (h: WebGPUDeviceHandle) => createWebGPUBackend(h.device, { name: `webgpu-${h.adapterName}`, ...p.webgpuOptions?.(h) });
  switch (kind as BackendKind) {
    case 'reference':
      return { backend: new ReferenceBackend(), reason: 'reference backend (asked for)' };
    case 'wasm': {
      if (!p.wasm) throw new Error('backend wasm: this runtime has no WebAssembly backend');
      const backend = await p.wasm(opts.threads);
      return { backend, reason: `${backend.name} (asked for)` };
    }
    case 'webgpu': {
      if (!p.webgpu) throw new Error('backend webgpu: this runtime has no WebGPU (on Node and Bun, `npm install webgpu`)');
      const h = await p.webgpu({});
      if (!h)
        throw new Error(
          'backend webgpu: no WebGPU adapter found (on a machine without a GPU: scripts/setup-webgpu.sh, then GPTEDGE_SOFTWARE_VULKAN=1 for its software adapter)',
        );
      const backend = await webgpu(h);
      return { backend, reason: `${backend.name} (asked for${h.software ? '; a software adapter, slower than WASM' : ''})` };
    }
    case 'auto': {
      const passed: string[] = [];
      if (!p.webgpu) passed.push('no WebGPU in this runtime');
      else if (p.mayHaveGpu && !p.mayHaveGpu()) passed.push('no GPU device on this machine');
      else {
        const h = await p.webgpu({ softwareFallback: !!opts.allowSoftwareGPU }).catch((err) => {
          passed.push(`WebGPU failed: ${message(err)}`);
          return null;
        });
        if (h && (!h.software || opts.allowSoftwareGPU)) {
          const backend = await webgpu(h);
          return { backend, reason: `${backend.name} (auto: a ${h.software ? 'software' : 'GPU'} adapter)` };
        }
        if (h) {
          passed.push(`WebGPU adapter "${h.adapterName}" is a software one, slower than WASM`);
          h.release();
        } else if (!passed.length) passed.push('no WebGPU adapter');
      }
      if (p.wasm) {
        try {
          const backend = await p.wasm(opts.threads);
          return { backend, reason: `${backend.name} (auto: ${passed.join('; ')})` };
        } catch (err) {
          passed.push(`WASM failed: ${message(err)}`);
        }
      } else passed.push('no WebAssembly backend in this runtime');
      return { backend: new ReferenceBackend(), reason: `reference backend, slow (auto: ${passed.join('; ')})` };
    }
  }
}
