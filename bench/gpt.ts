// Whole-model benchmarks, every runtime in one process on the same thread count and the same weights:
//  - GPT-1 prefill 1×512 (ms): gptedge-wasm (transformer + the logits of all 512 positions, the work the
//    exported ONNX graph does) vs onnxruntime-web (WASM EP) and onnxruntime-node (native, the ceiling),
//    both running the ONNX decode graph that src/io/onnx exports in-process from the same random GPT-1.
//  - decode with KV cache (ms/token) after a 128-token prompt: gptedge's KVCache vs the ONNX decode graph
//    (past_key_values in, present out), greedy next token, logits of the new position read back.
//  - training tokens/s: the `small` preset (B 8 × T 256) for gptedge-wasm vs the same model written in
//    @tensorflow/tfjs-core on @tensorflow/tfjs-backend-wasm (autodiff + tf.train.adam); GPT-1 1×512 for
//    gptedge-wasm only. Dropout off on both sides (same model, same work).
//  - --weights f32,int8,int4: gptedge's prefill and decode rows also with the same weights quantized on load
//    (int8 per output channel, int4 Q4_0 groups; integer dot products, wasm/assembly/quant.ts), beside
//    the f32 peers in the same interleaved run.
//  - --profile: per-op time split (ms, share, GFLOP/s of the matmuls) of one gptedge training step of
//    the small GPT and of one GPT-1 prefill, timed from here by wrapping the backend's ops (they are
//    synchronous, so the wall time of a call is the op's time).
// Runtimes are interleaved at every repetition (shared machine: changing load falls on all alike);
// figures are medians over repetitions after a warm-up.
//   node bench/run-node.mjs gpt [--threads N] [--reps R] [--train-reps R] [--decode-steps S] [--weights f32,int8,int4]
//        [--only=prefill,decode,train-small,train-gpt1] [--tfjs-micro M] [--no-tfjs] [--profile] [--json FILE]
// Prefill and training are also given as a share of this machine's SIMD128 peak per core (bench/simd-peak.ts,
// measured at the start) times the threads: model FLOPs (bench/flops.ts) / time / threads / peak.
// --alongside: after the timed reps, gptedge's prefill and training steps run again with the peak tile
// probed for 2 ms between ops (at most every 25 ms), on as many threads as the engine uses, all at once:
// each op's time is weighted by the cores' rate around it (the mean of the probes before and after), and
// model FLOPs / that capacity is the share of what the cores offered while the work ran — on a shared
// machine whose cores switch between rates for seconds at a time, the share of a best-case peak mixes the
// machine's state into the engine's figure. At 2+ threads each probe first lets the engine's workers fall
// asleep (simd-peak.ts tileProbe), which the next op pays for. Not timed reps.
// --json writes the figures and profiles for bench/headline.mjs, which puts them in BENCHMARKS.md. A
// benchmark, never a timed test. onnxruntime-web fixes its thread count at its first session, hence one
// process per count.
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { tfjsTransformer } from '../test/lib/tfjs-gpt.ts';
import type { Backend } from '../src/backend/backend.ts';
import { GPT, type WeightsKind } from '../src/model/gpt.ts';
import { AdamW } from '../src/train/optim.ts';
import { preset, type GPTConfig } from '../src/model/config.ts';
import { exportOnnx } from '../src/io/onnx/index.ts';
import { OrtGPT, type OrtModuleLike } from '../src/infer/ort.ts';
import { measurePeak, ofPeak, tileProbe, togetherLine } from './simd-peak.ts';
import { forwardFlops, trainFlops } from './flops.ts';
import { benchWasmBackend } from './common.ts';
import { opKey, timeOps } from './op-timer.ts';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const threads = opt('threads', 1),
  reps = opt('reps', 3),
  trainReps = opt('train-reps', 2),
  decodeSteps = opt('decode-steps', 8);
const only = argv
  .find((a) => a.startsWith('--only='))
  ?.slice(7)
  .split(',');
