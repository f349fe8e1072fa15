// The machine's WebAssembly SIMD128 f32 peak per core: the ceiling every bench figure is a fraction of.
//
// An MR×NR register tile of relaxed-FMA accumulators (NR/4 vectors per row) runs over packed panels that
// stay in L1 (A: MR floats per k, broadcast with load32_splat; B: NR floats per k, NR/4 vector loads),
// exactly the inner loop of a GEMM with nothing else in it — no packing, no edges, no C traffic but one
// store per tile. Every tile shape in TILES is generated, compiled with asc (the same compiler and flags
// as wasm/build.mjs), timed on one thread, and the best is the peak: what the engine's code generation
// gives this core, not the CPU's datasheet (which WebAssembly's 128-bit vectors could not reach anyway).
// A loads-free FMA chain is reported beside it as the arithmetic's own bound. With --threads N the best tile
// also runs on N threads at once: the ceiling for an N-thread figure is what the cores give together.
//   node bench/run-node.mjs simd-peak [--threads N]   (prints every tile's GFLOP/s and the peak)
//   node bench/run-node.mjs simd-peak --macro         (the tiles inside a GEMM's macro-kernel loop, below)
// Other benches import measurePeak() and state their figures as fractions of it.
import asc from 'assemblyscript/asc';
import { enableRelaxedSimd } from '../adapters/node/wasm.ts';

/** tile shapes tried: [MR, NR]; NR a multiple of 4 (one f32x4 per 4 columns) */
export const TILES: [number, number][] = [
  [4, 8],
  [2, 16],
  [3, 12],
  [4, 12],
  [6, 8],
  [5, 8],
  [3, 16],
  [4, 16],
  [8, 8],
  [1, 32],
];
const KC = 128; // k steps per pass: A 4·KC·MR and B 4·KC·NR bytes, ≤ 16 KB together for every tile above

function tileSource(mr: number, nr: number): string {
  const nv = nr / 4,
    acc: string[] = [];
  for (let i = 0; i < mr; i++) for (let j = 0; j < nv; j++) acc.push(`c${i}_${j}`);
  const body: string[] = [];
  for (let j = 0; j < nv; j++) body.push(`const b${j} = v128.load(bp, ${16 * j});`);
  for (let i = 0; i < mr; i++) {
    body.push(`a = v128.load32_splat(ap, ${4 * i});`);
    for (let j = 0; j < nv; j++) body.push(`c${i}_${j} = f32x4.relaxed_madd(a, b${j}, c${i}_${j});`);
  }
  const sum = acc.reduce((s, c) => (s ? `f32x4.add(${s}, ${c})` : c), '');
  return `
export function tile_${mr}x${nr}(a0: usize, b0: usize, kc: i32, reps: i32, out: usize): void {
  ${acc.map((c) => `let ${c} = f32x4.splat(0);`).join(' ')}
  for (let r = 0; r < reps; r++) {
    let ap = a0, bp = b0;
    for (let k = 0; k < kc; k++) {
      let a: v128;
      ${body.join('\n      ')}
      ap += ${4 * mr};
      bp += ${4 * nr};
    }
  }
  v128.store(out, ${sum});
}`;
}

// 12 independent accumulator chains, no memory traffic: FMA throughput × latency hidden
const CHAIN = `
export function fmaChain(n: i32, out: usize): void {
  let x = f32x4.splat(0.999), y = f32x4.splat(1e-7);
  let c0 = f32x4.splat(0), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
  for (let i = 0; i < n; i++) {
    c0 = f32x4.relaxed_madd(c0, x, y); c1 = f32x4.relaxed_madd(c1, x, y); c2 = f32x4.relaxed_madd(c2, x, y); c3 = f32x4.relaxed_madd(c3, x, y);
    c4 = f32x4.relaxed_madd(c4, x, y); c5 = f32x4.relaxed_madd(c5, x, y); c6 = f32x4.relaxed_madd(c6, x, y); c7 = f32x4.relaxed_madd(c7, x, y);
    c8 = f32x4.relaxed_madd(c8, x, y); c9 = f32x4.relaxed_madd(c9, x, y); c10 = f32x4.relaxed_madd(c10, x, y); c11 = f32x4.relaxed_madd(c11, x, y);
  }
  v128.store(out, f32x4.add(f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)), f32x4.add(f32x4.add(f32x4.add(c4, c5), f32x4.add(c6, c7)), f32x4.add(f32x4.add(c8, c9), f32x4.add(c10, c11)))));
}`;

