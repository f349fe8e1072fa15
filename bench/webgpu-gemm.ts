// GEMM throughput of the WebGPU backend's matmul kernels on this runtime's adapter: f32, and with B stored in
// f16 (the f16-weights variant) where the adapter offers shader-f16, as GFLOP/s and as a fraction of the
// adapter's f32 FMA rate measured first by a register-only kernel (and of --peak-gflops P, a data-sheet
// peak, when given). Software adapters are refused unless --allow-software (then the figures are labelled:
// they are not GPU speed).
//   ./node_modules/.bin/deno run -A bench/webgpu-gemm.ts [--peak-gflops P] [--kernels auto,tiled,small] [sizes...]
//   ./node_modules/.bin/bun bench/webgpu-gemm.ts [...]                                     (Dawn, as Node uses)
//   node --experimental-strip-types bench/webgpu-gemm.ts [...]                             (Node 22.6+ only)
// Sizes are M=K=N (default 256 1024 4096, plus the GPT-1 shapes 4096x768x3072, 4096x3072x768 and
// 4096x768x2304 of a B 8 × T 512 step; 128..512 on a software adapter).
import { createWebGPUBackend } from '../src/backend/webgpu/webgpu.ts';
import { args, benchDevice, exit } from './webgpu-device.ts';

const handle = await benchDevice();

/**
 * The adapter's f32 FMA rate: 8 independent vec4 FMA chains per invocation in registers, no memory traffic
 * but one store, grown until a timing covers ≥ 200 ms. An upper bound no real kernel reaches.
 */
async function fmaPeak(device: GPUDevice): Promise<number> {
  const ITER = 1024;
  const code = `@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>;
@compute @workgroup_size(256) fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) {
  let i = g.x + g.y * n.x * 256u;
  var x: array<vec4<f32>, 8>;
  for (var c = 0u; c < 8u; c++) { x[c] = vec4<f32>(f32(i % 97u) * 1e-3 + f32(c)); }
  let m = vec4<f32>(0.9999);
  let k = vec4<f32>(1e-4);
  for (var it = 0u; it < ${ITER}u; it++) {
    x[0] = fma(x[0], m, k); x[1] = fma(x[1], m, k); x[2] = fma(x[2], m, k); x[3] = fma(x[3], m, k);
    x[4] = fma(x[4], m, k); x[5] = fma(x[5], m, k); x[6] = fma(x[6], m, k); x[7] = fma(x[7], m, k);
  }
  out[i % 1024u] = ((x[0] + x[1]) + (x[2] + x[3])) + ((x[4] + x[5]) + (x[6] + x[7]));
}`;
  const module = device.createShaderModule({ code });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const buf = device.createBuffer({ size: 1024 * 16, usage: 0x0080 }); // STORAGE
  const bg = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: buf } }] });
  const run = async (groups: number) => {
    const t0 = performance.now();
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(Math.min(groups, 65535), Math.ceil(groups / 65535));
    pass.end();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    return performance.now() - t0;
  };
  await run(1); // compile
  let groups = 16,
    ms = 0;
  for (;;) {
    ms = await run(groups);
    if (ms >= 200 || groups >= 65535 * 64) break;
    groups = Math.min(65535 * 64, groups * Math.min(8, Math.ceil(250 / Math.max(ms, 1))));
  }
  const groupsRun = Math.min(groups, 65535) * Math.ceil(groups / 65535);
  buf.destroy();
  return (groupsRun * 256 * ITER * 8 * 4 * 2) / (ms * 1e6);
}
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const peak = Number(opt('peak-gflops') ?? NaN);
const measured = await fmaPeak(handle.device);
console.log(`f32 FMA rate (register-only kernel): ${measured.toFixed(1)} GFLOP/s${Number.isFinite(peak) ? `; data-sheet peak given: ${peak} GFLOP/s` : ''}`);
const sizes = args.filter((a, i) => /^\d+$/.test(a) && !args[i - 1]?.startsWith('--')).map(Number);
// --kernels auto,tiled,small: the backend's own choice by shape, or one kernel forced
const choices = (opt('kernels') ?? 'auto').split(',') as ('auto' | 'tiled' | 'small')[];
const shapes: [number, number, number][] = sizes.length
  ? sizes.map((n) => [n, n, n])
  : handle.software
    ? [
        [128, 128, 128],
        [256, 256, 256],
        [512, 512, 512],
      ]
    : [
        [256, 256, 256],
        [1024, 1024, 1024],
        [4096, 4096, 4096],
        [4096, 768, 3072],
        [4096, 3072, 768],
        [4096, 768, 2304],
      ];
for (const choice of choices) {
  const be = createWebGPUBackend(handle.device, choice === 'auto' ? {} : { kernels: { matmul: choice } });
  console.log(`kernel choice: ${choice}; backend features: ${JSON.stringify(be.features)}`);
  for (const [M, K, N] of shapes) {
    const cases = [
      [false, false, 'f32'],
      [false, true, 'f32'],
      [true, false, 'f32'],
    ] as [boolean, boolean, 'f32' | 'f16'][];
    if (be.f16Storage) cases.push([false, false, 'f16'], [false, true, 'f16']);
    for (const [tA, tB, bType] of cases) {
      const a = be.alloc(M * K),
        b = be.alloc(K * N, bType),
        c = be.alloc(M * N);
      be.write(a, new Float32Array(M * K).fill(0.5));
      be.write(b, new Float32Array(K * N).fill(0.25));
      be.matmul(c, a, b, null, M, K, N, tA, tB, 0); // warm-up: pipeline compile
      await be.sync();
      const flop = 2 * M * K * N;
      let reps = 1,
        ms = 0;
      // grow the repetition count until a timing covers ≥ 200 ms (one sync per timing)
      for (;;) {
        const t0 = performance.now();
        for (let r = 0; r < reps; r++) be.matmul(c, a, b, null, M, K, N, tA, tB, 0);
        await be.sync();
        ms = performance.now() - t0;
        if (ms >= 200 || reps >= 1024) break;
        reps *= Math.min(8, Math.ceil(250 / Math.max(ms, 1)));
      }
      const check = (await be.read(c))[0]; // every element is K * 0.5 * 0.25
      const ok = Math.abs(check - K * 0.125) <= 1e-3 * K ? 'ok' : `WRONG (${check})`;
      const gflops = (flop * reps) / (ms * 1e6);
      const ofPeak =
        `, ${((100 * gflops) / measured).toFixed(1)}% of the FMA rate` +
        (Number.isFinite(peak) ? `, ${((100 * gflops) / peak).toFixed(1)}% of the data-sheet peak` : '');
      console.log(
        `${M}x${K}x${N} ${tA ? 'Aᵀ' : 'A'}·${tB ? 'Bᵀ' : 'B'}${bType === 'f16' ? ' (B f16)' : ''}: ${gflops.toFixed(2)} GFLOP/s${ofPeak}  (${reps} reps, ${(ms / reps).toFixed(2)} ms each, result ${ok})`,
      );
      be.free(a, b, c);
    }
  }
  be.destroy();
}
handle.release();
exit(0);
