// WebGPU for Deno: the built-in navigator.gpu (wgpu; llvmpipe through Debian's mesa-vulkan-drivers on
// GPU-less machines, see scripts/setup-webgpu.sh).
import { requestDeviceFrom, type RequestDeviceOptions, type WebGPUDeviceHandle } from '../../src/backend/webgpu/adapter.ts';

export type { WebGPUDeviceHandle } from '../../src/backend/webgpu/adapter.ts';

/** A device, or null when Deno has no navigator.gpu or no adapter. */
export async function requestDevice(opts: RequestDeviceOptions = {}): Promise<WebGPUDeviceHandle | null> {
  const gpu = (globalThis.navigator as (Navigator & { gpu?: GPU }) | undefined)?.gpu;
  if (!gpu) return null;
  return requestDeviceFrom(gpu, opts);
}
