// WebGPU for Node and Bun through the npm `webgpu` package (Dawn's prebuilt dawn.node).
//
// On GPU-less Linux machines Dawn needs Mesa 25's lavapipe (Debian 12's Mesa 22 gives no adapter):
// scripts/setup-webgpu.sh puts one in .cache/mesa/ and writes .cache/mesa/env.json. That software adapter
// is used only when asked for — `softwareFallback: true`, or GPTEDGE_SOFTWARE_VULKAN=1 in the environment
// (the tests ask) — and only when the system offers no adapter at all: the system's drivers are tried
// first, so a machine with a real GPU always gets it. A VK_ICD_FILENAMES set by the caller is never
// replaced. The Vulkan loader reads the variable when an instance is created, so setting it in-process and
// creating a new instance is enough under Node; under Bun, process.env does not reach the native loader:
// source .cache/mesa/env.sh before `bun ...` instead.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requestDeviceFrom, type RequestDeviceOptions, type WebGPUDeviceHandle } from '../../src/backend/webgpu/adapter.ts';

export type { WebGPUDeviceHandle } from '../../src/backend/webgpu/adapter.ts';

export interface NodeDeviceOptions extends RequestDeviceOptions {
  /**
   * With no adapter from the system's drivers, use the software Vulkan (lavapipe) of .cache/mesa
   * (scripts/setup-webgpu.sh). Default: GPTEDGE_SOFTWARE_VULKAN=1 in the environment.
   */
  softwareFallback?: boolean;
  /** Dawn instance flags, e.g. 'enable-dawn-features=disable_robustness' (see the `webgpu` package's README) */
  dawnFlags?: string[];
}

/** Dawn instances by their flags: one per process each, made again after the Vulkan environment changes. */
const instances = new Map<string, GPU>();

async function instance(flags: string[]): Promise<GPU> {
  const key = flags.join(' ');
  let gpu = instances.get(key);
  if (!gpu) {
    let dawn: { create(o: string[]): GPU; globals: object };
    try {
      dawn = (await import('webgpu')) as typeof dawn;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND')
        throw new Error('WebGPU on Node and Bun needs the optional npm package webgpu (Dawn): npm install webgpu');
      throw err;
    }
    // WebGPU's enum objects (GPUBufferUsage, ...) for code that expects them as globals, as in a browser
    for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    instances.set(key, (gpu = dawn.create(flags)));
  }
  return gpu;
}

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
export async function requestDevice(opts: NodeDeviceOptions = {}): Promise<WebGPUDeviceHandle | null> {
  const flags = opts.dawnFlags ?? [];
  const h = await requestDeviceFrom(await instance(flags), opts);
  if (h || !(opts.softwareFallback ?? process.env.GPTEDGE_SOFTWARE_VULKAN === '1')) return h;
  if (!applyLocalMesaEnv()) return null;
  instances.clear(); // a new instance reads the new VK_ICD_FILENAMES
  return requestDeviceFrom(await instance(flags), opts);
}
