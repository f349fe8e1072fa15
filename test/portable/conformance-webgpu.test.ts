// The conformance suite on WebGPU: Node/Bun through Dawn (npm `webgpu`; software Vulkan from
// scripts/setup-webgpu.sh on GPU-less machines), Deno through its built-in navigator.gpu.
//   npx vitest run test/portable/conformance-webgpu.test.ts
//   ./node_modules/.bin/deno test -A test/portable/conformance-webgpu.test.ts
// Without an adapter the tests are SKIPPED with the reason printed; with GPTEDGE_REQUIRE_WEBGPU=1 (CI) a
// missing adapter is a failure. The suite's full shapes are used even on software adapters, except in the
// configuration matrix (GPTEDGE_WEBGPU_MATRIX=1, test/node/webgpu-matrix.test.ts): small shapes, no fixtures.
import { conformance } from '../lib/conformance.ts';
import { runtime, test } from '../lib/harness.ts';
import { fixtureSuite } from '../lib/torch-fixtures.ts';
import { batchedDecodeSuite } from '../lib/batched-decode.ts';
import { accumulationSuite } from '../lib/accumulation.ts';
import { matrixRun, matrixVariants, releaseDevice, skip, webgpuDevice } from '../lib/webgpu-util.ts';
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
  variants.push(['-tiled-flash', { kernels: { matmul: 'tiled', attention: 'flash' } }], ['-matvec-rows', { kernels: { matmul: 'matvec', attention: 'rows' } }]);
  // the matrix may ask for some of them only (GPTEDGE_WEBGPU_VARIANTS=plain,-subgroups,...)
  const only = matrixVariants?.split(',').map((v) => (v === 'plain' ? '' : v));
  if (only) variants.splice(0, variants.length, ...variants.filter(([suffix]) => only.includes(suffix)));
  let current: WebGPUBackend | null = null;
  let name = '';
  for (const [suffix, opts] of variants) {
    name = `webgpu-${runtime}-${adapter}${suffix}`;
    const make = () => {
      current?.destroy(); // each comparison makes a fresh backend; the previous one's buffers can go
      current = createWebGPUBackend(handle.device, { name, ...opts });
      return current;
    };
    // the forced-kernel variants on the small shapes (their point is the kernels, not the sizes)
    const forced = opts.kernels !== undefined;
    conformance(name, make, { small: matrixRun || forced });
    // every backend reproduces PyTorch (logits, loss, every gradient, 10 AdamW steps), both layouts
    // (matvec is only picked for outputs of at most 8 rows, which the fixtures' models hardly have)
    if (!matrixRun && opts.kernels?.matmul !== 'matvec') fixtureSuite(name, make);
    // a sequence decoded in a batch gets the logits it gets alone (continuous batching); one layout and
    // 4 tokens per sequence: every step is a readback, slow on software adapters (the layouts differ only
    // in LayerNorm placement, covered by the other backends and the fixtures)
    if (!matrixRun) batchedDecodeSuite(name, make, { steps: 4, layouts: ['post-ln'] });
  }
  // micro-batches give the full batch's step, recomputation the same gradients (the plain variant)
  if (!matrixRun)
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
