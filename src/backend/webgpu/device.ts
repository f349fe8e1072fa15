// The device and its pipelines: what every WebGPU backend created on one GPUDevice shares. Pipelines (one
// per kernel entry point and feature variant) are compiled once per device; compile errors are collected
// here and reported by the next read()/sync() of any backend on the device.
//
// The device's health is observed here too. A device can be lost at any time (Windows TDR, the macOS
// command-buffer watchdog, a GPU process crash, sleep/resume, device.destroy()): `device.lost` resolves,
// and from then on every backend call on it throws DeviceLostError, "WebGPU device lost (reason): message".
// Errors raised outside any error scope (`uncapturederror`) are kept and reported by the next check.
import * as wgsl from '../../wgsl/index.ts';
import { checkParams, KERNELS, type KernelName } from './kernels.ts';
import { specialize, type ShaderFeatures } from './specialize.ts';

const STAGE_COMPUTE = 0x4;
/** bytes of one dispatch's Params slot in the uniform buffer (minUniformBufferOffsetAlignment is at most 256) */
export const SLOT_BYTES = 256;

export interface Pipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

/** Why a device was lost: GPUDeviceLostInfo's reason ('destroyed' or 'unknown') and message. */
export interface DeviceLoss {
  readonly reason: string;
  readonly message: string;
}

/** What every call on a lost device throws. */
export class DeviceLostError extends Error {
  readonly reason: string;
  constructor(loss: DeviceLoss) {
    super(`WebGPU device lost (${loss.reason}): ${loss.message || 'no message'}`);
    this.name = 'DeviceLostError';
    this.reason = loss.reason;
  }
}

/** Compiled pipelines and the health of one device, shared by all backends created on it. */
export interface GpuContext {
  readonly device: GPUDevice;
  /** keyed by module and variant */
  readonly modules: Map<string, GPUShaderModule>;
  readonly pipelines: Map<string, Pipeline>;
  /** errors of pipeline creation, reported by the next read()/sync() of any backend */
  readonly compileErrors: Promise<GPUError | null>[];
  /** messages of uncapturederror events since the last check */
  readonly uncaptured: string[];
  /** resolves when the device is lost */
  readonly lost: Promise<DeviceLoss>;
  /** set once the device is lost */
  loss: DeviceLoss | null;
}

/** Throws DeviceLostError once the device is lost. */
export function assertAlive(c: GpuContext): void {
  if (c.loss) throw new DeviceLostError(c.loss);
}

/**
 * The loss of a device whose operation just failed, waiting up to `ms` for `device.lost` to settle (a
 * mapAsync on a lost device may reject before `lost` resolves); null if the device is still alive.
 */
export async function lossAfterFailure(c: GpuContext, ms = 1000): Promise<DeviceLoss | null> {
  if (c.loss) return c.loss;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = await Promise.race([c.lost, new Promise<null>((ok) => (timer = setTimeout(() => ok(null), ms)))]);
  clearTimeout(timer);
  return late;
}
const contexts = new WeakMap<GPUDevice, GpuContext>();
let paramsChecked: string[] | undefined;

/**
 * The shared state of `device`, created on first use. Checks the limits gptedge's kernels need, and (once)
 * that the kernels' Params declarations match the WGSL this build carries.
 */
export function contextOf(device: GPUDevice): GpuContext {
  const c = contexts.get(device);
  if (c) return c;
  paramsChecked ??= checkParams(wgsl);
  if (paramsChecked.length) throw new Error(`gptedge's WGSL and kernels.ts disagree:\n${paramsChecked.join('\n')}`);
  const lim = device.limits;
  if (lim.maxComputeInvocationsPerWorkgroup < 256)
    throw new Error(`WebGPU device allows ${lim.maxComputeInvocationsPerWorkgroup} invocations per workgroup; gptedge's kernels need 256`);
  if (lim.maxStorageBuffersPerShaderStage < 6)
    throw new Error(`WebGPU device allows ${lim.maxStorageBuffersPerShaderStage} storage buffers per stage; gptedge needs 6`);
  if (lim.maxComputeWorkgroupStorageSize < 8192)
    throw new Error(`WebGPU device allows ${lim.maxComputeWorkgroupStorageSize} bytes of workgroup storage; gptedge needs 8192`);
  const ctx: GpuContext = {
    device,
    modules: new Map(),
    pipelines: new Map(),
    compileErrors: [],
    uncaptured: [],
    loss: null,
    lost: device.lost.then((info) => (ctx.loss = { reason: info.reason ?? 'unknown', message: info.message ?? '' })),
  };
  device.addEventListener?.('uncapturederror', (e) => {
    ctx.uncaptured.push((e as GPUUncapturedErrorEvent).error?.message ?? String(e));
  });
  contexts.set(device, ctx);
  return ctx;
}

/**
 * The pipeline of a kernel in a feature variant (f16: operand WT is f16), with values for its override
 * constants (0/1 for bools).
 */
export function pipelineFor(c: GpuContext, name: KernelName, variant: ShaderFeatures, constants: Record<string, number> = {}): Pipeline {
  const suffix = `${variant.f16 ? '@f16' : ''}${variant.subgroups ? '@subgroups' : ''}${variant.packed ? '@packed' : ''}`;
  const key =
    name +
    suffix +
    Object.entries(constants)
      .map(([k, v]) => `,${k}=${v}`)
      .join('');
  let p = c.pipelines.get(key);
  if (p) return p;
  const { module: mod, entry, bindings } = KERNELS[name];
  const dev = c.device;
  dev.pushErrorScope('validation');
  const modKey = mod + suffix;
  let module = c.modules.get(modKey);
  if (!module) {
    // biome-ignore lint/performance/noDynamicNamespaceImportAccess: one WGSL source per kernel module, looked up by its name
    const src = wgsl[mod];
    const reduce = /\bwg_(sum|max)|\bred\[/.test(src) ? wgsl.reduce + '\n' : '';
    module = dev.createShaderModule({ code: specialize(wgsl.common + '\n' + reduce + src, variant), label: modKey });
    c.modules.set(modKey, module);
  }
  const entries: GPUBindGroupLayoutEntry[] = [
    { binding: 0, visibility: STAGE_COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: SLOT_BYTES } },
  ];
  for (let i = 1; i <= Object.keys(bindings).length; i++) entries.push({ binding: i, visibility: STAGE_COMPUTE, buffer: { type: 'storage' } });
  const layout = dev.createBindGroupLayout({ entries, label: key });
  const pipeline = dev.createComputePipeline({
    layout: dev.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: entry, constants },
    label: key,
  });
  c.compileErrors.push(dev.popErrorScope());
  p = { pipeline, layout };
  c.pipelines.set(key, p);
  return p;
}