export interface Peak {
  /** best tile's GFLOP/s on one thread: the peak */
  gflops: number;
  tile: string;
  tiles: { tile: string; gflops: number }[];
  /** the loads-free FMA chain */
  chain: number;
  /**
   * with `threads` > 1: the best tile run on every thread at once (medians over windows of a sustained run),
   * beside the same run on one thread alone — what the machine gives its cores together, which on a shared
   * or virtual machine (cores that are hyperthreads of one another, or busy with another tenant) can be far
   * less than `threads` times one core
   */
  together?: { threads: number; perThread: number[]; sum: number; alone: number };
}

/**
 * tile sources compiled with asc (wasm/build.mjs's flags), instantiated over `pages` × 64 KB of values near 1:
 * the tiles take A from byte 0, B from 32 KB, out at 64 KB
 */
async function compileTiles(src: string, pages = 2): Promise<{ module: WebAssembly.Module; ex: Record<string, (...a: number[]) => void> }> {
  const { error, binary, stderr } = await asc.compileString(src, {
    optimizeLevel: 3,
    runtime: 'stub',
    noAssert: true,
    enable: ['simd', 'relaxed-simd'],
    importMemory: true,
    initialMemory: 1,
  } as Parameters<typeof asc.compileString>[1]);
  if (error || !binary) throw new Error(`simd-peak: asc failed: ${error?.message} ${stderr.toString()}`);
  const bytes = new Uint8Array(binary); // a copy on a plain ArrayBuffer
  if (!enableRelaxedSimd() || !WebAssembly.validate(bytes)) throw new Error('simd-peak: this engine does not validate relaxed SIMD');
  const memory = new WebAssembly.Memory({ initial: pages });
  const module = await WebAssembly.compile(bytes);
  const instance = await WebAssembly.instantiate(module, { env: { memory, abort: () => {} } });
  const f = new Float32Array(memory.buffer);
  for (let i = 0; i < f.length; i++) f[i] = 1 + (i % 7) * 1e-3;
  return { module, ex: instance.exports as Record<string, (...a: number[]) => void> };
}

/**
 * Compiles the tiles and times each on this thread: the best of `trials` runs of ≈ `ms` each. The trials go
 * round the tiles in turn, so that every tile meets the same states of the machine (a shared host's core
 * rate changes for seconds at a time; timed one tile after another, a tile that met a slow spell lost).
 */
export async function measurePeak(opts: { ms?: number; trials?: number; clock?: () => number; threads?: number } = {}): Promise<Peak> {
  const ms = opts.ms ?? 100,
    trials = opts.trials ?? 8,
    now = opts.clock ?? (() => performance.now());
  const { module, ex } = await compileTiles(TILES.map(([m, n]) => tileSource(m, n)).join('\n') + CHAIN);
  const A = 0,
    B = 32768,
    OUT = 65536;
  const runs = [
    ...TILES.map(([m, n]) => ({ tile: `${m}×${n}`, run: (r: number) => ex[`tile_${m}x${n}`](A, B, KC, r, OUT), flopsPerRep: 2 * m * n * KC })),
    { tile: 'chain', run: (r: number) => ex.fmaChain(r * 1000, OUT), flopsPerRep: 12 * 8 * 1000 },
  ].map((x) => {
    let reps = 1; // calibrated to ≈ ms
    for (;;) {
      const t = now();
      x.run(reps);
      const dt = now() - t;
      if (dt > ms / 4) {
        reps = Math.max(1, Math.round((reps * ms) / dt));
        break;
      }
      reps *= 4;
    }
    return { ...x, reps, best: 0 };
  });
  for (let i = 0; i < trials; i++)
    for (let j = 0; j < runs.length; j++) {
      const x = runs[(i + j) % runs.length], // each trial starts one further on
        t = now();
      x.run(x.reps);
      x.best = Math.max(x.best, (x.flopsPerRep * x.reps) / ((now() - t) * 1e6));
    }
  const tiles = runs.slice(0, -1).map((x) => ({ tile: x.tile, gflops: x.best }));
  const chain = runs[runs.length - 1].best;
  const best = tiles.reduce((x, y) => (y.gflops > x.gflops ? y : x));
  const peak: Peak = { gflops: best.gflops, tile: best.tile, tiles, chain };
  if ((opts.threads ?? 1) > 1) {
    const [m, n] = best.tile.split('×').map(Number);
    const alone = await together(module, `tile_${m}x${n}`, 2 * m * n * KC, 1);
    const all = await together(module, `tile_${m}x${n}`, 2 * m * n * KC, opts.threads!);
    peak.together = { threads: opts.threads!, perThread: all, sum: all.reduce((x, y) => x + y, 0), alone: alone[0] };
  }
  return peak;
}

