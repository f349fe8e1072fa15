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

export function describeAdapter(adapter: GPUAdapter): { name: string; software: boolean } {
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
  // description is the most specific field where present (Dawn, wgpu); Chromium may fill only vendor and
  // architecture (e.g. "google swiftshader")
  const name = info?.description || [info?.vendor, info?.architecture, info?.device].filter((s) => s).join(' ') || 'unknown adapter';
  const software = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
    /llvmpipe|lavapipe|swiftshader|software|warp|basic render/i.test([info?.description, info?.device, info?.vendor, info?.architecture].join(' '));
  return { name, software };
}

/** null when the runtime has WebGPU but no adapter (e.g. no Vulkan driver). */
export async function requestDeviceFrom(gpu: GPU, opts: RequestDeviceOptions = {}): Promise<WebGPUDeviceHandle | null> {
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) return null;
  const requiredLimits: Record<string, number> = {};
  for (const k of LIMITS) {
    const v = adapter.limits[k];
    if (typeof v === 'number') requiredLimits[k] = v;
  }
  // the optional features gptedge's kernels have variants for (src/backend/webgpu/specialize.ts)
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
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
