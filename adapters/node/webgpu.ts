// WebGPU for Node and Bun through the npm `webgpu` package (Dawn's prebuilt dawn.node).
//
// On GPU-less Linux machines Dawn needs Mesa 25's lavapipe (Debian 12's Mesa 22 gives no adapter):
// scripts/setup-webgpu.sh puts one in .cache/mesa/ and writes .cache/mesa/env.json; when the caller has not
// set VK_ICD_FILENAMES itself, this module applies that file before Dawn starts (the Vulkan loader reads
// the variable when the instance is created, so setting it in-process is enough under Node). Under Bun,
// process.env does not reach the native loader: source .cache/mesa/env.sh before `bun ...` instead.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requestDeviceFrom, type RequestDeviceOptions, type WebGPUDeviceHandle } from '../../src/backend/webgpu/adapter.ts';

export type { WebGPUDeviceHandle } from '../../src/backend/webgpu/adapter.ts';

let gpu: GPU | null = null;

/** Applies .cache/mesa/env.json (from scripts/setup-webgpu.sh) unless VK_ICD_FILENAMES is already set. */
export function applyLocalMesaEnv(): string | null {
  if (process.env.VK_ICD_FILENAMES) return null;
  const file = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '.cache', 'mesa', 'env.json');
  if (!existsSync(file)) return null;
  const env = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  process.env.VK_ICD_FILENAMES = env.VK_ICD_FILENAMES;
  process.env.XDG_RUNTIME_DIR ??= env.XDG_RUNTIME_DIR;
  return file;
}

/** A device from Dawn, or null with no adapter. Throws if the `webgpu` package cannot load. */
export async function requestDevice(opts: RequestDeviceOptions = {}): Promise<WebGPUDeviceHandle | null> {
  if (!gpu) {
    applyLocalMesaEnv();
    let dawn: { create(o: string[]): GPU; globals: object };
    try {
      dawn = (await import('webgpu')) as typeof dawn;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') throw new Error('WebGPU on Node and Bun needs the optional npm package webgpu (Dawn): npm install webgpu');
      throw err;
    }
    // WebGPU's enum objects (GPUBufferUsage, ...) for code that expects them as globals, as in a browser
    for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    gpu = dawn.create([]);
  }
  return requestDeviceFrom(gpu, opts);
}