/**
 * The peak tile as a probe of what the cores give right now: probe(ms) runs `tile` (e.g. peak.tile) for
 * about ms on this thread, and with threads > 1 at the same time on threads - 1 workers, and returns the
 * GFLOP/s of all of them together. On a shared machine a core's rate switches between states for seconds
 * at a time (measured here: ~52 and ~34 GFLOP/s, other work on the host, presumably), so a workload's share
 * of a best-case peak mixes the engine's efficiency with the machine's state; probes taken between a
 * workload's ops (gpt.ts --alongside) give the rate the cores offered while it ran.
 * With threads > 1 each probe first sleeps `idleMs` (past the engine's workers' spin after a job, 2 ms),
 * so that the probe's workers do not share a core with a spinning one and read it low; the engine's next op
 * then wakes sleeping workers, which counts against the engine, not for it. close() ends the workers.
 */
export async function tileProbe(tile: string, threads = 1, idleMs = 3): Promise<{ probe: (ms: number) => number; close: () => void }> {
  const [m, n] = tile.split('×').map(Number);
  const { module } = await compileTiles(tileSource(m, n));
  const fn = `tile_${m}x${n}`,
    reps = 16,
    flopsPerRep = 2 * m * n * KC;
  const own = await tileTimerHere(module, fn, reps, flopsPerRep);
  if (threads === 1) return { probe: own, close: () => {} };
  // ctl: [0] probe number (workers wait for it to change), [1] probes finished, [2] ms; rates: one per worker
  const ctl = new Int32Array(new SharedArrayBuffer(12)),
    rates = new Float64Array(new SharedArrayBuffer(8 * (threads - 1))),
    nap = new Int32Array(new SharedArrayBuffer(4));
  const { Worker } = await import('node:worker_threads');
  const ready = new Int32Array(new SharedArrayBuffer(4));
  const workers = Array.from(
    { length: threads - 1 },
    (_, w) =>
      new Worker(
        `${TILE_TIMER_SOURCE}
const { workerData: d } = require('node:worker_threads');
(async () => {
  const timed = await tileTimer(d.module, d.fn, d.reps, d.flopsPerRep);
  Atomics.add(d.ready, 0, 1); Atomics.notify(d.ready, 0);
  for (let seen = 0; ; ) {
    Atomics.wait(d.ctl, 0, seen);
    seen = Atomics.load(d.ctl, 0);
    if (seen < 0) return;
    d.rates[d.w] = timed(Atomics.load(d.ctl, 2));
    Atomics.add(d.ctl, 1, 1); Atomics.notify(d.ctl, 1);
  }
})();`,
        { eval: true, workerData: { module, fn, reps, flopsPerRep, ctl, rates, ready, w } },
      ),
  );
  while (Atomics.load(ready, 0) < threads - 1) await new Promise((r) => setTimeout(r, 10)); // started, compiled, warm
  return {
    probe: (ms: number) => {
      Atomics.wait(nap, 0, 0, idleMs);
      Atomics.store(ctl, 1, 0);
      Atomics.store(ctl, 2, Math.max(1, Math.round(ms)));
      Atomics.add(ctl, 0, 1);
      Atomics.notify(ctl, 0);
      let sum = own(ms);
      for (let d; (d = Atomics.load(ctl, 1)) < threads - 1; ) Atomics.wait(ctl, 1, d, 1000);
      for (const r of rates) sum += r;
      return sum;
    },
    close: () => {
      Atomics.store(ctl, 0, -1);
      Atomics.notify(ctl, 0);
      for (const w of workers) void w.terminate();
    },
  };
}

// A tile timer on its own panels of ones, for whichever thread evaluates it (workers get it as source):
// tileTimer(...) instantiates the tile in a fresh memory and warms it; timed(ms) runs it for ≈ ms (at least
// once) and returns GFLOP/s. flopsPerRep: one call's FLOPs per rep of its kc loop.
const TILE_TIMER_SOURCE = `
async function tileTimer(module, fn, reps, flopsPerRep) {
  const memory = new WebAssembly.Memory({ initial: 2 });
  const ex = (await WebAssembly.instantiate(module, { env: { memory, abort: () => {} } })).exports;
  const f = new Float32Array(memory.buffer);
  for (let i = 0; i < f.length; i++) f[i] = 1 + (i % 7) * 1e-3;
  ex[fn](0, 32768, ${KC}, reps, 65536); // compiled and warm before the first timing
  return (ms) => {
    const t = performance.now();
    let n = 0, dt = 0;
    do { ex[fn](0, 32768, ${KC}, reps, 65536); n++; dt = performance.now() - t; } while (dt < ms);
    return (flopsPerRep * reps * n) / (dt * 1e6);
  };
}`;
const tileTimerHere = new Function(`${TILE_TIMER_SOURCE}; return tileTimer;`)() as (
  module: WebAssembly.Module,
  fn: string,
  reps: number,
  flopsPerRep: number,
) => Promise<(ms: number) => number>;

