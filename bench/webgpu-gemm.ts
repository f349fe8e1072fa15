// GEMM throughput of the WebGPU backend's matmul kernel on this runtime's adapter: f32, and with B stored in
// f16 (the f16-weights variant) where the adapter offers shader-f16, as GFLOP/s and, with --peak-gflops P
// (the adapter's f32 peak from its data sheet), as a fraction of it. Software adapters are refused unless
// --allow-software (then the figures are labelled: they are not GPU speed).
//   ./node_modules/.bin/deno run -A bench/webgpu-gemm.ts [--peak-gflops P] [sizes...]
//   ./node_modules/.bin/bun bench/webgpu-gemm.ts [...]                                     (Dawn, as Node uses)
//   node --experimental-strip-types bench/webgpu-gemm.ts [...]                             (Node 22.6+ only)
// Sizes are M=K=N (default 256 1024 4096, plus the GPT-1 shapes 4096x768x3072, 4096x3072x768 and
// 4096x768x2304 of a B 8 × T 512 step; 128..512 on a software adapter).
import { createWebGPUBackend } from '../src/backend/webgpu/webgpu.ts';
import { args, benchDevice, exit } from './webgpu-device.ts';

const handle = await benchDevice();
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const peak = Number(opt('peak-gflops') ?? NaN);
const sizes = args.filter((a, i) => /^\d+$/.test(a) && args[i - 1] !== '--peak-gflops').map(Number);
const be = createWebGPUBackend(handle.device);
console.log(`backend features: ${JSON.stringify(be.features)}`);
const shapes: [number, number, number][] = sizes.length
  ? sizes.map((n) => [n, n, n])
  : handle.software ? [[128, 128, 128], [256, 256, 256], [512, 512, 512]] : [[256, 256, 256], [1024, 1024, 1024], [4096, 4096, 4096], [4096, 768, 3072], [4096, 3072, 768], [4096, 768, 2304]];
for (const [M, K, N] of shapes) {
  const cases = [[false, false, 'f32'], [false, true, 'f32'], [true, false, 'f32']] as [boolean, boolean, 'f32' | 'f16'][];
  if (be.f16Storage) cases.push([false, false, 'f16'], [false, true, 'f16']);
  for (const [tA, tB, bType] of cases) {
    const a = be.alloc(M * K), b = be.alloc(K * N, bType), c = be.alloc(M * N);
    be.write(a, new Float32Array(M * K).fill(0.5));
    be.write(b, new Float32Array(K * N).fill(0.25));
    be.matmul(c, a, b, null, M, K, N, tA, tB, 0); // warm-up: pipeline compile
    await be.sync();
    const flop = 2 * M * K * N;
    let reps = 1, ms = 0;
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
    const ofPeak = Number.isFinite(peak) ? `, ${((100 * gflops) / peak).toFixed(1)}% of ${peak} GFLOP/s peak` : '';
    console.log(`${M}x${K}x${N} ${tA ? 'Aᵀ' : 'A'}·${tB ? 'Bᵀ' : 'B'}${bType === 'f16' ? ' (B f16)' : ''}: ${gflops.toFixed(2)} GFLOP/s${ofPeak}  (${reps} reps, ${(ms / reps).toFixed(2)} ms each, result ${ok})`);
    be.free(a, b, c);
  }
}
be.destroy();
handle.release();
exit(0);
