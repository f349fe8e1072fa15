// A/B of two builds of the WASM kernels on the whole GPT-1 prefill (1×512, all logits) or decode, in one process:
// the same random weights in both, the two runs alternating (A B, B A, ...), so the machine's drift falls on
// both alike.
// Reports each build's median and the per-pair ratios A/B (above 1: B is faster). For a kernel change,
// build the old kernels from a worktree of the old commit and pass them as A:
//   git worktree add /tmp/old <commit> && (cd /tmp/old && ln -s $PWD/node_modules && node wasm/build.mjs)
//   node bench/run-node.mjs kernel-ab --a /tmp/old/wasm/build --b wasm/build [--threads 1] [--reps 9] [--weights int8] [--what prefill|decode|gemm|attention|matmul|train]
// --what gemm: the quantized matmul alone (A·Wᵀ, 768×2304 weights of --weights int8|int4) at M = 8, 64, 512, GOP/s.
// --what attention: the tiled attention alone, forward and backward, at the small GPT's shape (B 8, T 256, C 384,
// 6 heads) and GPT-1's (B 1, T 512, C 768, 12 heads); also says whether the two builds give the same bits.
// --what matmul: f32 matmuls alone, out += op(a)·op(b), one after another with no pause: the GEMM bench's four
// GPT-1 shapes, and shapes where the threads' split depends on the kernels' share rules: the small GPT's
// dW = Xᵀ·dY (384 rows; 1152, 384, 1536 columns) and a 100-token prompt's fc2 (100×3072×768). GFLOP/s and the
// median of the per-pair ratios.
// --what train: one training step of the small GPT (B 8, T 256; forward, loss, backward, AdamW; dropout off), from
// the same weights in both, and whether the two builds give the same loss and parameters after --reps steps.
// --threads-a N / --threads-b N: A and B on different thread counts (the same build twice: how each op scales).
// --ops (train, prefill): each op's time in A and in B per run, medians, and the median of the per-pair ratios.
// A benchmark, never a timed test.
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { createNodeWasmBackend } from '../adapters/node/wasm.ts';
import { GPT, type WeightsKind } from '../src/model/gpt.ts';
import { preset } from '../src/model/config.ts';
import { AdamW } from '../src/train/optim.ts';
import type { WasmVariant } from '../wasm/kernels.ts';
import { argv, median, opt } from './common.ts';
import { opKey, timeOps } from './op-timer.ts';

const str = (name: string, dflt?: string): string => {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0) return argv[i + 1];
  if (dflt === undefined) throw new Error(`kernel-ab: --${name} DIR is required (a wasm/build folder)`);
  return dflt;
};
const dirs = [resolve(str('a')), resolve(str('b', 'wasm/build'))],
  threads = opt('threads', 1),
  reps = opt('reps', 9),
  weights = str('weights', 'int8') as WeightsKind,
  what = str('what', 'prefill');
if (!['prefill', 'decode', 'gemm', 'attention', 'matmul', 'train'].includes(what))
  throw new Error('kernel-ab: --what prefill | decode | gemm | attention | matmul | train');

// --threads-a / --threads-b: one build at two thread counts (e.g. --a wasm/build --threads-a 1 --threads-b 2)
const nths = [opt('threads-a', threads), opt('threads-b', threads)],
  thr = nths[0] === nths[1] ? `${nths[0]} thread(s)` : `A ${nths[0]} / B ${nths[1]} threads`;
const backend = (dir: string, n: number) =>
  createNodeWasmBackend({ simd: 'relaxed', threads: n, load: async (v: WasmVariant) => new Uint8Array(await readFile(join(dir, `gptedge-${v}.wasm`))) });
const bes = [await backend(dirs[0], nths[0]), await backend(dirs[1], nths[1])];