const TOGETHER_WINDOWS = 15,
  TOGETHER_MS = 100;
// One thread's part of `together` (also run by the workers, as eval'd source): the tile in windows of ≈ ms,
// started when the shared go word turns 1; returns each window's GFLOP/s.
const TOGETHER_SOURCE = `${TILE_TIMER_SOURCE}
async function peakWindows(module, fn, flopsPerRep, go, windows, ms) {
  const timed = await tileTimer(module, fn, 64, flopsPerRep), out = [];
  while (Atomics.load(go, 0) === 0) {}
  for (let w = 0; w < windows; w++) out.push(timed(ms));
  return out;
}`;
/** The tile on `threads` threads at once (this one and threads - 1 workers): each thread's median GFLOP/s. */
async function together(module: WebAssembly.Module, fn: string, flopsPerRep: number, threads: number): Promise<number[]> {
  const { Worker } = await import('node:worker_threads');
  const go = new Int32Array(new SharedArrayBuffer(4));
  const mid = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
  const workers = Array.from({ length: threads - 1 }, () => {
    const w = new Worker(
      `${TOGETHER_SOURCE}\nconst { parentPort, workerData: d } = require('node:worker_threads');\n` +
        `peakWindows(d.module, d.fn, d.flopsPerRep, d.go, d.windows, d.ms).then((r) => parentPort.postMessage(r));`,
      { eval: true, workerData: { module, fn, flopsPerRep, go, windows: TOGETHER_WINDOWS, ms: TOGETHER_MS } },
    );
    return new Promise<number[]>((ok, fail) => {
      w.once('message', (r) => {
        ok(r as number[]);
        void w.terminate();
      });
      w.once('error', fail);
    });
  });
  await new Promise((r) => setTimeout(r, 300)); // the workers start and compile
  const peakWindows = new Function(`${TOGETHER_SOURCE}; return peakWindows;`)() as (...a: unknown[]) => Promise<number[]>;
  const mine = peakWindows(module, fn, flopsPerRep, go, TOGETHER_WINDOWS, TOGETHER_MS);
  Atomics.store(go, 0, 1);
  return [mid(await mine), ...(await Promise.all(workers)).map(mid)];
}

// ---- --macro: the tiles inside a GEMM's macro-kernel -------------------------------------------------
// The peak above is a tile alone: one call, its accumulators live across a long k loop and nothing else.
// A GEMM calls its tile once per MR×NR block of out, over packed panels of A (MC×KC, L1/L2) and B (KC×NC,
// L2), and adds the tile into out: here, that loop with nothing else (no packing, no edges), for the tiles a
// GEMM could use. Where a tile's registers are too many for V8 (16 xmm, one kept as scratch), it spills in
// this setting even where it runs at full speed alone, which is how a tile is chosen for wasm/assembly/tile.ts.
const MACRO_TILES: [number, number][] = [
  [4, 8],
  [3, 12],
  [2, 16],
  [6, 8],
  [4, 12],
];
function macroSource(mr: number, nr: number, mc: number, nc: number): string {
  const nv = nr / 4,
    acc: string[] = [],
    body: string[] = [],
    add: string[] = [];
  for (let i = 0; i < mr; i++) for (let j = 0; j < nv; j++) acc.push(`c${i}_${j}`);
  for (let j = 0; j < nv; j++) body.push(`const b${j} = v128.load(bp, ${16 * j});`);
  for (let i = 0; i < mr; i++) {
    body.push(`a = v128.load32_splat(ap, ${4 * i});`);
    for (let j = 0; j < nv; j++) body.push(`c${i}_${j} = f32x4.relaxed_madd(a, b${j}, c${i}_${j});`);
  }
  for (let i = 0; i < mr; i++)
    for (let j = 0; j < nv; j++) add.push(`v128.store(c + ${i * nc * 4 + 16 * j}, f32x4.add(v128.load(c + ${i * nc * 4 + 16 * j}), c${i}_${j}));`);
  return `
@inline function block_${mr}x${nr}(ap: usize, bp: usize, c: usize): void {
  ${acc.map((c) => `let ${c} = f32x4.splat(0);`).join(' ')}
  for (let k = 0; k < ${KC_MACRO}; k++) {
    let a: v128;
    ${body.join('\n    ')}
    ap += ${4 * mr};
    bp += ${4 * nr};
  }
  ${add.join('\n  ')}
}
export function macro_${mr}x${nr}(a0: usize, b0: usize, c0: usize, reps: i32): void {
  for (let r = 0; r < reps; r++)
    for (let jr = 0; jr < ${nc}; jr += ${nr})
      for (let ir = 0; ir < ${mc}; ir += ${mr}) block_${mr}x${nr}(a0 + ${4 * KC_MACRO} * <usize>ir, b0 + ${4 * KC_MACRO} * <usize>jr, c0 + <usize>(ir * ${nc} + jr) * 4);
}`;
}
// matmul.ts's blocking: KC 256, MC 64 rows, NC 512 columns (rounded to whole tiles)
const KC_MACRO = 256;
const macroShape = (mr: number, nr: number) => [Math.round(64 / mr) * mr, Math.round(512 / nr) * nr];

