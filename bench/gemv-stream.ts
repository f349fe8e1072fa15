// Decode's matrix-vector products with the weights out of cache, as in a model (GPT-1's f32 weights are
// 466 MB, far past any cache): each shape's weight matrix is allocated `--copies` times (enough MiB to
// exceed the L3) and the copies are multiplied in turn, one row of activations each. Reports the weight
// bytes streamed per second and GOP/s, per build of the kernels given (`--dirs`, wasm/build folders:
// an A/B of a kernel change, repetitions interleaved ABBA). bench/quant.ts's "gemm" rows, by contrast,
// reuse one matrix, which then stays in cache.
//   node bench/run-node.mjs gemv-stream [--dirs wasm/build,/tmp/old/wasm/build] [--threads T] [--reps 9] [--copies 24] [--dtypes f32,q8,q4]
// A benchmark, never a timed test.
import { readFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { createNodeWasmBackend } from '../adapters/node/wasm.ts';
import type { DType } from '../src/backend/backend.ts';
import { argv, median, opt } from './common.ts';

const str = (name: string, dflt: string) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : dflt);
const dirs = str('dirs', 'wasm/build')
    .split(',')
    .map((d) => resolve(d)),
  threads = opt('threads', 1),
  reps = opt('reps', 9),
  copies = opt('copies', 24),
  dtypes = str('dtypes', 'f32,q8,q4').split(',') as DType[];
const bes = await Promise.all(
  dirs.map((dir) => createNodeWasmBackend({ simd: 'relaxed', threads, load: async (v) => new Uint8Array(await readFile(join(dir, `gptedge-${v}.wasm`))) })),
);
const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
/** bytes of one K×N weight matrix in a dtype: codes and scales */
const bytesOf = (dt: DType, K: number, N: number) => (dt === 'f32' ? 4 * K * N : dt === 'q8' ? N * K + 4 * N : N * Math.ceil(K / 32) * 18);
console.log(
  `${cpus()[0]?.model ?? 'CPU'} ×${cpus().length}, node ${process.version}, ${threads} thread(s), load ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
// f32 weights of the linear layers are stored (in, out): A·B; the LM head and every quantized matrix (out, in): A·Bᵀ
const shapes: [number, number][] = [
  [768, 2304],
  [768, 3072],
  [3072, 768],
  [768, 40478],
];
for (const dt of dtypes)
  for (const [K, N] of shapes) {
    const transB = dt !== 'f32' || N === 40478,
      n = Math.max(2, Math.ceil((copies * 768 * 2304 * 4) / bytesOf(dt, K, N)));
    const a = rand(K),
      b = rand(K * N);
    const st = bes.map((be) => {
      const ws = Array.from({ length: n }, () => {
        const t = dt === 'f32' ? be.alloc(K * N) : be.alloc(N * K, dt, K);
        be.write(t, b);
        return t;
      });
      const ta = be.alloc(K),
        tc = be.alloc(N);
      be.write(ta, a);
      return { be, ws, ta, tc };
    });
    const ms: number[][] = st.map(() => []);
    for (let r = 0; r <= reps; r++)
      for (const i of r % 2 ? [...st.keys()].reverse() : [...st.keys()]) {
        const s = st[i],
          t0 = performance.now();
        for (const w of s.ws) s.be.matmul(s.tc, s.ta, w, null, 1, K, N, false, transB, 0);
        if (r > 0) ms[i].push((performance.now() - t0) / n); // r = 0: warm-up
      }
    const mib = (n * bytesOf(dt, K, N)) / 2 ** 20;
    console.log(
      `${dt} 1×${K}×${N}${transB ? 'ᵀ' : ''} (${n} copies, ${mib.toFixed(0)} MiB): ` +
        ms
          .map(
            (m, i) =>
              `${dirs.length > 1 ? `${dirs[i]} ` : ''}${(bytesOf(dt, K, N) / median(m) / 1e6).toFixed(1)} GB/s, ${((2 * K * N) / median(m) / 1e6).toFixed(1)} GOP/s`,
          )
          .join('  |  '),
    );
    for (const s of st) {
      for (const w of s.ws) s.be.free(w);
      s.be.free(s.ta, s.tc);
    }
  }
for (const be of bes) be.dispose();
