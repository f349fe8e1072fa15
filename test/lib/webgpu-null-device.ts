// A GPUDevice that executes nothing: buffers hold no memory, dispatches do no work, reads return zeros.
// The backend's host side (allocation, splitting, encoding, budgets) runs in full, so a step of a model far
// too large for a software adapter (GPT-1 at B 8 × T 512) can be recorded in a second on any machine.
// Not a WebGPU implementation: only what src/backend/webgpu/ calls.

/** The WebGPU spec's default limits (what every device offers). */
export const DEFAULT_LIMITS = {
  maxStorageBufferBindingSize: 134217728,
  maxBufferSize: 268435456,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxStorageBuffersPerShaderStage: 8,
  maxComputeWorkgroupsPerDimension: 65535,
  minStorageBufferOffsetAlignment: 256,
  minUniformBufferOffsetAlignment: 256,
  maxUniformBufferBindingSize: 65536,
};

export interface NullDevice extends GPUDevice {
  /** dispatches encoded into submitted command buffers */
  readonly dispatched: number;
}

export function nullDevice(limits: Partial<typeof DEFAULT_LIMITS> = {}, features: string[] = []): NullDevice {
  let dispatched = 0;
  let loseDevice: (info: GPUDeviceLostInfo) => void = () => {};
  const lost = new Promise<GPUDeviceLostInfo>((ok) => (loseDevice = ok));
  const scopes: GPUErrorFilter[] = [];
  const buffer = (d: GPUBufferDescriptor) => {
    let data: ArrayBuffer | null = null;
    return {
      size: d.size,
      label: d.label ?? '',
      usage: d.usage,
      destroy() {},
      mapAsync: async () => void (data = new ArrayBuffer(d.size)),
      getMappedRange: () => data!,
      unmap() {},
    };
  };
  const encoder = () => {
    let n = 0;
    return {
      beginComputePass: () => ({ setPipeline() {}, setBindGroup() {}, dispatchWorkgroups: () => void n++, end() {} }),
      copyBufferToBuffer() {},
      finish: () => ({ label: '', dispatches: n }),
    };
  };
  const device = {
    limits: { ...DEFAULT_LIMITS, ...limits },
    features: new Set(features),
    lost,
    queue: {
      writeBuffer() {},
      submit: (cbs: { dispatches: number }[]) => cbs.forEach((cb) => (dispatched += cb.dispatches)),
      onSubmittedWorkDone: async () => {},
    },
    createBuffer: buffer,
    createShaderModule: () => ({}),
    createBindGroupLayout: () => ({}),
    createPipelineLayout: () => ({}),
    createComputePipeline: () => ({}),
    createBindGroup: () => ({}),
    createCommandEncoder: encoder,
    pushErrorScope: (f: GPUErrorFilter) => void scopes.push(f),
    popErrorScope: async () => (scopes.pop(), null),
    addEventListener() {},
    destroy: () => loseDevice({ reason: 'destroyed', message: 'null device destroyed' } as GPUDeviceLostInfo),
    get dispatched() {
      return dispatched;
    },
  };
  return device as unknown as NullDevice;
}
