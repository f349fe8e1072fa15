// What sharing the matmuls by measured speed (src/backend/wasm/pool.ts ShareBalancer) buys over equal
// shares, A/B in one process, interleaved rep by rep so that the machine's changing load falls on both:
//  - the ceiling: the best SIMD128 tile on every thread at once vs one thread alone (bench/simd-peak.ts),
//    measured before and after — what the cores give together on this machine right now;
//  - f32 GEMM at the GPT-1 shapes, and GPT-1 prefill 1×512 (all logits), each with 'measured' and 'equal'
//    shares; the shares the balancer settled on.
//   node bench/run-node.mjs thread-shares [--threads 2] [--reps 7] [--write BENCHMARKS.md]
// A benchmark, never a timed test.
import { loadavg } from 'node:os';
import { GPT } from '../src/model/gpt.ts';
import { preset } from '../src/model/config.ts';
import { forwardFlops } from './flops.ts';
import { measurePeak, togetherLine } from './simd-peak.ts';
import { argv, benchWasmBackend, median, opt, runMeta, writeSection } from './common.ts';

const threads = opt('threads', 2),
  reps = opt('reps', 7),
  load0 = loadavg();
const writeTo = argv.includes('--write') ? argv[argv.indexOf('--write') + 1] : null;
const before = await measurePeak({ threads });
console.log(`before: ${togetherLine(before)}`);
const kinds = ['measured', 'equal'] as const;
const bes = await Promise.all(kinds.map((s) => benchWasmBackend({ simd: 'relaxed', threads, threadShares: s })));
const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
const lines: string[] = [];

// ---- GEMM ---------------------------------------------------------------------------------------------
const shapes: [number, number, number][] = [
  [512, 768, 768],
  [512, 768, 3072],
  [512, 3072, 768],
  [512, 768, 40478],
];
const gemmRows: string[] = [];
for (const [M, K, N] of shapes) {
  const a = rand(M * K),
    b = rand(K * N);
  const ts = bes.map((be) => {
    const ta = be.alloc(M * K),
      tb = be.alloc(K * N),
      tc = be.alloc(M * N);
    be.write(ta, a);
    be.write(tb, b);
    const call = () => be.matmul(tc, ta, tb, null, M, K, N, false, false, 0);
    for (let i = 0; i < 3; i++) call(); // warm-up, and the balancer's first measurements
    return { call, times: [] as number[], free: () => be.free(ta, tb, tc) };
  });
  for (let r = 0; r < reps; r++)
    for (const t of ts) {
      const t0 = performance.now();
      t.call();
      t.times.push(performance.now() - t0);
    }
  const g = ts.map((t) => (2 * M * K * N) / median(t.times) / 1e6);
  for (const t of ts) t.free();
  gemmRows.push(`| ${M}×${K}×${N} | ${g[0].toFixed(1)} | ${g[1].toFixed(1)} | ${(g[0] / g[1]).toFixed(2)} |`);
  console.log(gemmRows.at(-1));
}

// ---- GPT-1 prefill ------------------------------------------------------------------------------------
const cfg = preset('gpt1', { embdPdrop: 0, attnPdrop: 0, residPdrop: 0 });
const params = await new GPT(bes[0], cfg).init(1).readParams();
const models = bes.map((be) => {
  const m = new GPT(be, cfg);
  m.writeParams(params);
  return m;
});
const ids = Int32Array.from({ length: 512 }, (_, i) => (i * 7919) % cfg.vocabSize);
const prefill = async (m: GPT) => void (await m.forward(ids, 1, 512).allLogits());
for (const m of models) await prefill(m);
const times = models.map(() => [] as number[]);
for (let r = 0; r < reps; r++)
  for (const [i, m] of models.entries()) {
    const t0 = performance.now();
    await prefill(m);
    times[i].push(performance.now() - t0);
  }
const ms = times.map(median);
const flops = forwardFlops(cfg, 1, 512);
const after = await measurePeak({ threads });
console.log(`after: ${togetherLine(after)}`);
const shares = bes[0].threadShares;
for (const be of bes) be.dispose();

const perCore = (p: typeof before) => (p.together ? p.together.sum / p.together.threads : Number.NaN);
const ceiling = (perCore(before) + perCore(after)) / 2;
lines.push(
  `### ${threads} threads: matmul shares by measured speed vs equal shares`,
  '',
  runMeta(`node bench/run-node.mjs thread-shares ${argv.join(' ')}`.trim(), load0) + `; medians of ${reps} interleaved repetitions.`,
  '',
  `The ceiling, before: ${togetherLine(before)}; after: ${togetherLine(after)}.`,
  '',
  `| f32 GEMM, GFLOP/s (${threads} threads) | measured shares | equal shares | ratio |`,
  '|---|---:|---:|---:|',
  ...gemmRows,
  '',
  `| GPT-1 prefill 1×512 (all logits), ${threads} threads | measured shares | equal shares | ratio |`,
  '|---|---:|---:|---:|',
  `| ms (median of ${reps}) | ${ms[0].toFixed(0)} | ${ms[1].toFixed(0)} | ${(ms[1] / ms[0]).toFixed(2)} |`,
  `| GFLOP/s per core, and its share of what the cores gave together (${ceiling.toFixed(1)} per core, the mean of before and after) | ${(flops / ms[0] / 1e6 / threads).toFixed(1)} (${((100 * flops) / ms[0] / 1e6 / threads / ceiling).toFixed(0)}%) | ${(flops / ms[1] / 1e6 / threads).toFixed(1)} (${((100 * flops) / ms[1] / 1e6 / threads / ceiling).toFixed(0)}%) | |`,
  '',
  `Shares the balancer held at the end: ${shares.map((x) => x.toFixed(3)).join(' / ')}. Each repetition: ${times
    .map((t, i) => `${kinds[i]} ${t.map((x) => x.toFixed(0)).join(', ')}`)
    .join('; ')} ms.`,
);
const body = lines.join('\n');
console.log(`\n${body}`);
if (writeTo) writeSection(writeTo, `thread-shares-${threads}`, body);
