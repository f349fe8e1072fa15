// Quantized weights (int8, int4) on the WASM backend, below the whole model (bench/gpt.ts --weights has that):
//  - dot: which instruction to build integer kernels on. In-register 4×8 tiles in L1 (the shape of the
//    GEMM kernels), multiply-adds per second of f32 relaxed FMA (f32x4.relaxed_madd, 4 per instruction),
//    SIMD128 i32x4.dot_i16x8_s (8 per instruction: the int4 kernels, and int8's on SIMD128), relaxed SIMD
//    i32x4.relaxed_dot_i8x16_i7x16_add_s (16), i16x8.relaxed_dot_i8x16_i7x16_s with its pairs summed by
//    extadd_pairwise or by dot_i16x8_s against ones (16; the latter is the relaxed int8 GEMM's), and the
//    SIMD128 emulation (i16x8.extmul + i32x4.extadd_pairwise);
//    and whether the relaxed dots give exact results on this engine (b in 0..127, a in -128..127).
//    The loops are compiled here from AssemblyScript source (not shipped); 1 thread.
//  - gemm: f32 vs q8 vs q4 matmul at GPT-1's shapes, M = 512 (prefill: the GEMM) and M = 1 (decode: the
//    matrix-vector path), GOP/s = 2·M·K·N / time, and for M = 1 the weight bytes streamed per second.
//   node bench/run-node.mjs quant [--threads N] [--reps R] [--only=dot,gemm] [--write]
// --write puts the tables in BENCHMARKS.md (sections "quant-dot" and "quant-gemm:N"). A benchmark, never a timed test.
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { argv, benchWasmBackend, median, opt, runMeta, want, writeSection } from './common.ts';
import { enableRelaxedSimd } from '../adapters/node/wasm.ts';
import type { Tensor } from '../src/backend/backend.ts';

const threads = opt('threads', 1),
  reps = opt('reps', 5);
const root = process.cwd(),
  loadAvg0 = loadavg();
const tables: [string, string][] = [];

// ---- dot: the instructions ----------------------------------------------------------------------------
// Each loop: per step 2 B vectors, 4 splat loads of A, 8 accumulators (a 4×8 tile, as the GEMM kernels).
const DOT_SOURCE = `
@inline function emu(a: v128, b: v128, c: v128, ones: v128): v128 {
  const lo = i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_low_i8x16_s(a, b));
  const hi = i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_high_i8x16_s(a, b));
  return i32x4.add(c, i32x4.add(i32x4.shuffle(lo, hi, 0, 2, 4, 6), i32x4.shuffle(lo, hi, 1, 3, 5, 7)));
}
// OP(b, a, acc, ones) per kernel; the loop body is the same for all
@inline function fma(b: v128, a: v128, c: v128, ones: v128): v128 { return f32x4.relaxed_madd(b, a, c); }
@inline function d16(b: v128, a: v128, c: v128, ones: v128): v128 { return i32x4.add(c, i32x4.dot_i16x8_s(b, a)); }
@inline function rdot(b: v128, a: v128, c: v128, ones: v128): v128 { return i32x4.relaxed_dot_i8x16_i7x16_add_s(b, a, c); }
@inline function r16(b: v128, a: v128, c: v128, ones: v128): v128 { return i32x4.add(c, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(b, a))); }
@inline function r16o(b: v128, a: v128, c: v128, ones: v128): v128 { return i32x4.add(c, i32x4.dot_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(b, a), ones)); }
${['fma', 'd16', 'rdot', 'r16', 'r16o', 'emu']
  .map(
    (op) => `
export function ${op}Loop(n: i32, p0: usize): i32 {
  let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  const ones = i16x8.splat(<i16>(n > 0 ? 1 : 0));
  for (let r = 0; r < n; r++) {
    let p = p0;
    for (let i = 0; i < 64; i++) {
      const b0 = v128.load(p), b1 = v128.load(p, 16);
      let a = v128.load32_splat(p, 32);
      a0 = ${op}(b0, a, a0, ones); a1 = ${op}(b1, a, a1, ones);
      a = v128.load32_splat(p, 36);
      a2 = ${op}(b0, a, a2, ones); a3 = ${op}(b1, a, a3, ones);
      a = v128.load32_splat(p, 40);
      a4 = ${op}(b0, a, a4, ones); a5 = ${op}(b1, a, a5, ones);
      a = v128.load32_splat(p, 44);
      a6 = ${op}(b0, a, a6, ones); a7 = ${op}(b1, a, a7, ones);
      p += 48;
    }
  }
  const s = v128.or(v128.or(v128.or(a0, a1), v128.or(a2, a3)), v128.or(v128.or(a4, a5), v128.or(a6, a7)));
  return i32x4.extract_lane(s, 0);
}`,
  )
  .join('\n')}
export function rdotOnce(a: usize, b: usize, out: usize): void { v128.store(out, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(a), v128.load(b), i32x4.splat(0))); }
export function r16Once(a: usize, b: usize, out: usize): void { v128.store(out, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(a), v128.load(b))); }
`;

