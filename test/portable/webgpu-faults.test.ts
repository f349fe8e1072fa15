// Fault injection on the WebGPU backend: a device lost mid-run (destroyed, as a TDR or a GPU process crash
// would lose it) and allocations that fail, each of which must end in the clear error, never in a bare
// AbortError, a silent success, or "[Invalid CommandBuffer]". Runs on any adapter (software included), on
// a device of its own. Same skip/require rules as conformance-webgpu.test.ts.
import { createWebGPUBackend, DeviceLostError } from '../../src/backend/webgpu/webgpu.ts';
import { assert, assertEqual, runtime, test } from '../lib/harness.ts';
import { skip, webgpuDevice } from '../lib/webgpu-util.ts';

const gpu = await webgpuDevice();

/** The message of what `fn` throws (or rejects with), or '' when it does not. */
async function failure(fn: () => unknown): Promise<string> {
  try {
    await fn();
    return '';
  } catch (e) {
    return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  }
}

/**
 * `device` with createBuffer failing for buffers of at least `bytes`: the innermost 'out-of-memory' error
 * scope open at the call receives an out-of-memory error, as a device that has run out reports it (the
 * buffer itself is created small, so nothing else changes).
 */
function failingAllocations(device: GPUDevice, bytes: number): GPUDevice {
  const scopes: { filter: GPUErrorFilter; injected: string | null }[] = [];
  return new Proxy(device, {
    get(target, prop) {
      if (prop === 'pushErrorScope') return (filter: GPUErrorFilter) => (scopes.push({ filter, injected: null }), target.pushErrorScope(filter));
      if (prop === 'popErrorScope') {
        return async () => {
          const s = scopes.pop();
          const real = await target.popErrorScope();
          return s?.injected ? ({ message: s.injected } as GPUError) : real;
        };
      }
      if (prop === 'createBuffer') {
        return (d: GPUBufferDescriptor) => {
          if (d.size < bytes) return target.createBuffer(d);
          const oom = [...scopes].reverse().find((s) => s.filter === 'out-of-memory');
          if (oom) oom.injected ??= `Out of memory allocating ${d.size} bytes (injected)`;
          return target.createBuffer({ ...d, size: 16 });
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

if (!gpu.handle) {
  skip(`webgpu-faults[${runtime}]`, gpu.reason);
} else {
  const { handle } = gpu;
  const t = (name: string, fn: () => Promise<void>) => test(`webgpu-faults[${runtime}] ${name}`, fn, 120_000);

  t('an allocation over the memory budget is refused up front, naming the estimate and a smaller batch', async () => {
    const be = createWebGPUBackend(handle.device, { memoryBudgetBytes: 1 << 20 });
    try {
      be.alloc(100_000); // 0.4 MB: fits
      const msg = await failure(() =>
        be.allocArena([
          { name: 'acts.fch', length: 200_000 },
          { name: 'acts.qkv', length: 50_000 },
        ]),
      );
      assert(
        /RangeError: .*arena of 2 tensors \(largest: acts\.fch, acts\.qkv\) need 0\.00 GiB.*over this backend's memory budget of 0\.00 GiB; use a smaller batch/.test(
          msg,
        ),
        `got "${msg}"`,
      );
      assert(be.heldBytes < 1 << 20, `nothing allocated by the refused arena: ${be.heldBytes} bytes held`);
    } finally {
      be.destroy();
    }
  });

  t('an allocation the device refuses (out of memory) is reported by the next read as that allocation', async () => {
    const be = createWebGPUBackend(failingAllocations(handle.device, 3 << 19)); // 1.5 MiB: the 1 MiB uniform buffer passes
    try {
      const small = be.alloc(16);
      be.fill(small, 3);
      assertEqual([...(await be.read(small))].slice(0, 2), [3, 3], 'small allocations still work');
      const big = be.allocArena([{ name: 'activations', length: 1 << 19 }]); // 2 MiB: refused by the device
      be.fill(big.activations, 1);
      const msg = await failure(() => be.read(small));
      assert(
        /could not allocate arena f32 0 \(2097152 bytes\) with 0\.00 GiB already held.*Out of memory allocating 2097152 bytes \(injected\); use a smaller batch/.test(
          msg,
        ),
        `got "${msg}"`,
      );
      assert(!/^[^;]*Invalid/.test(msg.replace(/^Error: WebGPU error: /, '')), `the allocation comes first, not its consequences: "${msg}"`);
    } finally {
      be.destroy();
    }
  });

  t('a device lost mid-run: every later call fails with "WebGPU device lost (destroyed)", read and sync included', async () => {
    // a device of its own, destroyed on purpose
    const own = await webgpuDevice();
    assert(own.handle !== null, own.reason);
    const device = own.handle!.device;
    const be = createWebGPUBackend(device);
    const x = be.alloc(1024),
      y = be.alloc(1024);
    be.fill(x, 1);
    assertEqual((await be.read(x))[0], 1, 'works before the loss');
    be.copy(y, x);
    const pending = be.read(y); // in flight when the device goes
    be.fill(x, 3); // held back (merged fills) when the device goes: dropped, so free() below still works
    device.destroy();
    const info = await be.lost;
    assertEqual(info.reason, 'destroyed', 'loss reason');
    const want = /DeviceLostError: WebGPU device lost \(destroyed\)/;
    const inFlight = await failure(() => pending);
    // a read already mapped before destroy() may legitimately succeed; one that fails must say why
    assert(inFlight === '' || want.test(inFlight), `read in flight: "${inFlight}"`);
    for (const [what, fn] of [
      ['read', () => be.read(x)],
      ['sync', () => be.sync()],
      ['fill', () => be.fill(x, 2)],
      ['alloc', () => be.alloc(4)],
      ['write', () => be.write(x, new Float32Array(4))],
      ['matmul', () => be.matmul(y, x, x, null, 32, 32, 32, false, false, 0)],
    ] as [string, () => unknown][]) {
      const msg = await failure(fn);
      assert(want.test(msg), `${what} after the loss: "${msg}"`);
    }
    const err = await be.read(x).catch((e) => e);
    assert(err instanceof DeviceLostError && err.reason === 'destroyed', 'a DeviceLostError with its reason');
    be.free(x); // cleaning up after a loss does not throw
    be.destroy();
  });

  t('release the device', async () => {
    await handle.device.queue.onSubmittedWorkDone();
    handle.release();
  });
}
