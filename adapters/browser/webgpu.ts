// WebGPU in browsers (and workers): navigator.gpu. Chromium needs a secure context (https or 127.0.0.1);
// headless Chromium on Linux only offers SwiftShader, and only with --enable-unsafe-webgpu.
import { requestDeviceFrom, type RequestDeviceOptions, type WebGPUDeviceHandle } from '../../src/backend/webgpu/adapter.ts';

export type { WebGPUDeviceHandle } from '../../src/backend/webgpu/adapter.ts';

/** A device, or null when the browser has no WebGPU or no adapter. */
export async function requestDevice(opts: RequestDeviceOptions = {}): Promise<WebGPUDeviceHandle | null> {
  const gpu = (globalThis.navigator as (Navigator & { gpu?: GPU }) | undefined)?.gpu;
  if (!gpu) return null;
  return requestDeviceFrom(gpu, opts);
}