const want = (s: string) => !only || only.includes(s);
const profile = argv.includes('--profile');
const jsonFile = argv.includes('--json') ? argv[argv.indexOf('--json') + 1] : null;
const weightsArg = argv.indexOf('--weights');
const kinds = (weightsArg >= 0 ? argv[weightsArg + 1].split(',') : ['f32']) as WeightsKind[];
// smoke tests only (the figures use the defaults): --model <preset> for GPT-1, --train-model <preset> for small
const sopt = (name: string, dflt: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const bigName = sopt('model', 'gpt1'),
  smallName = sopt('train-model', 'small');
const loadAvg0 = loadavg();
const la = () =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
const median = (ts: number[]) => [...ts].sort((x, y) => x - y)[ts.length >> 1];
const log = (s: string) => console.log(`[${(performance.now() / 1000).toFixed(0)}s, load ${la()}] ${s}`);
const noDrop = { embdPdrop: 0, attnPdrop: 0, residPdrop: 0 };

function randomIds(n: number, V: number, seed: number): Int32Array {
  let s = seed >>> 0;
  return Int32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % V;
  });
}
const argmax = (a: Float32Array, off: number, n: number) => {
  let best = 0;
  for (let i = 1; i < n; i++) if (a[off + i] > a[off + best]) best = i;
  return best;
};

// ---- per-op profiler (bench side: wraps the backend's public ops) ----------------------------------
type OpStat = { ms: number; calls: number; flops: number };
let prof: Map<string, OpStat> | null = null;
/** --alongside: the probe, the rate it gave last, op times since then, the FLOPs the core offered so far */
let along: { probe: (ms: number) => number; rate: number; at: number; pending: number; capacity: number; probes: number[] } | null = null;
function alongProbe(a: NonNullable<typeof along>): void {
  const rate = a.probe(2);
  a.capacity += a.pending * 1e6 * ((a.rate + rate) / 2); // ms × GFLOP/s
  a.pending = 0;
  a.rate = rate;
  a.at = performance.now();
  a.probes.push(rate);
}
function instrument(be: Backend, V: number): void {
  timeOps(
    be,
    () => {
      if (along && performance.now() - along.at >= 25) alongProbe(along);
      return prof !== null || along !== null;
    },
    (op, args, ms) => {
      if (along) along.pending += ms;
      if (!prof) return;
      const { key, flops } = opKey(op, args, V);
      const s = prof.get(key) ?? { ms: 0, calls: 0, flops: 0 };
      s.ms += ms;
      s.calls++;
      s.flops += flops;
      prof.set(key, s);
    },
  );
}
async function profiled(f: () => Promise<void>): Promise<{ total: number; rows: [string, OpStat][] }> {
  prof = new Map();
  const t = performance.now();
  await f();
  const total = performance.now() - t;
  const rows = [...prof.entries()].sort((a, b) => b[1].ms - a[1].ms);
  prof = null;
  return { total, rows };
}
/** --alongside: `reps` runs of f with probes between ops; the median of model FLOPs / the capacity the cores offered */
const alongShares: Record<string, { share: number; probes: [number, number, number] }> = {};
async function alongside(what: string, f: () => Promise<void>, flops: number, reps = 3): Promise<void> {
  if (!argv.includes('--alongside') || !peak) return;
  const { probe, close } = await tileProbe(peak.tile, threads);
  const shares: number[] = [],
    rates: number[] = [];
  for (let r = 0; r < reps; r++) {
    along = { probe, rate: probe(2), at: performance.now(), pending: 0, capacity: 0, probes: [] };
    await f();
    alongProbe(along);
    shares.push(flops / along.capacity);
    rates.push(...along.probes);
    log(
      `${what} alongside rep ${r + 1}: ${((100 * flops) / along.capacity).toFixed(0)}% of the ${along.probes.length} probes' capacity (probes ${Math.min(...along.probes).toFixed(0)}–${Math.max(...along.probes).toFixed(0)} GFLOP/s)`,
    );
    along = null;
  }
  close();
  rates.sort((x, y) => x - y);
  alongShares[what] = { share: median(shares), probes: [rates[0], median(rates), rates[rates.length - 1]] };
}
/** the raw profiles, for bench/headline.mjs (attention's rate against the matmuls') */
const profileData: { title: string; total: number; rows: [string, OpStat][] }[] = [];
function profileTable(title: string, p: { total: number; rows: [string, OpStat][] }): string {
  profileData.push({ title, ...p });
  const inOps = p.rows.reduce((s, [, r]) => s + r.ms, 0);
  const lines = [
    `**${title}**: ${p.total.toFixed(0)} ms wall, ${inOps.toFixed(0)} ms inside backend ops`,
    '',
    '| op | calls | ms | share | GFLOP/s | of peak |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const [k, r] of p.rows) {
    if (r.ms < 0.005 * p.total) continue;
    const g = r.flops ? r.flops / r.ms / 1e6 : 0;
    lines.push(
      `| ${k} | ${r.calls} | ${r.ms.toFixed(0)} | ${((100 * r.ms) / p.total).toFixed(1)}% | ${g ? g.toFixed(1) : ''} | ${g && peak ? ofPeak(g, peak.gflops, threads) : ''} |`,
    );
  }
  const rest = p.rows.filter(([, r]) => r.ms < 0.005 * p.total).reduce((s, [, r]) => s + r.ms, 0);
  lines.push(`| (other ops, each < 0.5%) | | ${rest.toFixed(0)} | ${((100 * rest) / p.total).toFixed(1)}% | | |`);
  lines.push(`| (outside ops: JS glue, checks) | | ${(p.total - inOps).toFixed(0)} | ${((100 * (p.total - inOps)) / p.total).toFixed(1)}% | | |`);
  return lines.join('\n');
}