// --ops (train, prefill): each run's time per op (bench/op-timer.ts), A's and B's side by side
const ops = argv.includes('--ops') ? bes.map(() => ({ run: new Map<string, number>(), runs: [] as Map<string, number>[] })) : null;
function timeOpsOf(V: number): void {
  if (!ops) return;
  bes.forEach((be, i) =>
    timeOps(
      be,
      () => true,
      (op, args, ms) => {
        const { key } = opKey(op, args, V);
        ops[i].run.set(key, (ops[i].run.get(key) ?? 0) + ms);
      },
    ),
  );
}
/** ends backend i's run: keeps its per-op times (kept: the timed runs, not the warm-up) */
function endRun(i: number, kept: boolean): void {
  if (!ops) return;
  if (kept) ops[i].runs.push(ops[i].run);
  ops[i].run = new Map();
}
function opsTable(): string {
  if (!ops) return '';
  const keys = [...ops[0].runs[0].keys()].sort((x, y) => (ops[0].runs[0].get(y) ?? 0) - (ops[0].runs[0].get(x) ?? 0));
  const rows = keys.map((k) => {
    const a = ops[0].runs.map((r) => r.get(k) ?? 0),
      b = ops[1].runs.map((r) => r.get(k) ?? 0);
    return `| ${k} | ${median(a).toFixed(1)} | ${median(b).toFixed(1)} | ${median(a.map((x, j) => x / b[j])).toFixed(3)} |`;
  });
  return `\n| op | A ms | B ms | A/B (median of pairs) |\n|---|---:|---:|---:|\n${rows.join('\n')}`;
}
if (what === 'gemm') {
  const dt = weights === 'int4' ? 'q4' : 'q8',
    K = 768,
    N = 2304;
  const w = Float32Array.from({ length: N * K }, (_, i) => Math.sin(i * 0.37) * 0.5);
  for (const M of [8, 64, 512]) {
    const x = Float32Array.from({ length: M * K }, (_, i) => Math.cos(i * 0.11));
    const st = bes.map((be) => {
      const tw = be.alloc(N * K, dt, K),
        ta = be.alloc(M * K);
      be.write(tw, w);
      be.write(ta, x);
      return { be, tw, ta, to: be.alloc(M * N) };
    });
    const ms: number[][] = [[], []];
    for (let r = 0; r <= reps; r++)
      for (const i of r % 2 ? [1, 0] : [0, 1]) {
        const s = st[i],
          t = performance.now();
        for (let j = 0; j < 5; j++) s.be.matmul(s.to, s.ta, s.tw, null, M, K, N, false, true, 0);
        if (r > 0) ms[i].push((performance.now() - t) / 5); // r = 0: warm-up
      }
    const gops = (m: number[]) => ((2 * M * K * N) / median(m) / 1e6).toFixed(1);
    const ratios = ms[0].map((t, i) => t / ms[1][i]).sort((p, q) => p - q);
    console.log(`${dt} ${M}×${K}×${N}ᵀ, ${thr}: A ${gops(ms[0])} GOP/s, B ${gops(ms[1])} GOP/s; A/B median ${median(ratios).toFixed(2)}`);
    for (const s of st) s.be.free(s.tw, s.ta, s.to);
  }
  for (const be of bes) be.dispose();
  process.exit(0);
}
if (what === 'attention') {
  for (const [B, T, C, NH] of [
    [8, 256, 384, 6],
    [1, 512, 768, 12],
  ]) {
    const qkv = Float32Array.from({ length: B * T * 3 * C }, (_, i) => Math.sin(i * 0.37) * 2),
      dout = Float32Array.from({ length: B * T * C }, (_, i) => Math.cos(i * 0.11));
    const st = bes.map((be) => {
      const t = {
        be,
        qkv: be.alloc(B * T * 3 * C),
        out: be.alloc(B * T * C),
        lse: be.alloc(B * NH * T),
        dout: be.alloc(B * T * C),
        dqkv: be.alloc(B * T * 3 * C),
      };
      be.write(t.qkv, qkv);
      be.write(t.dout, dout);
      return t;
    });
    const ms: number[][][] = [
      [[], []],
      [[], []],
    ]; // [forward, backward][build]
    for (let r = 0; r <= reps; r++)
      for (const i of r % 2 ? [1, 0] : [0, 1]) {
        const s = st[i];
        let t = performance.now();
        s.be.attentionForward(s.out, s.lse, s.qkv, B, T, C, NH, 0, null);
        const f = performance.now() - t;
        t = performance.now();
        s.be.attentionBackward(s.dqkv, s.dout, s.qkv, s.out, s.lse, B, T, C, NH, 0, null);
        const b = performance.now() - t;
        if (r > 0) ms[0][i].push(f), ms[1][i].push(b); // r = 0: warm-up
      }
    const outs = await Promise.all(st.map(async (s) => [...(await s.be.read(s.out)), ...(await s.be.read(s.lse)), ...(await s.be.read(s.dqkv))]));
    const differ = outs[0].filter((x, k) => !Object.is(x, outs[1][k])).length;
    ['forward', 'backward'].forEach((name, d) => {
      const ratios = ms[d][0].map((t, k) => t / ms[d][1][k]).sort((p, q) => p - q);
      console.log(
        `attention ${name} B${B} T${T} C${C} ${NH} heads, ${thr}: A ${median(ms[d][0]).toFixed(2)} ms, B ${median(ms[d][1]).toFixed(2)} ms; A/B median ${median(ratios).toFixed(3)}`,
      );
    });
    console.log(`  out, lse, dqkv: ${differ} of ${outs[0].length} values differ in bits between A and B`);
    for (const s of st) s.be.free(s.qkv, s.out, s.lse, s.dout, s.dqkv);
  }
  for (const be of bes) be.dispose();
  process.exit(0);
}
if (what === 'matmul') {
  for (const [label, M, K, N, transA, transB] of [
    ['GPT-1 proj', 512, 768, 768, false, false],
    ['GPT-1 fc1', 512, 768, 3072, false, false],
    ['GPT-1 fc2', 512, 3072, 768, false, false],
    ['GPT-1 LM head X·Wᵀ', 512, 768, 40478, false, true],
    ['qkv dW Xᵀ·dY', 384, 2048, 1152, true, false],
    ['proj dW Xᵀ·dY', 384, 2048, 384, true, false],
    ['fc1 dW Xᵀ·dY', 384, 2048, 1536, true, false],
    ['fc2, 100 tokens', 100, 3072, 768, false, false],
  ] as const) {
    const st = bes.map((be) => {
      const a = be.alloc(M * K),
        b = be.alloc(K * N),
        out = be.alloc(M * N);
      be.write(
        a,
        Float32Array.from({ length: M * K }, (_, i) => Math.sin(i)),
      );
      be.write(
        b,
        Float32Array.from({ length: K * N }, (_, i) => Math.cos(i)),
      );
      return { be, a, b, out };
    });
    const once = (s: (typeof st)[number]) => {
      const t = performance.now();
      s.be.matmul(s.out, s.a, s.b, null, M, K, N, transA, transB, 1);
      return performance.now() - t;
    };
    const ms: number[][] = [[], []];
    for (let r = 0; r < reps; r++)
      for (const i of r % 2 ? [1, 0] : [0, 1]) {
        once(st[i]); // warm: its operands in cache, as in a step
        ms[i].push(once(st[i]));
      }
    const ratios = ms[0].map((t, k) => t / ms[1][k]);
    const gflops = (x: number[]) => ((2 * M * K * N) / median(x) / 1e6).toFixed(1);
    console.log(
      `${label} ${M}×${K}×${N}, ${thr}, ${reps} pairs: A ${gflops(ms[0])} GFLOP/s, B ${gflops(ms[1])} GFLOP/s; A/B median ${median(ratios).toFixed(3)}`,
    );
    for (const s of st) s.be.free(s.a, s.b, s.out);
  }
  for (const be of bes) be.dispose();
  process.exit(0);
}
if (what === 'train') {
  const cfg = preset('small', { embdPdrop: 0, residPdrop: 0, attnPdrop: 0 }),
    B = 8,
    T = 256;
  const params = await new GPT(bes[0], cfg).init(1).readParams();
  timeOpsOf(cfg.vocabSize);
  const ids = new Int32Array(B * T).map((_, i) => (i * 7919) % cfg.vocabSize),
    targets = new Int32Array(B * T).map((_, i) => (i * 104729 + 3) % cfg.vocabSize),
    w = new Float32Array(B * T).fill(1 / (B * T));
  const models = bes.map((be) => {
    const m = new GPT(be, cfg);
    m.writeParams(params);
    return m;
  });
  const runs = models.map((m, i) => {
    const be = bes[i],
      opt = new AdamW(be, [m.parameters()]);
    return async (): Promise<number> => {
      m.zeroGrad();
      const pass = m.forward(ids, B, T);
      const loss = pass.loss(targets, w, 1);
      pass.backward();
      opt.update({ lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, gradClip: 1 });
      return (await be.read(loss))[0];
    };
  });
  const ms: number[][] = [[], []],
    losses: number[][] = [[], []];
  for (let r = 0; r <= reps; r++)
    for (const i of r % 2 ? [1, 0] : [0, 1]) {
      const t = performance.now();
      losses[i].push(await runs[i]());
      if (r > 0) ms[i].push(performance.now() - t); // r = 0: warm-up
      endRun(i, r > 0);
    }
  const ratios = ms[0].map((t, k) => t / ms[1][k]).sort((p, q) => p - q);
  // the loss alone barely moves from ln(V) in a few steps from init (a difference in the last bits of the
  // activations does not reach it), so the parameters after the steps are compared too, bit for bit
  const after = await Promise.all(models.map((m) => m.readParams()));
  let paramsDiffer = 0,
    paramsCount = 0;
  for (const [k, x] of after[0]) {
    const y = after[1].get(k) ?? new Float32Array(x.length).fill(Number.NaN);
    for (let j = 0; j < x.length; j++) if (!Object.is(x[j], y[j])) paramsDiffer++;
    paramsCount += x.length;
  }
  const same = losses[0].every((l, k) => Object.is(l, losses[1][k]));
  console.log(
    `small GPT training step B${B} T${T}, ${thr}, ${reps} pairs: A ${median(ms[0]).toFixed(0)} ms, B ${median(ms[1]).toFixed(0)} ms; ` +
      `A/B per pair ${ratios.map((x) => x.toFixed(2)).join(' ')} (median ${median(ratios).toFixed(3)}); losses ${same ? 'the same bits' : 'differ'} over ${reps + 1} steps; parameters after them: ${paramsDiffer ? `${paramsDiffer} of ${paramsCount} differ` : 'the same bits'}${opsTable()}`,
  );
  for (const be of bes) be.dispose();
  process.exit(0);
}
const cfg = preset('gpt1', { embdPdrop: 0, residPdrop: 0, attnPdrop: 0 });
const params = await new GPT(bes[0], cfg).init(1).readParams();
const models = bes.map((be) => {
  const m = new GPT(be, cfg, { weights });
  m.writeParams(params);
  return m;
});
const ids = new Int32Array(512).map((_, i) => (i * 7919) % cfg.vocabSize);
if (what === 'prefill') timeOpsOf(cfg.vocabSize);
/** one measurement in ms: the prefill, or (--what decode) ms/token of 16 greedy tokens after a 128-token prompt */
async function once(m: GPT): Promise<number> {
  if (what === 'prefill') {
    const t = performance.now();
    await m.forward(ids, 1, 512).allLogits();
    return performance.now() - t;
  }
  const cache = m.newKVCache(1, 128 + 17);
  let last = await m.forward(ids.subarray(0, 128), 1, 128, { cache }).lastLogits();
  const t = performance.now();
  for (let s = 0; s < 16; s++) {
    let tok = 0;
    for (let v = 1; v < last.length; v++) if (last[v] > last[tok]) tok = v;
    last = await m.forward(Int32Array.of(tok), 1, 1, { cache }).lastLogits();
  }
  const per = (performance.now() - t) / 16;
  m.freeKVCache(cache);
  return per;
}
const load0 = loadavg();
for (const [i, m] of models.entries()) {
  await once(m); // warm-up
  endRun(i, false);
}
const ms: number[][] = [[], []];
for (let r = 0; r < reps; r++) {
  // ABBA order: whatever favours the first (or second) run of a pair falls on both builds
  for (const i of r % 2 ? [1, 0] : [0, 1]) {
    ms[i].push(await once(models[i]));
    endRun(i, true);
  }
}
const ratios = ms[0].map((t, i) => t / ms[1][i]).sort((x, y) => x - y);
console.log(
  `GPT-1 ${what === 'prefill' ? 'prefill 1×512' : 'decode ms/token (16 after 128)'}, ${weights} weights, ${thr}, ${reps} pairs (load ${load0.map((x) => x.toFixed(1)).join(' ')} at the start):\n` +
    `  A ${dirs[0]}: ${median(ms[0]).toFixed(what === 'prefill' ? 0 : 2)} ms\n  B ${dirs[1]}: ${median(ms[1]).toFixed(what === 'prefill' ? 0 : 2)} ms\n` +
    `  A/B per pair: ${ratios.map((x) => x.toFixed(2)).join(' ')} (median ${median(ratios).toFixed(2)})${opsTable()}`,
);
for (const be of bes) be.dispose();