async function dotBench(): Promise<void> {
  if (!enableRelaxedSimd()) {
    console.log('dot: this engine has no relaxed SIMD; skipped');
    return;
  }
  const asc = (await import('assemblyscript/asc')) as unknown as {
    compileString(s: string, o: object): Promise<{ binary: Uint8Array | null; stderr: { toString(): string } }>;
  };
  const r = await asc.compileString(DOT_SOURCE, { optimizeLevel: 3, runtime: 'stub', importMemory: true, enable: ['simd', 'relaxed-simd'], noAssert: true });
  if (!r.binary) throw new Error(`dot kernels: ${r.stderr.toString()}`);
  const memory = new WebAssembly.Memory({ initial: 2 });
  const inst = ((await WebAssembly.instantiate(r.binary as BufferSource, { env: { memory } })) as unknown as WebAssembly.WebAssemblyInstantiatedSource).instance
    .exports as Record<string, (...a: number[]) => number>;
  const u8 = new Uint8Array(memory.buffer);
  for (let i = 0; i < 4096; i++) u8[1024 + i] = (i * 37) % 100; // small values: no f32 denormals, no i16 overflow
  // exactness of the relaxed dots on this engine: every a in lo..127 against b in 0..127, each output lane
  // the sum of `per` products (4 for the i32x4 dot, 2 for the i16x8 one)
  const i8 = new Int8Array(memory.buffer),
    i16 = new Int16Array(memory.buffer),
    i32 = new Int32Array(memory.buffer);
  const exactFrom = (fn: string, per: number, lo: number): boolean => {
    for (let t = 0; t < 2048; t++) {
      for (let j = 0; j < 16; j++) {
        i8[j] = lo + ((t * 16 + j) % (128 - lo)); // a
        u8[16 + j] = (t * 7 + j * 13) % 128; // b
      }
      inst[fn](0, 16, 32);
      for (let l = 0; l < 16 / per; l++) {
        let s = 0;
        for (let j = per * l; j < per * l + per; j++) s += i8[j] * u8[16 + j];
        if ((per === 4 ? i32[8 + l] : i16[16 + l]) !== s) return false;
      }
    }
    return true;
  };
  const exactness = (fn: string, per: number) =>
    exactFrom(fn, per, -128) ? 'exact here' : exactFrom(fn, per, -127) ? 'exact here for a in -127..127, not for a = -128' : 'NOT exact here';
  const kinds: [string, string, number][] = [
    ['fmaLoop', 'f32x4.relaxed_madd (f32 FMA)', 4],
    ['d16Loop', 'i32x4.dot_i16x8_s + i32x4.add (SIMD128)', 8],
    ['rdotLoop', `i32x4.relaxed_dot_i8x16_i7x16_add_s (relaxed; ${exactness('rdotOnce', 4)})`, 16],
    ['r16Loop', `i16x8.relaxed_dot_i8x16_i7x16_s + i32x4.extadd_pairwise_i16x8_s + i32x4.add (relaxed; ${exactness('r16Once', 2)})`, 16],
    ['r16oLoop', 'i16x8.relaxed_dot_i8x16_i7x16_s + i32x4.dot_i16x8_s by ones in a register + i32x4.add (relaxed)', 16],
    ['emuLoop', 'i8 dot emulated: i16x8.extmul + i32x4.extadd_pairwise + shuffles (SIMD128)', 16],
  ];
  const rate = new Map<string, number[]>();
  const n = 2000,
    steps = n * 64;
  // three warm-up calls each: V8 starts a wasm function in its baseline compiler and swaps in the optimized
  // code for a later call, once the first ones have run long enough
  for (let rep = 0; rep < reps + 3; rep++) {
    for (const [fn, , per] of kinds) {
      const t = performance.now();
      inst[fn](n, 1024);
      const ms = performance.now() - t;
      if (rep >= 3) (rate.get(fn) ?? rate.set(fn, []).get(fn)!).push((steps * 8 * per) / ms / 1e6);
    }
  }
  const fmaRate = median(rate.get('fmaLoop')!);
  const rows = kinds.map(([fn, what, per]) => `| ${what} | ${per} | ${median(rate.get(fn)!).toFixed(1)} | ${(median(rate.get(fn)!) / fmaRate).toFixed(2)}× |`);
  tables.push([
    'quant-dot',
    [
      `### Multiply-add instructions in-register (4×8 tiles in L1), 1 thread, median of ${reps}`,
      '',
      meta(),
      '',
      '| instruction | multiply-adds each | G multiply-adds/s | vs f32 FMA |',
      '|---|---:|---:|---:|',
      ...rows,
    ].join('\n'),
  ]);
}

