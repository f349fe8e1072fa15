// The conformance suite on WebGPU: Node/Bun through Dawn (npm `webgpu`; software Vulkan from
// scripts/setup-webgpu.sh on GPU-less machines), Deno through its built-in navigator.gpu.
//   npx vitest run test/conformance-webgpu.test.ts
//   ./node_modules/.bin/deno test -A test/conformance-webgpu.test.ts
// Without an adapter the tests are SKIPPED with the reason printed; with GPTEDGE_REQUIRE_WEBGPU=1 (CI) a
// missing adapter is a failure. The suite's full shapes are used even on software adapters: measured 2.7 s
// for all 13 tests on lavapipe here, against 2.4 s with `small`.
import { conformance } from '../lib/conformance.ts';
import { runtime, test } from '../lib/harness.ts';
import { fixtureSuite } from '../lib/torch-fixtures.ts';
import { batchedDecodeSuite } from '../lib/batched-decode.ts';
import { accumulationSuite } from '../lib/accumulation.ts';
import { releaseDevice, skip, webgpuDevice } from '../lib/webgpu-util.ts';
import { createWebGPUBackend, type WebGPUBackend, type WebGPUBackendOptions } from '../../src/backend/webgpu/webgpu.ts';

const gpu = await webgpuDevice();
if (!gpu.handle) {
  skip(`conformance[webgpu-${runtime}]`, gpu.reason);
} else {
  const { handle, errors } = gpu;
  const adapter = (/^[A-Za-z0-9]+/.exec(handle.adapterName) ?? ['gpu'])[0].toLowerCase();
  // every kernel variant this adapter can run: the plain path always, subgroup reductions where offered
  const variants: [string, WebGPUBackendOptions][] = [['', { features: { subgroups: false } }]];
  if (handle.device.features.has('subgroups')) variants.push(['-subgroups', { features: { subgroups: true } }]);
  // the kernels the backend picks by shape, forced onto the suite's small shapes
  variants.push(['-tiled', { kernels: { matmul: 'tiled' } }], ['-matvec', { kernels: { matmul: 'matvec' } }]);
  let current: WebGPUBackend | null = null;
  let name = '';
  for (const [suffix, opts] of variants) {
    name = `webgpu-${runtime}-${adapter}${suffix}`;
    const make = () => {
      current?.destroy(); // each comparison makes a fresh backend; the previous one's buffers can go
      current = createWebGPUBackend(handle.device, { name, ...opts });
      return current;
    };
    conformance(name, make, { small: false });
    // every backend reproduces PyTorch (logits, loss, every gradient, 10 AdamW steps), both layouts
    fixtureSuite(name, make);
    // a sequence decoded in a batch gets the logits it gets alone (continuous batching); one layout and
    // 4 tokens per sequence: every step is a readback, slow on software adapters (the layouts differ only
    // in LayerNorm placement, covered by the other backends and the fixtures)
    batchedDecodeSuite(name, make, { steps: 4, layouts: ['post-ln'] });
  }
  // micro-batches give the full batch's step, recomputation the same gradients (the plain variant)
  accumulationSuite(`webgpu-${runtime}-${adapter}`, () => {
    current?.destroy();
    current = createWebGPUBackend(handle.device, { name: `webgpu-${runtime}-${adapter}`, features: { subgroups: false } });
    return current;
  });
  test(`conformance[${name}] no uncaptured WebGPU errors; release the device`, async () => {
    current?.destroy();
    await releaseDevice(handle);
    if (errors.length) throw new Error(`uncaptured WebGPU errors:\n${errors.slice(0, 5).join('\n')}`);
  });
}
