// Shared by the WebGPU test files: get a device for this runtime, or the reason there is none; skip
// visibly (the runtime's own skip, with the reason printed) unless GPTEDGE_REQUIRE_WEBGPU=1, which turns a
// missing adapter into a failing test (CI sets it once scripts/setup-webgpu.sh has run).
import { runtime, test } from './harness.ts';
import type { WebGPUDeviceHandle } from '../../src/backend/webgpu/adapter.ts';
import type { NodeDeviceOptions } from '../../adapters/node/webgpu.ts';

type G = { Deno?: { env: { get(k: string): string | undefined }; test(o: object): void }; process?: { env: Record<string, string | undefined> } };
const g = globalThis as unknown as G;

// The runtime's own skip (vitest / bun:test test.skip, Deno.test ignore), loaded up front: a test must be
// registered while the file is being collected, not after a later await.
type SkipFn = (name: string, fn: () => void) => void;
const runtimeSkip: SkipFn = g.Deno
  ? (name, fn) => g.Deno!.test({ name, ignore: true, fn })
  : ((await import(/* @vite-ignore */ 'Bun' in globalThis ? 'bun:' + 'test' : 'vi' + 'test')) as { test: { skip: SkipFn } }).test.skip;

const env = (k: string): string | undefined => (g.Deno ? g.Deno.env.get(k) : g.process?.env[k]);
export const requireWebGPU = env('GPTEDGE_REQUIRE_WEBGPU') === '1';
/**
 * A run of the configuration matrix (test/node/webgpu-matrix.test.ts): conformance on small shapes only, on
 * a device shaped by GPTEDGE_WEBGPU_DEFAULT_LIMITS=1 (the spec's default limits) and
 * GPTEDGE_WEBGPU_DAWN_FLAGS (Dawn instance flags, e.g. robustness off).
 */
export const matrixRun = env('GPTEDGE_WEBGPU_MATRIX') === '1';
/** the conformance variants a matrix run asks for (suffixes, 'plain' for the plain one), or all */
export const matrixVariants = env('GPTEDGE_WEBGPU_VARIANTS');

export interface DeviceResult {
  handle: WebGPUDeviceHandle | null;
  reason: string;
  /** uncaptured device errors (validation errors outside the backend's error scopes) */
  errors: string[];
}

/**
 * A device for this runtime's tests. Under Node, the software Vulkan of scripts/setup-webgpu.sh is used when
 * the system offers no adapter (never instead of a real GPU); `opts` may ask for the spec's default limits
 * or Dawn flags (Node and Bun only).
 */
export async function webgpuDevice(opts: NodeDeviceOptions = {}): Promise<DeviceResult> {
  const errors: string[] = [];
  try {
    const fromEnv: NodeDeviceOptions = {
      defaultLimits: env('GPTEDGE_WEBGPU_DEFAULT_LIMITS') === '1',
      dawnFlags: env('GPTEDGE_WEBGPU_DAWN_FLAGS')
        ?.split(' ')
        .filter((f) => f),
    };
    const handle =
      runtime === 'deno'
        ? await (await import('../../adapters/deno/webgpu.ts')).requestDevice({ ...fromEnv, ...opts })
        : await (await import('../../adapters/node/webgpu.ts')).requestDevice({ softwareFallback: true, ...fromEnv, ...opts });
    if (!handle) return { handle, errors, reason: `no WebGPU adapter under ${runtime} (run scripts/setup-webgpu.sh for software Vulkan)` };
    handle.device.addEventListener('uncapturederror', (e) => errors.push((e as GPUUncapturedErrorEvent).error.message));
    const info = (handle.adapter as GPUAdapter & { info?: { subgroupMinSize?: number; subgroupMaxSize?: number } }).info;
    const lim = handle.device.limits;
    console.log(
      `webgpu: ${runtime} adapter "${handle.adapterName}"${handle.software ? ' (software)' : ''}, subgroup size ${info?.subgroupMinSize ?? '?'}..${info?.subgroupMaxSize ?? '?'}, ` +
        `binding ${lim.maxStorageBufferBindingSize}, workgroup storage ${lim.maxComputeWorkgroupStorageSize}, invocations ${lim.maxComputeInvocationsPerWorkgroup}`,
    );
    return { handle, errors, reason: '' };
  } catch (err) {
    return { handle: null, errors, reason: `WebGPU unavailable under ${runtime}: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/**
 * Registers `name` as skipped with the reason printed, or as a failure when WebGPU is required.
 * `always` skips even then (a test that does not apply to this runtime at all).
 */
export function skip(name: string, reason: string, always = false): void {
  if (requireWebGPU && !always) {
    test(`${name}: WebGPU required (GPTEDGE_REQUIRE_WEBGPU=1)`, () => {
      throw new Error(reason);
    });
    return;
  }
  console.warn(`SKIP ${name}: ${reason}`);
  runtimeSkip(`${name} (skipped: ${reason})`, () => {});
}

/**
 * Waits until the queue is idle, then destroys the device. A Deno run once aborted at exit ("double free
 * or corruption", after every test had passed; not reproduced in 7 reruns): destroying a device whose
 * queue may still be working is the one teardown race the tests control, so they never do.
 */
export async function releaseDevice(handle: WebGPUDeviceHandle): Promise<void> {
  await handle.device.queue.onSubmittedWorkDone();
  handle.release();
}