// ---- gemm: the kernels at GPT-1 shapes ------------------------------------------------------------------
async function gemmBench(): Promise<void> {
  const be = await benchWasmBackend({ threads });
  const shapes: [number, number, number][] = [
    [512, 768, 2304],
    [512, 768, 3072],
    [512, 3072, 768],
    [512, 768, 40478],
    [1, 768, 2304],
    [1, 768, 3072],
    [1, 3072, 768],
    [1, 768, 40478],
  ];
  const rand = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + s) * 0.05);
  const lines: string[] = [];
  for (const [M, K, N] of shapes) {
    const a = be.alloc(M * K),
      out = be.alloc(M * N);
    be.write(a, rand(M * K, 1));
    const wf = rand(K * N, 2);
    const runs: [string, Tensor, boolean, number][] = [];
    const f = be.alloc(K * N);
    be.write(f, wf);
    runs.push(['f32', f, false, 4 * K * N]);
    for (const d of ['q8', 'q4'] as const) {
      const t = be.alloc(N * K, d, K);
      be.write(t, wf); // values only: the layout (N,K) vs (K,N) does not matter for timing
      runs.push([d, t, true, d === 'q8' ? N * K + 4 * N : N * Math.ceil(K / 32) * 18]);
    }
    const ms = new Map<string, number[]>();
    const iters = M === 1 ? 50 : 1;
    for (let rep = 0; rep < reps + 1; rep++) {
      for (const [d, w, tB] of runs) {
        const t0 = performance.now();
        for (let i = 0; i < iters; i++) be.matmul(out, a, w, null, M, K, N, false, tB, 0);
        const t = (performance.now() - t0) / iters;
        if (rep > 0) (ms.get(d) ?? ms.set(d, []).get(d)!).push(t);
      }
    }
    const cell = (d: string, bytes: number) => {
      const t = median(ms.get(d)!);
      return `${((2 * M * K * N) / t / 1e6).toFixed(1)}${M === 1 ? ` (${(bytes / t / 1e6).toFixed(1)} GB/s)` : ''}`;
    };
    lines.push(
      `| ${M}×${K}×${N} | ${runs.map(([d, , , bytes]) => cell(d, bytes)).join(' | ')} | ${(median(ms.get('f32')!) / median(ms.get('q8')!)).toFixed(2)}× / ${(median(ms.get('f32')!) / median(ms.get('q4')!)).toFixed(2)}× |`,
    );
    console.log(lines[lines.length - 1]);
    be.free(a, out, ...runs.map((r) => r[1]));
  }
  tables.push([
    `quant-gemm:${threads}`,
    [
      `### Quantized matmul on gptedge-wasm (${be.name}), ${threads} thread${threads > 1 ? 's' : ''}: GOP/s (2·M·K·N / time; M = 1: and weight bytes/s), median of ${reps}`,
      '',
      meta(),
      '',
      'f32: A·B on f32 weights; q8 / q4: A·Wᵀ on int8 (per output channel) / int4 (Q4_0) weights, activations quantized inside the kernel per row and block of 256: to 7-bit codes with a zero point against int8, to 8-bit integers against int4.',
      '',
      '| M×K×N | f32 | q8 (int8) | q4 (int4) | speed-up q8 / q4 over f32 |',
      '|---|---:|---:|---:|---:|',
      ...lines,
    ].join('\n'),
  ]);
  be.dispose();
}

const meta = () => runMeta(`node bench/run-node.mjs quant ${argv.join(' ')}`.trim(), loadAvg0);

if (want('dot')) await dotBench();
if (want('gemm')) await gemmBench();
for (const [, t] of tables) console.log('\n' + t);
if (argv.includes('--write')) {
  for (const [tag, body] of tables) writeSection(join(root, 'BENCHMARKS.md'), tag, body);
  console.log('wrote BENCHMARKS.md');
}
process.exit(0);
