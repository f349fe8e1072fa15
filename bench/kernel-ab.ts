// A/B of two builds of the WASM kernels on the whole GPT-1 prefill (1×512, all logits) or decode, in one process:
// the same random weights in both, the two runs alternating (A B, B A, ...), so the machine's drift falls on
// both alike.
// Reports each build's median and the per-pair ratios A/B (above 1: B is faster). For a kernel change,
// build the old kernels from a worktree of the old commit and pass them as A:
//   git worktree add /tmp/old <commit> && (cd /tmp/old && ln -s $PWD/node_modules && node wasm/build.mjs)
//   node bench/run-node.mjs kernel-ab --a /tmp/old/wasm/build --b wasm/build [--threads 1] [--reps 9] [--weights int8] [--what prefill|decode|gemm]
// --what gemm: the quantized matmul alone (A·Wᵀ, 768×2304 weights of --weights int8|int4) at M = 8, 64, 512, GOP/s.
// A benchmark, never a timed test.
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { createNodeWasmBackend } from '../adapters/node/wasm.ts';
import { GPT, type WeightsKind } from '../src/model/gpt.ts';
import { preset } from '../src/model/config.ts';
import type { WasmVariant } from '../wasm/kernels.ts';
import { argv, median, opt } from './common.ts';

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
if (what !== 'prefill' && what !== 'decode' && what !== 'gemm') throw new Error('kernel-ab: --what prefill | decode | gemm');

const backend = (dir: string) =>
  createNodeWasmBackend({ simd: 'relaxed', threads, load: async (v: WasmVariant) => new Uint8Array(await readFile(join(dir, `gptedge-${v}.wasm`))) });
const bes = [await backend(dirs[0]), await backend(dirs[1])];
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
    console.log(`${dt} ${M}×${K}×${N}ᵀ, ${threads} thread(s): A ${gops(ms[0])} GOP/s, B ${gops(ms[1])} GOP/s; A/B median ${median(ratios).toFixed(2)}`);
    for (const s of st) s.be.free(s.tw, s.ta, s.to);
  }
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
for (const m of models) await once(m); // warm-up
const ms: number[][] = [[], []];
for (let r = 0; r < reps; r++) {
  // ABBA order: whatever favours the first (or second) run of a pair falls on both builds
  for (const i of r % 2 ? [1, 0] : [0, 1]) ms[i].push(await once(models[i]));
}
const ratios = ms[0].map((t, i) => t / ms[1][i]).sort((x, y) => x - y);
console.log(
  `GPT-1 ${what === 'prefill' ? 'prefill 1×512' : 'decode ms/token (16 after 128)'}, ${weights} weights, ${threads} thread(s), ${reps} pairs (load ${load0.map((x) => x.toFixed(1)).join(' ')} at the start):\n` +
    `  A ${dirs[0]}: ${median(ms[0]).toFixed(what === 'prefill' ? 0 : 2)} ms\n  B ${dirs[1]}: ${median(ms[1]).toFixed(what === 'prefill' ? 0 : 2)} ms\n` +
    `  A/B per pair: ${ratios.map((x) => x.toFixed(2)).join(' ')} (median ${median(ratios).toFixed(2)})`,
);
for (const be of bes) be.dispose();
