/// <reference types="@webgpu/types" preserve="true" />
// WebGPU device acquisition shared by every runtime: given a GPU object (navigator.gpu in Deno and
// browsers, Dawn's `create([])` in Node and Bun), get an adapter and a device with the limits gptedge's
// kernels can use. Runtime-specific files: adapters/node/webgpu.ts, adapters/deno/webgpu.ts, adapters/browser/webgpu.ts.

export interface WebGPUDeviceHandle {
  device: GPUDevice;
  adapter: GPUAdapter;
  /** e.g. "llvmpipe (LLVM 15.0.6, 256 bits)", "SwiftShader Device (Subzero)", "NVIDIA H200" */
  adapterName: string;
  /** a software rasteriser (lavapipe/llvmpipe, SwiftShader, WARP): correct, not fast */
  software: boolean;
  /** destroys the device (Dawn keeps a Node process alive while one exists) */
  release(): void;
}

export interface RequestDeviceOptions {
  powerPreference?: 'low-power' | 'high-performance';
  /**
   * Ask for the WebGPU spec's default limits instead of the adapter's (128 MiB bindings, 16 KiB workgroup
   * storage, 256 invocations): what every WebGPU device offers, and what the kernels must work within.
   */
  defaultLimits?: boolean;
}

/** Limits worth raising to what the adapter offers: the backend splits arenas at maxStorageBufferBindingSize. */
const LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupsPerDimension',
] as const;

const OPTIONAL_FEATURES = ['shader-f16', 'subgroups'] as GPUFeatureName[];

/**
 * The adapter's name, and whether it is a software rasteriser. The spec's flag lives in
 * `adapter.info.isFallbackAdapter` (Dawn, Deno and current Chromium set it; the older
 * `adapter.isFallbackAdapter` is gone from Chrome and undefined in dawn.node and Deno); Dawn also reports
 * the architecture "software" for a CPU device; the name is the last resort.
 */
export function describeAdapter(adapter: GPUAdapter): { name: string; software: boolean } {
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo & { isFallbackAdapter?: boolean } }).info;
  // description is the most specific field where present (Dawn, wgpu); Chromium may fill only vendor and
  // architecture (e.g. "google swiftshader")
  const name = info?.description || [info?.vendor, info?.architecture, info?.device].filter((s) => s).join(' ') || 'unknown adapter';
  const software =
    info?.isFallbackAdapter === true ||
    (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
    /^(software|cpu)$/i.test(info?.architecture ?? '') ||
    /llvmpipe|lavapipe|swiftshader|software|warp|basic render/i.test([info?.description, info?.device, info?.vendor, info?.architecture].join(' '));
  return { name, software };
}

/** null when the runtime has WebGPU but no adapter (e.g. no Vulkan driver). */
const wgslFeatures = new WeakMap<GPUDevice, ReadonlySet<string>>();

/**
 * The WGSL language features of the GPU a device came from (`navigator.gpu.wgslLanguageFeatures`): a
 * device does not carry them, so requestDeviceFrom records them; other devices get navigator.gpu's.
 */
export function wgslFeaturesOf(device: GPUDevice): ReadonlySet<string> {
  return wgslFeatures.get(device) ?? (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu?.wgslLanguageFeatures ?? new Set();
}

export async function requestDeviceFrom(gpu: GPU, opts: RequestDeviceOptions = {}): Promise<WebGPUDeviceHandle | null> {
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) return null;
  const requiredLimits: Record<string, number> = {};
  for (const k of opts.defaultLimits ? [] : LIMITS) {
    const v = adapter.limits[k];
    if (typeof v === 'number') requiredLimits[k] = v;
  }
  // the optional features gptedge's kernels have variants for (src/backend/webgpu/specialize.ts)
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  wgslFeatures.set(device, gpu.wgslLanguageFeatures ?? new Set());
  const { name, software } = describeAdapter(adapter);
  let released = false;
  return {
    device,
    adapter,
    adapterName: name,
    software,
    release() {
      if (released) return;
      released = true;
      device.destroy();
    },
  };
}
