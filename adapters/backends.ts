// Backend selection for Node (and Bun/Deno through their Node compatibility): --backend
// webgpu | wasm | reference | auto. `auto` takes WebGPU when a non-fallback adapter exists, else WASM.
import type { Backend } from '../src/backend/backend.ts';
import { ReferenceBackend } from '../src/backend/reference/reference.ts';

export type BackendKind = 'auto' | 'webgpu' | 'wasm' | 'reference';
export const BACKEND_KINDS: BackendKind[] = ['auto', 'webgpu', 'wasm', 'reference'];

export interface BackendOptions {
  threads?: number;
}

export async function createBackend(kind: string, _opts: BackendOptions = {}): Promise<Backend> {
  if (!BACKEND_KINDS.includes(kind as BackendKind)) throw new Error(`unknown backend "${kind}"; choose one of ${BACKEND_KINDS.join(', ')}`);
  switch (kind as BackendKind) {
    case 'reference':
      return new ReferenceBackend();
    case 'wasm':
    case 'webgpu':
      throw new Error(`the ${kind} backend is not built into this version yet; use --backend reference`);
    case 'auto':
      return new ReferenceBackend();
  }
}