/** GFLOP/s of each MACRO_TILES tile in the macro-kernel loop on this thread: best of `trials`, the tiles in turn */
export async function measureMacro(trials = 10): Promise<{ tile: string; gflops: number }[]> {
  const { ex } = await compileTiles(MACRO_TILES.map(([m, n]) => macroSource(m, n, ...(macroShape(m, n) as [number, number]))).join('\n'), 16);
  const A = 0,
    B = 128 << 10,
    C = 768 << 10, // A ≤ 66×256 floats, B ≤ 256×512 floats, C ≤ 66×512 floats
    reps = 16,
    best = MACRO_TILES.map(() => 0);
  for (let t = 0; t <= trials; t++)
    for (const [i, [m, n]] of MACRO_TILES.entries()) {
      const [mc, nc] = macroShape(m, n),
        t0 = performance.now();
      ex[`macro_${m}x${n}`](A, B, C, reps);
      if (t > 0) best[i] = Math.max(best[i], (2 * mc * nc * KC_MACRO * reps) / ((performance.now() - t0) * 1e6)); // t = 0: warm-up
    }
  return MACRO_TILES.map(([m, n], i) => ({ tile: `${m}×${n}`, gflops: best[i] }));
}

/** what the machine gave its cores together, in one line */
export const togetherLine = (p: Peak): string =>
  p.together
    ? `${p.together.threads} threads at once: ${p.together.perThread.map((g) => g.toFixed(1)).join(' + ')} = ${p.together.sum.toFixed(1)} GFLOP/s ` +
      `(median of ${TOGETHER_WINDOWS} windows of ${TOGETHER_MS} ms each), ${(p.together.sum / p.together.alone).toFixed(2)}× one thread alone (${p.together.alone.toFixed(1)})`
    : '';

/** "x% of peak" for a figure measured on `threads` threads */
export const ofPeak = (gflops: number, peak: number, threads = 1) => `${((100 * gflops) / (peak * threads)).toFixed(0)}%`;

// run directly (this file, or its bundle from run-node.mjs), not when another bench bundles it in
if (/\/simd-peak\.(ts|mjs)$/.test(import.meta.url)) {
  const { cpus, loadavg } = await import('node:os');
  // --cpu: this thread's CPU time instead of wall time (development on a shared machine; not for figures)
  const cpuClock = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const ti = process.argv.indexOf('--threads'),
    threads = ti >= 0 ? Number(process.argv[ti + 1]) : 1;
  if (process.argv.includes('--macro')) {
    const rows = await measureMacro();
    console.log(`${cpus()[0]?.model} ×${cpus().length}, ${process.release.name} ${process.version}`);
    for (const r of rows) console.log(`macro-kernel ${r.tile.padEnd(5)} ${r.gflops.toFixed(1)} GFLOP/s`);
    process.exit(0);
  }
  const p = await measurePeak({ ...(process.argv.includes('--cpu') ? { clock: cpuClock, ms: 300 } : {}), threads });
  console.log(
    `${cpus()[0]?.model} ×${cpus().length}, ${process.release.name} ${process.version}, load ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
  for (const t of p.tiles) console.log(`tile ${t.tile.padEnd(6)} ${t.gflops.toFixed(1)} GFLOP/s`);
  console.log(`FMA chain (no loads) ${p.chain.toFixed(1)} GFLOP/s`);
  console.log(`peak: ${p.gflops.toFixed(1)} GFLOP/s per core (tile ${p.tile})`);
  if (p.together) console.log(togetherLine(p));
}
