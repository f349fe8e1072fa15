// GEMM throughput of the WebGPU backend's matmul kernel on whatever adapter this runtime finds: f32, and with
// B stored in f16 (the f16-weights variant, arithmetic f32) where the adapter offers shader-f16.
//   ./node_modules/.bin/deno run -A bench/webgpu-gemm.ts [sizes...]
//   . .cache/mesa/env.sh; ./node_modules/.bin/bun bench/webgpu-gemm.ts [sizes...]    (Dawn, as Node uses)
//   node --experimental-strip-types bench/webgpu-gemm.ts [sizes...]                  (Node 22.6+ only)
// Sizes are M=K=N (default 256 512 1024, plus the GPT-1 shapes 2048x768x3072 and 2048x3072x768 on real GPUs).
// Software adapters (lavapipe, llvmpipe, SwiftShader) are labelled: their figures are not meaningful for speed.
import { createWebGPUBackend } from '../src/backend/webgpu/webgpu.ts';
import type { WebGPUDeviceHandle } from '../src/backend/webgpu/adapter.ts';

const g = globalThis as unknown as { Deno?: { args: string[] }; process?: { argv: string[]; exit(c: number): void } };
const args = g.Deno ? g.Deno.args : g.process!.argv.slice(2);
const mod = g.Deno ? await import('../adapters/deno/webgpu.ts') : await import('../adapters/node/webgpu.ts');
const handle: WebGPUDeviceHandle | null = await mod.requestDevice();
if (!handle) {
  console.log('no WebGPU adapter (run scripts/setup-webgpu.sh for a software one)');
} else {
  const be = createWebGPUBackend(handle.device);
  console.log(`adapter: ${handle.adapterName}${handle.software ? '  [software adapter: figures NOT meaningful for speed]' : ''}; features: ${JSON.stringify(be.features)}`);
  const shapes: [number, number, number][] = args.length
    ? args.map((a) => { const n = Number(a); return [n, n, n]; })
    : handle.software ? [[128, 128, 128], [256, 256, 256], [512, 512, 512]] : [[256, 256, 256], [1024, 1024, 1024], [4096, 4096, 4096], [2048, 768, 3072], [2048, 3072, 768]];
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
      console.log(`${M}x${K}x${N} ${tA ? 'Aᵀ' : 'A'}·${tB ? 'Bᵀ' : 'B'}${bType === 'f16' ? ' (B f16)' : ''}: ${((flop * reps) / (ms * 1e6)).toFixed(2)} GFLOP/s  (${reps} reps, ${(ms / reps).toFixed(2)} ms each, result ${ok})`);
      be.free(a, b, c);
    }
  }
  be.destroy();
  handle.release();
}
g.process?.exit(0);