// ---- runtimes ---------------------------------------------------------------------------------------
const newBackend = () => benchWasmBackend({ threads });
type Timed = { name: string; run(): Promise<void> };

async function ortRuntimes(bytes: Uint8Array): Promise<{ name: string; m: OrtGPT }[]> {
  const out: { name: string; m: OrtGPT }[] = [];
  try {
    const web = await import('onnxruntime-web');
    web.env.wasm.numThreads = threads;
    web.env.wasm.simd = true;
    const m = await OrtGPT.create(web as unknown as OrtModuleLike, bytes, { sessionOptions: { executionProviders: ['wasm'], graphOptimizationLevel: 'all' } });
    out.push({ name: 'onnxruntime-web (WASM EP)', m });
  } catch (err) {
    console.log(`onnxruntime-web: unavailable (${(err as Error).message.split('\n')[0]})`);
  }
  try {
    const node = await import('onnxruntime-node');
    const m = await OrtGPT.create(node as unknown as OrtModuleLike, bytes, {
      sessionOptions: { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' },
    });
    out.push({ name: 'onnxruntime-node (native)', m });
  } catch (err) {
    console.log(`onnxruntime-node: unavailable (${(err as Error).message.split('\n')[0]})`);
  }
  return out;
}

// onnxruntime's thread pools spin 20–40 ms after a run: the next runtime timed would find a core taken
const settle = () => new Promise((r) => setTimeout(r, opt('settle-ms', 100)));

/** warm-up once, then `n` interleaved repetitions; returns the median ms of each */
async function interleaved(items: Timed[], n: number, what: string): Promise<Map<string, number>> {
  const times = new Map<string, number[]>(items.map((i) => [i.name, []]));
  const alive = new Set(items.map((i) => i.name));
  for (const it of items) {
    try {
      const t = performance.now();
      await it.run();
      log(`${what} warm-up ${it.name}: ${(performance.now() - t).toFixed(0)} ms`);
    } catch (err) {
      console.log(`${what} ${it.name}: failed (${(err as Error).message.split('\n')[0]})`);
      alive.delete(it.name);
    }
  }
  for (let r = 0; r < n; r++) {
    for (const it of items) {
      if (!alive.has(it.name)) continue;
      await settle();
      const t = performance.now();
      await it.run();
      const ms = performance.now() - t;
      times.get(it.name)!.push(ms);
      log(`${what} rep ${r + 1} ${it.name}: ${ms.toFixed(0)} ms`);
    }
  }
  return new Map([...times].filter(([k]) => alive.has(k)).map(([k, v]) => [k, median(v)]));
}

// ---- tfjs GPT training (the oracle of test/oracles/tfjs-gpt.ts, on tfjs-backend-wasm) ------------------
async function tfjsTrainer(
  cfg: GPTConfig,
  params: Map<string, Float32Array>,
  shapes: Map<string, number[]>,
  ids: Int32Array,
  targets: Int32Array,
  B: number,
  T: number,
  micro: number,
): Promise<Timed> {
  await import('@tensorflow/tfjs-backend-wasm');
  // tfjs-core's Node bundle registers no op gradients; its ESM register_all_gradients registers them all
  // into the global registry (a relative path so that esbuild bundles that ESM file: Node cannot load it)
  await import('../node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js');
  await tf.setBackend('wasm');
  await tf.ready();
  // One step of batch B as `micro` micro-batches whose gradients are summed before one Adam update (the
  // same step as one batch of B): at B 8 the whole tape does not fit tfjs-wasm's 4 GB heap (Aborted()).
  const Bm = B / micro;
  if (!Number.isInteger(Bm)) throw new Error(`batch ${B} is not a multiple of ${micro} micro-batches`);
  const C = cfg.nEmbd,
    V = cfg.vocabSize,
    BT = Bm * T;
  const vars = new Map([...params].map(([n, v]) => [n, tf.variable(tf.tensor(v, shapes.get(n)!, 'float32'), true, n)]));
  const P = (n: string) => vars.get(n)!;
  const mbs = Array.from({ length: micro }, (_, i) => {
    const idsT = tf.tensor1d(ids.subarray(i * BT, (i + 1) * BT), 'int32');
    const onehotIds = tf.oneHot(idsT, V); // (BT, V)
    // embedding lookup: Gather forward; its gradient as onehotᵀ·dy, because tfjs-backend-wasm lacks the
    // UnsortedSegmentSum kernel that GatherV2's registered gradient needs
    const embed = tf.customGrad(((w: tf.Tensor, save: tf.GradSaveFunc) => {
      save([w]);
      return { value: tf.gather(w, idsT), gradFunc: (dy: tf.Tensor) => tf.matMul(onehotIds, dy as tf.Tensor2D, true, false) };
    }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (w: tf.Tensor) => tf.Tensor;
    return { embed, onehotTargets: tf.oneHot(tf.tensor1d(targets.subarray(i * BT, (i + 1) * BT), 'int32'), V) };
  });
  const lossFn = (mb: (typeof mbs)[number]): tf.Scalar => {
    const wpe = tf.tile(tf.slice(P('wpe.weight'), [0, 0], [T, C]), [Bm, 1]);
    const x = tfjsTransformer(cfg, P, tf.add(mb.embed(P('wte.weight')), wpe), Bm, T);
    const logits = tf.matMul(x as tf.Tensor2D, P('wte.weight') as tf.Tensor2D, false, true);
    // the mean over the whole batch of B: each micro-batch contributes 1/micro of it
    return tf.div(tf.mean(tf.neg(tf.sum(tf.mul(mb.onehotTargets, tf.logSoftmax(logits)), 1))), micro) as tf.Scalar;
  };
  const optimizer = tf.train.adam(1e-4, 0.9, 0.999, 1e-8);
  const varList = [...vars.values()];
  return {
    name: `tfjs-backend-wasm (XNNPACK; autodiff + Adam${micro > 1 ? `; B ${B} as ${micro}×${Bm} accumulated` : ''}; 1 thread in Node)`,
    async run() {
      let acc: tf.NamedTensorMap | null = null,
        loss = 0;
      for (const mb of mbs) {
        const { value, grads } = tf.variableGrads(() => lossFn(mb), varList);
        loss += (await value.data())[0];
        value.dispose();
        if (!acc) acc = grads;
        else {
          const prev: tf.NamedTensorMap = acc;
          acc = Object.fromEntries(Object.keys(prev).map((k) => [k, tf.add(prev[k], grads[k])]));
          tf.dispose([...Object.values(prev), ...Object.values(grads)]);
        }
      }
      optimizer.applyGradients(acc as Parameters<typeof optimizer.applyGradients>[0]);
      tf.dispose(Object.values(acc!));
      if (!Number.isFinite(loss)) throw new Error(`tfjs loss ${loss}`);
    },
  };
}

function gptedgeTrainer(model: GPT, ids: Int32Array, targets: Int32Array, B: number, T: number): Timed {
  const BT = B * T,
    w = new Float32Array(BT).fill(1 / BT);
  const opt = new AdamW(model.be, [model.parameters()]);
  return {
    name: `gptedge-wasm (${model.be.name})`,
    async run() {
      model.zeroGrad();
      const pass = model.forward(ids, B, T);
      const loss = pass.loss(targets, w, 1);
      pass.backward();
      opt.update({ lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, gradClip: 1 });
      const l = (await model.be.read(loss))[0];
      if (!Number.isFinite(l)) throw new Error(`loss ${l}`);
    },
  };
}

// ---- the runs ---------------------------------------------------------------------------------------
const results: { prefill: Map<string, number>; decode: Map<string, number>; trainSmall: Map<string, number>; trainGpt1: Map<string, number> } = {
  prefill: new Map(),
  decode: new Map(),
  trainSmall: new Map(),
  trainGpt1: new Map(),
};
const profiles: string[] = [];
const peak = argv.includes('--no-peak') ? null : await measurePeak({ threads });
if (peak) log(`SIMD128 peak per core: ${peak.gflops.toFixed(1)} GFLOP/s (tile ${peak.tile})`);
if (peak?.together) log(togetherLine(peak));
let backendName = '';
log(
  `gpt bench: ${threads} thread(s), reps ${reps}, train reps ${trainReps}, decode steps ${decodeSteps}; load average at start ${loadAvg0.map((x) => x.toFixed(2)).join(' ')}`,
);

// small GPT training first (its own backend: its own linear memory, disposed after)
if (want('train-small')) {
  const cfg = preset(smallName, noDrop),
    B = 8,
    T = Math.min(256, cfg.nCtx);
  const be = await newBackend();
  instrument(be, cfg.vocabSize);
  const model = new GPT(be, cfg).init(1);
  const ids = randomIds(B * T, cfg.vocabSize, 7),
    targets = randomIds(B * T, cfg.vocabSize, 8);
  const items: Timed[] = [gptedgeTrainer(model, ids, targets, B, T)];
  if (!argv.includes('--no-tfjs'))
    try {
      items.push(
        await tfjsTrainer(cfg, await model.readParams(), new Map(model.specs.map((s) => [s.name, s.shape])), ids, targets, B, T, opt('tfjs-micro', 2)),
      );
    } catch (err) {
      console.log(`tfjs-backend-wasm trainer: unavailable (${(err as Error).message.split('\n')[0]})`);
    }
  const ms = await interleaved(items, trainReps, 'train small');
  for (const [k, v] of ms) results.trainSmall.set(k, (B * T) / (v / 1000));
  if (profile)
    profiles.push(profileTable(`gptedge-wasm, one training step of the small GPT (B 8 × T 256), ${threads} thread(s)`, await profiled(() => items[0].run())));
  await alongside('trainSmall', () => items[0].run(), trainFlops(cfg, B, T));
  be.dispose();
}

if (want('prefill') || want('decode') || want('train-gpt1')) {
  const cfg = preset(bigName, noDrop),
    V = cfg.vocabSize,
    Tbig = Math.min(512, cfg.nCtx);
  const be = await newBackend();
  instrument(be, V);
  let t = performance.now();
  const model = new GPT(be, cfg).init(1);
  log(`GPT-1 random init: ${(performance.now() - t).toFixed(0)} ms`);
  const orts: { name: string; m: OrtGPT }[] = [];
  if (want('prefill') || want('decode')) {
    t = performance.now();
    const bytes = await exportOnnx(model, { graph: 'decode' });
    log(`ONNX export (decode graph): ${(bytes.length / 1e6).toFixed(0)} MB in ${(performance.now() - t).toFixed(0)} ms`);
    t = performance.now();
    orts.push(...(await ortRuntimes(bytes)));
    log(`ort sessions: ${(performance.now() - t).toFixed(0)} ms`);
  }
  const ge = `gptedge-wasm (${be.name})`;
  backendName = be.name;
  // the same weights in each requested storage (quantized on load), each model its own name
  const params = kinds.some((k) => k !== 'f32') ? await model.readParams() : null;
  const gms = kinds.map((k) => {
    if (k === 'f32') return { name: ge, m: model };
    const m = new GPT(be, cfg, { weights: k });
    m.writeParams(params!);
    return { name: `gptedge-wasm (${be.name}) ${k} weights`, m };
  });
  if (!kinds.includes('f32')) throw new Error('--weights must include f32 (the training rows and profiles use it)');

  if (want('prefill')) {
    const T = Tbig,
      ids = randomIds(T, V, 3);
    const items: Timed[] = [
      ...gms.map(({ name, m }) => ({ name, run: async () => void (await m.forward(ids, 1, T).allLogits()) })),
      ...orts.map(({ name, m }) => ({ name, run: async () => void (await m.logits(ids, 1, T)) })),
    ];
    results.prefill = await interleaved(items, reps, 'prefill');
    if (profile) profiles.push(profileTable(`gptedge-wasm, GPT-1 prefill 1×512 (all logits), ${threads} thread(s)`, await profiled(() => items[0].run())));
    await alongside('prefill', () => items[0].run(), forwardFlops(cfg, 1, T));
  }

  if (want('decode')) {
    const P = Math.min(128, Tbig - decodeSteps - 1),
      prompt = randomIds(P, V, 5);
    const items: Timed[] = [
      ...gms.map(({ name, m }) => ({
        name,
        async run() {
          const cache = m.newKVCache(1, P + decodeSteps + 1);
          let tok = argmax(await m.forward(prompt, 1, P, { cache }).lastLogits(), 0, V);
          const t0 = performance.now();
          for (let s = 0; s < decodeSteps; s++) {
            tok = argmax(await m.forward(Int32Array.of(tok), 1, 1, { cache }).lastLogits(), 0, V);
          }
          perToken.set(name, (performance.now() - t0) / decodeSteps);
          m.freeKVCache(cache);
        },
      })),
      ...orts.map(({ name, m }) => ({
        name,
        async run() {
          const cache = m.newCache(1);
          let lg = await m.step(prompt, 1, P, cache);
          let tok = argmax(lg, (P - 1) * V, V);
          const t0 = performance.now();
          for (let s = 0; s < decodeSteps; s++) {
            lg = await m.step([tok], 1, 1, cache);
            tok = argmax(lg, 0, V);
          }
          perToken.set(name, (performance.now() - t0) / decodeSteps);
          m.freeCache(cache);
        },
      })),
    ];
    // each run = prompt (untimed here) + decodeSteps steps; the figure is the median over runs of ms/token
    const perToken = new Map<string, number>(),
      samples = new Map<string, number[]>();
    const wrapped = items.map((it) => ({
      name: it.name,
      async run() {
        await it.run();
        const v = perToken.get(it.name)!;
        (samples.get(it.name) ?? samples.set(it.name, []).get(it.name)!).push(v);
        log(`decode ${it.name}: ${v.toFixed(1)} ms/token`);
      },
    }));
    await interleaved(wrapped, reps, 'decode (prompt + steps)');
    for (const [k, v] of samples) results.decode.set(k, median(v.slice(1))); // drop the warm-up run
    if (profile) {
      const cache = model.newKVCache(1, P + decodeSteps + 1);
      await model.forward(prompt, 1, P, { cache }).lastLogits();
      profiles.push(
        profileTable(
          `gptedge-wasm, GPT-1 decode, ${decodeSteps} tokens after a 128-token prompt, ${threads} thread(s)`,
          await profiled(async () => {
            for (let s = 0; s < decodeSteps; s++) {
              await model.forward(Int32Array.of(1), 1, 1, { cache }).lastLogits();
            }
          }),
        ),
      );
      model.freeKVCache(cache);
    }
  }
  for (const { m } of orts) await m.release();
  for (const { m } of gms) if (m !== model) m.free();

  if (want('train-gpt1')) {
    const T = Tbig,
      ids = randomIds(T, V, 9),
      targets = randomIds(T, V, 10);
    const trainer = gptedgeTrainer(model, ids, targets, 1, T);
    const ms = await interleaved([trainer], trainReps, 'train GPT-1');
    for (const [k, v] of ms) results.trainGpt1.set(k, T / (v / 1000));
    await alongside('trainGpt1', () => trainer.run(), trainFlops(cfg, 1, T));
  }
  be.dispose();
}

// ---- report -----------------------------------------------------------------------------------------
const th = `${threads} thread${threads > 1 ? 's' : ''}`;
const fmt = (v: number | undefined, d = 0) => (v === undefined ? '—' : v.toFixed(d));
const cfgBig = preset(bigName),
  cfgSmall = preset(smallName),
  Tbig = Math.min(512, cfgBig.nCtx),
  Tsmall = Math.min(256, cfgSmall.nCtx);
// share of peak: model FLOPs / time / threads / peak (gptedge's rows; tfjs runs on 1 thread in Node)
const share = (name: string, flops: number, ms: number | undefined) =>
  peak && ms !== undefined && name.startsWith('gptedge') ? ` (${ofPeak(flops / ms / 1e6, peak.gflops, threads)})` : '';
const names = [...new Set([...results.prefill.keys(), ...results.decode.keys()])];
const infer = [
  `| runtime (${th}) | GPT-1 prefill 1×512, ms | decode ms/token (after 128) |`,
  '|---|---:|---:|',
  ...names.map(
    (n) => `| ${n} | ${fmt(results.prefill.get(n))}${share(n, forwardFlops(cfgBig, 1, Tbig), results.prefill.get(n))} | ${fmt(results.decode.get(n), 1)} |`,
  ),
].join('\n');
const tnames = [...new Set([...results.trainSmall.keys(), ...results.trainGpt1.keys()])];
const perStep = (tokS: number | undefined, tokens: number) => (tokS === undefined ? undefined : (1000 * tokens) / tokS); // ms per step
const train = [
  `| trainer (${th}) | small GPT, B 8 × T 256: tokens/s | GPT-1, B 1 × T 512: tokens/s |`,
  '|---|---:|---:|',
  ...tnames.map(
    (n) =>
      `| ${n} | ${fmt(results.trainSmall.get(n), 1)}${share(n, trainFlops(cfgSmall, 8, Tsmall), perStep(results.trainSmall.get(n), 8 * Tsmall))} | ` +
      `${fmt(results.trainGpt1.get(n), 1)}${share(n, trainFlops(cfgBig, 1, Tbig), perStep(results.trainGpt1.get(n), Tbig))} |`,
  ),
].join('\n');
for (const [k, a] of Object.entries(alongShares))
  console.log(
    `${k}: ${(100 * a.share).toFixed(0)}% of the rate the ${threads === 1 ? 'core' : `${threads} cores`} offered, probed alongside (probes ${a.probes.map((x) => x.toFixed(0)).join(' / ')} GFLOP/s min / median / max${threads === 1 ? '' : ', all threads together'})`,
  );
console.log(`\n${peak ? `SIMD128 peak per core ${peak.gflops.toFixed(1)} GFLOP/s; gptedge's share of it in parentheses\n\n` : ''}${infer}\n\n${train}\n`);
for (const p of profiles) console.log(p + '\n');

if (jsonFile) {
  const key = (name: string) =>
    name.startsWith('gptedge')
      ? `gptedge${/ (int8|int4|f16) weights$/.exec(name)?.[1] ? `-${/ (int8|int4|f16) weights$/.exec(name)![1]}` : ''}`
      : name.startsWith('onnxruntime-web')
        ? 'ort-web'
        : name.startsWith('onnxruntime-node')
          ? 'ort-node'
          : name.startsWith('tfjs')
            ? 'tfjs'
            : name;
  const obj = (m: Map<string, number>) => Object.fromEntries([...m].map(([k, v]) => [key(k), v]));
  writeFileSync(
    jsonFile,
    JSON.stringify(
      {
        threads,
        reps,
        trainReps,
        peak: peak?.gflops ?? null,
        together: peak?.together ?? null,
        loadBefore: loadAvg0,
        loadAfter: loadavg(),
        backend: backendName,
        prefill: obj(results.prefill),
        decode: obj(results.decode),
        trainSmall: obj(results.trainSmall),
        trainGpt1: obj(results.trainGpt1),
        alongside: alongShares,
        flops: { prefill: forwardFlops(cfgBig, 1, Tbig), trainSmall: trainFlops(cfgSmall, 8, Tsmall), trainGpt1: trainFlops(cfgBig, 1, Tbig) },
        profiles,
        profileData,
      },
      null,
      1,
    ),
  );
}
process.exit(0);
