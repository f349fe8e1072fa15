// The one conformance suite for every backend: each op, forward and backward, on random shapes (odd
// sizes included) against the reference backend. A backend's test file calls `conformance(...)`.
//
// Tolerances: f32 kernels that sum in a different order than the reference's f64 loops differ by
// rounding only, so |got - ref| <= atol + rtol*|ref| with atol 1e-4 and rtol 1e-3 by default (a
// backend may pass tighter or looser ones, e.g. for f16 storage, and must say why).
import type { Backend, DType, Tensor } from '../../src/backend/backend.ts';
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import { HOST_INTS } from '../../src/backend/checks.ts';
import { assertClose, assertEqual, assertThrows, rand, randn, test } from './harness.ts';

export interface ConformanceOptions {
  atol?: number;
  rtol?: number;
  /** shapes are scaled down for slow (software) backends */
  small?: boolean;
}

type Data = Float32Array | Int32Array;

/** Runs `op` on the backend under test and on the reference with the same inputs; compares `outs`. */
async function compare(
  name: string,
  make: () => Backend | Promise<Backend>,
  inputs: Record<string, Data>,
  op: (be: Backend, t: Record<string, Tensor>) => void,
  outs: string[],
  tol: { atol: number; rtol: number },
  dtypes: Record<string, DType> = {},
): Promise<void> {
  const ref = new ReferenceBackend();
  const be = await make();
  const load = (b: Backend) => {
    const t: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(inputs)) {
      t[k] = b.alloc(v.length, dtypes[k] ?? (v instanceof Int32Array ? 'i32' : 'f32'));
      b.write(t[k], v);
    }
    return t;
  };
  const tr = load(ref),
    tb = load(be);
  op(ref, tr);
  op(be, tb);
  for (const o of outs) {
    const expected = await ref.read(tr[o]);
    const got = await be.read(tb[o]);
    assertClose(got, expected, tol, `${name}: ${o}`);
  }
}

const ints = (n: number, max: number, seed: number, allowNeg = false): Int32Array => {
  const r = rand(seed),
    a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = allowNeg && r() < 0.15 ? -1 : Math.floor(r() * max);
  return a;
};
const uniform = (n: number, seed: number, lo: number, hi: number): Float32Array => {
  const r = rand(seed),
    a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  return a;
};

// ---- KV-cache cases, shared by the f32 and f16 cache tests ---------------------------------------------
/** B, C, NH, Tmax, and the tokens each call adds: a prefill, then decode steps */
type CachedCase = [number, number, number, number, number[]];
/** makes one call's qkv (rows × 3C) from its seed */
type QkvOf = (rows: number, C: number, seed: number) => Float32Array;
const plainQkv: QkvOf = (rows, C, seed) => randn(rows * 3 * C, seed);

/** empty caches, and each step's qkv and out */
function cachedInputs([B, C, , Tmax, steps]: CachedCase, qkvOf: QkvOf): Record<string, Data> {
  const inputs: Record<string, Data> = { k: new Float32Array(B * Tmax * C), v: new Float32Array(B * Tmax * C) };
  steps.forEach((n, i) => {
    inputs[`qkv${i}`] = qkvOf(B * n, C, 10 + i);
    inputs[`out${i}`] = new Float32Array(B * n * C);
  });
  return inputs;
}
/** the steps, in order, each attending to the cache its predecessors filled */
const runCached =
  ([B, C, NH, Tmax, steps]: CachedCase) =>
  (be: Backend, x: Record<string, Tensor>) => {
    let p0 = 0;
    steps.forEach((n, i) => {
      be.attentionCached(x[`out${i}`], x[`qkv${i}`], x.k, x.v, B, n, C, NH, p0, Tmax);
      p0 += n;
    });
  };

/** each call: [slot, tokens] runs, in a deliberately unsorted order; a slot's positions continue from its last call */
const RAGGED_PLAN: [number, number][][] = [
  [
    [2, 5],
    [0, 3],
    [3, 1],
  ],
  [
    [0, 1],
    [1, 2],
    [3, 1],
    [2, 1],
  ],
  [
    [3, 4],
    [1, 1],
    [0, 1],
  ],
  [
    [2, 1],
    [0, 1],
    [1, 1],
    [3, 1],
  ],
];
const RAGGED_SLOTS = 4;
/** empty caches of RAGGED_SLOTS slots, and each call's (slot, position) pairs, qkv and out */
function raggedInputs(C: number, Tmax: number, qkvOf: QkvOf): Record<string, Data> {
  const S = RAGGED_SLOTS,
    inputs: Record<string, Data> = { k: new Float32Array(S * Tmax * C), v: new Float32Array(S * Tmax * C) };
  const len = new Array(S).fill(0);
  RAGGED_PLAN.forEach((runs, i) => {
    const sp: number[] = [];
    for (const [slot, n] of runs) for (let j = 0; j < n; j++) sp.push(slot, len[slot]++);
    const N = sp.length / 2;
    inputs[`sp${i}`] = Int32Array.from(sp);
    inputs[`qkv${i}`] = qkvOf(N, C, 30 + i);
    inputs[`out${i}`] = new Float32Array(N * C);
  });
  return inputs;
}
const runRagged = (C: number, NH: number, Tmax: number) => (be: Backend, x: Record<string, Tensor>) =>
  RAGGED_PLAN.forEach((_, i) => be.attentionRagged(x[`out${i}`], x[`qkv${i}`], x.k, x.v, x[`sp${i}`], x[`sp${i}`].length / 2, C, NH, Tmax));
const stepOutputs = (n: number) => Array.from({ length: n }, (_, i) => `out${i}`);

export function conformance(backendName: string, make: () => Backend | Promise<Backend>, opts: ConformanceOptions = {}): void {
  const tol = { atol: opts.atol ?? 1e-4, rtol: opts.rtol ?? 1e-3 };
  const s = opts.small ? 1 : 2;
  const t = (name: string, fn: () => Promise<void>) => test(`conformance[${backendName}] ${name}`, fn, 300_000);

  t('matmul: every transpose, bias, accumulate, odd sizes', async () => {
    const shapes: [number, number, number][] = [
      [1, 1, 1],
      [3, 5, 7],
      [17, 33, 9],
      [13 * s, 64, 67],
      [64 * s, 48 * s, 96 * s],
      [5, 129, 31],
    ];
    for (const [M, K, N] of shapes) {
      for (const transA of [false, true])
        for (const transB of [false, true])
          for (const beta of [0, 1] as const) {
            const withBias = !transA && beta === 0;
            await compare(
              `matmul ${M}x${K}x${N} tA=${transA} tB=${transB} beta=${beta}`,
              make,
              { a: randn(M * K, M + K), b: randn(K * N, K + N + 1), bias: randn(N, N), out: randn(M * N, 7) },
              (be, x) => be.matmul(x.out, x.a, x.b, withBias ? x.bias : null, M, K, N, transA, transB, beta),
              ['out'],
              tol,
            );
          }
    }
  });

  t('biasBackward', async () => {
    for (const [M, N] of [
      [1, 3],
      [37, 65],
      [128 * s, 96],
      [600, 70],
    ]) {
      // (600 rows: more than one 256-row chunk)
      await compare(`biasBackward ${M}x${N}`, make, { d: randn(M * N, 3), db: randn(N, 4) }, (be, x) => be.biasBackward(x.db, x.d, M, N), ['db'], tol);
    }
  });

  t('encoder forward/backward (position offset, repeated ids)', async () => {
    for (const [B, T, C, V, P] of [
      [1, 1, 4, 3, 0],
      [3, 7, 13, 11, 2],
      [2 * s, 16, 32, 67, 0],
    ]) {
      const inputs = {
        ids: ints(B * T, V, 5),
        wte: randn(V * C, 1),
        wpe: randn((T + P) * C, 2),
        out: new Float32Array(B * T * C),
        d: randn(B * T * C, 3),
        dwte: randn(V * C, 4),
        dwpe: randn((T + P) * C, 5),
      };
      await compare('encoderForward', make, inputs, (be, x) => be.encoderForward(x.out, x.ids, x.wte, x.wpe, B, T, C, P), ['out'], tol);
      await compare('encoderBackward', make, inputs, (be, x) => be.encoderBackward(x.dwte, x.dwpe, x.d, x.ids, B, T, C), ['dwte', 'dwpe'], tol);
    }
  });

  t('layernorm forward/backward', async () => {
    for (const [N, C] of [
      [1, 2],
      [7, 33],
      [64 * s, 96],
      [3, 768],
      [300, 40],
    ]) {
      const inputs = {
        x: randn(N * C, N, 3),
        w: uniform(C, 1, 0.5, 1.5),
        b: randn(C, 2),
        out: new Float32Array(N * C),
        mean: new Float32Array(N),
        rstd: new Float32Array(N),
        d: randn(N * C, 4),
        dx: randn(N * C, 5),
        dw: randn(C, 6),
        db: randn(C, 7),
      };
      await compare(
        `layernormForward ${N}x${C}`,
        make,
        inputs,
        (be, x) => be.layernormForward(x.out, x.mean, x.rstd, x.x, x.w, x.b, N, C, 1e-5),
        ['out', 'mean', 'rstd'],
        tol,
      );
      await compare(
        `layernormBackward ${N}x${C}`,
        make,
        inputs,
        (be, x) => {
          be.layernormForward(x.out, x.mean, x.rstd, x.x, x.w, x.b, N, C, 1e-5);
          be.layernormBackward(x.dx, x.dw, x.db, x.d, x.x, x.w, x.mean, x.rstd, N, C);
        },
        ['dx', 'dw', 'db'],
        tol,
      );
    }
  });

  t('attention forward/backward, with and without dropout', async () => {
    for (const [B, T, C, NH] of [
      [1, 1, 4, 1],
      [2, 5, 12, 3],
      [2, 17, 32, 4],
      [1, 33 * s, 64, 2],
      [1, 64, 64, 4],
      [1, 9, 15, 3],
      [2, 35 * s, 128, 2],
    ]) {
      for (const pDrop of [0, 0.25]) {
        const rng = pDrop > 0 ? { seed: 1234, stream: 77 } : null;
        const inputs = {
          qkv: randn(B * T * 3 * C, T + C, 1),
          out: new Float32Array(B * T * C),
          lse: new Float32Array(B * NH * T),
          d: randn(B * T * C, 9),
          dqkv: randn(B * T * 3 * C, 3),
        };
        await compare(
          `attentionForward B${B} T${T} C${C} NH${NH} p${pDrop}`,
          make,
          inputs,
          (be, x) => be.attentionForward(x.out, x.lse, x.qkv, B, T, C, NH, pDrop, rng),
          ['out', 'lse'],
          tol,
        );
        await compare(
          `attentionBackward B${B} T${T} C${C} NH${NH} p${pDrop}`,
          make,
          inputs,
          (be, x) => {
            be.attentionForward(x.out, x.lse, x.qkv, B, T, C, NH, pDrop, rng);
            be.attentionBackward(x.dqkv, x.d, x.qkv, x.out, x.lse, B, T, C, NH, pDrop, rng);
          },
          ['dqkv'],
          tol,
        );
      }
    }
  });

  // Scores of several hundred (q and k entries of standard deviation 10, so scores of standard deviation 100;
  // v of 1): exp overflows unless every block subtracts the true running max of its scores, so a kernel that
  // leaves keys out of the max fails here (with small scores a wrong max only shifts the exponent, which
  // cancels). The softmax of such scores is nearly one-hot, and a score's rounding (≈ 1e-5 of it) moves a
  // weight by about that much, hence the wider tolerance.
  t('attention forward/backward with scores of several hundred', async () => {
    const large = { atol: 2e-3, rtol: 2e-3 };
    for (const [B, T, C, NH] of [
      [1, 70, 64, 2],
      [2, 40, 48, 1],
    ]) {
      const qkv = randn(B * T * 3 * C, T + 2 * C);
      for (let i = 0; i < qkv.length; i++) if (i % (3 * C) < 2 * C) qkv[i] *= 10;
      const inputs = {
        qkv,
        out: new Float32Array(B * T * C),
        lse: new Float32Array(B * NH * T),
        d: randn(B * T * C, 5),
        dqkv: new Float32Array(B * T * 3 * C),
      };
      await compare(
        `attentionForward B${B} T${T} C${C} NH${NH}, large scores`,
        make,
        inputs,
        (be, x) => be.attentionForward(x.out, x.lse, x.qkv, B, T, C, NH, 0, null),
        ['out', 'lse'],
        large,
      );
      await compare(
        `attentionBackward B${B} T${T} C${C} NH${NH}, large scores`,
        make,
        inputs,
        (be, x) => {
          be.attentionForward(x.out, x.lse, x.qkv, B, T, C, NH, 0, null);
          be.attentionBackward(x.dqkv, x.d, x.qkv, x.out, x.lse, B, T, C, NH, 0, null);
        },
        ['dqkv'],
        large,
      );
    }
  });

  t('attentionCached (prefill then decode steps)', async () => {
    // the last two: blocks of the tiled kernel crossed, at positions that are not block-aligned; a prompt
    // from position 41 (1 mod 4) puts a diagonal key on the very edge of the tiles a causal block skips
    for (const c of [
      [1, 8, 2, 8, [3, 1, 1, 2]],
      [2, 32, 4, 16, [5, 1, 1, 2]],
      [1, 24, 2, 80, [37, 1, 2, 35]],
      [1, 24, 2, 80, [41, 34]],
    ] as CachedCase[]) {
      await compare(`attentionCached B${c[0]} C${c[1]}`, make, cachedInputs(c, plainQkv), runCached(c), [...stepOutputs(c[4].length), 'k', 'v'], tol);
    }
  });

  t('attentionRagged (continuous batching: chunked prefills and decodes of several slots per call)', async () => {
    for (const [C, NH, Tmax] of [
      [8, 2, 12],
      [32, 4, 16],
    ]) {
      await compare(
        `attentionRagged C${C}`,
        make,
        raggedInputs(C, Tmax, plainQkv),
        runRagged(C, NH, Tmax),
        [...stepOutputs(RAGGED_PLAN.length), 'k', 'v'],
        tol,
      );
    }
  });

  t('half-precision KV caches (f16 kCache, vCache): attentionCached and attentionRagged, halves rounded as the reference rounds them', async () => {
    const be0 = await make();
    if (!be0.halfKVCache) return; // GPT refuses kvCache 'f16' on it (test/portable/quant.test.ts)
    const half = { k: 'f16', v: 'f16' } as Record<string, DType>;
    // v values that round at the edges of half precision: saturation at ±65504, subnormals, ties to even
    const edges = [7e4, -1e6, 65519, 65520, -65505, 1e-7, -3e-8, 2.98e-8, 5.96e-8, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 0, -0];
    const withEdges = (qkv: Float32Array, rows: number, C: number) => {
      for (let r = 0; r < rows; r++) for (let j = 0; j < edges.length && j < C; j++) if ((r + j) % 3 === 0) qkv[r * 3 * C + 2 * C + j] = edges[j];
      return qkv;
    };
    const edgeQkv: QkvOf = (rows, C, seed) => withEdges(randn(rows * 3 * C, seed), rows, C);
    for (const c of [
      [1, 16, 2, 8, [3, 1, 1, 2]],
      [2, 32, 4, 16, [5, 1, 1, 2]],
      [1, 24, 2, 80, [37, 1, 2, 35]],
    ] as CachedCase[]) {
      const inputs = cachedInputs(c, edgeQkv),
        name = `attentionCached f16 B${c[0]} C${c[1]}`;
      await compare(name, make, inputs, runCached(c), stepOutputs(c[4].length), tol, half);
      await compare(`${name}: the halves`, make, inputs, runCached(c), ['k', 'v'], { atol: 0, rtol: 0 }, half);
    }
    for (const [C, NH, Tmax] of [
      [16, 2, 12],
      [32, 4, 16],
    ]) {
      const inputs = raggedInputs(C, Tmax, edgeQkv);
      await compare(`attentionRagged f16 C${C}`, make, inputs, runRagged(C, NH, Tmax), stepOutputs(RAGGED_PLAN.length), tol, half);
      await compare(`attentionRagged f16 C${C}: the halves`, make, inputs, runRagged(C, NH, Tmax), ['k', 'v'], { atol: 0, rtol: 0 }, half);
    }
    // mixed caches are refused
    const be = await make(),
      k = be.alloc(2 * 8 * 4, 'f16'),
      v = be.alloc(2 * 8 * 4),
      q = be.alloc(3 * 8),
      o = be.alloc(8);
    assertThrows(() => be.attentionCached(o, q, k, v, 1, 1, 8, 2, 0, 8), /must both be f32 or both f16/);
  });

  t('gelu, residual, accumulate', async () => {
    for (const N of [1, 7, 1023, 4096 * s]) {
      const inputs = { x: randn(N, N, 3), y: randn(N, 2), d: randn(N, 3), out: new Float32Array(N), dx: randn(N, 4) };
      await compare(`geluForward ${N}`, make, inputs, (be, x) => be.geluForward(x.out, x.x, N), ['out'], tol);
      await compare(`geluBackward ${N}`, make, inputs, (be, x) => be.geluBackward(x.dx, x.x, x.d, N), ['dx'], tol);
      await compare(`residualForward ${N}`, make, inputs, (be, x) => be.residualForward(x.out, x.x, x.y, N), ['out'], tol);
      await compare(`accumulate ${N}`, make, inputs, (be, x) => be.accumulate(x.dx, x.y, N), ['dx'], tol);
    }
  });

  t('dropout draws the same mask as the reference', async () => {
    for (const [N, p] of [
      [1, 0.5],
      [1001, 0.1],
      [4096 * s, 0.3],
    ] as const) {
      const rng = { seed: 42, stream: 9 };
      const inputs = { x: randn(N, 1), out: new Float32Array(N), d: randn(N, 2), dx: new Float32Array(N) };
      // exact: the mask is integer arithmetic, the scale one multiply
      await compare(
        `dropout ${N} p${p}`,
        make,
        inputs,
        (be, x) => {
          be.dropoutForward(x.out, x.x, N, p, rng);
          be.dropoutBackward(x.dx, x.d, N, p, rng);
        },
        ['out', 'dx'],
        { atol: 0, rtol: 1e-6 },
      );
    }
  });

  t('cross-entropy forward/backward with ignored targets', async () => {
    for (const [N, V] of [
      [1, 2],
      [9, 67],
      [33, 1000],
      [8, 40478],
    ]) {
      const tg = ints(N, V, 3, true);
      const w = new Float32Array(N).fill(1 / N);
      const inputs = { z: randn(N * V, 1, 3), tg, w, losses: new Float32Array(N), loss: new Float32Array([0.5]), dz: new Float32Array(N * V) };
      await compare(
        `crossEntropyForward ${N}x${V}`,
        make,
        inputs,
        (be, x) => be.crossEntropyForward(x.losses, x.loss, x.z, x.tg, x.w, N, V),
        ['losses', 'loss'],
        tol,
      );
      await compare(`crossEntropyBackward ${N}x${V}`, make, inputs, (be, x) => be.crossEntropyBackward(x.dz, x.z, x.tg, x.w, N, V, 0.75), ['dz'], tol);
      await compare(`crossEntropyBackward in place ${N}x${V}`, make, inputs, (be, x) => be.crossEntropyBackward(x.z, x.z, x.tg, x.w, N, V, 1), ['z'], tol);
    }
  });

  t('gatherRows / scatterAddRows', async () => {
    const R = 5,
      C = 33,
      rows = 12;
    const inputs = { x: randn(rows * C, 1), idx: new Int32Array([3, 0, 11, 3, 7]), out: new Float32Array(R * C), d: randn(R * C, 2), dx: randn(rows * C, 3) };
    await compare('gatherRows', make, inputs, (be, x) => be.gatherRows(x.out, x.x, x.idx, R, C), ['out'], tol);
    await compare('scatterAddRows', make, inputs, (be, x) => be.scatterAddRows(x.dx, x.d, x.idx, R, C), ['dx'], tol);
  });

  t('sumSquares and AdamW (with on-device clipping)', async () => {
    for (const N of [1, 17, 5000 * s]) {
      const inputs = { w: randn(N, 1), g: randn(N, 2, 3), m: randn(N, 3, 0.1), v: uniform(N, 4, 0, 0.1), g2: randn(31, 5), ns: new Float32Array(1) };
      await compare(`sumSquares ${N}`, make, inputs, (be, x) => be.sumSquares(x.ns, [x.g, x.g2]), ['ns'], { atol: tol.atol, rtol: tol.rtol });
      for (const clip of [false, true]) {
        await compare(
          `adamw ${N} clip=${clip}`,
          make,
          inputs,
          (be, x) => {
            be.sumSquares(x.ns, [x.g, x.g2]);
            for (let step = 1; step <= 3; step++) {
              be.adamw(x.w, x.g, x.m, x.v, {
                lr: 1e-2,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weightDecay: 0.01,
                step,
                ...(clip ? { gradNormSq: x.ns, maxNorm: 1.0 } : {}),
              });
            }
          },
          ['w', 'm', 'v'],
          tol,
        );
      }
    }
  });

  t('f16 storage: matmul b and the embedding, written and bound at odd offsets, or a clear refusal', async () => {
    const be0 = await make();
    if (!be0.f16Storage) {
      // refused at alloc, or (where f16 tensors are half-precision KV caches) as matmul's b
      let msg = '';
      try {
        const h = be0.alloc(8, 'f16'),
          a = be0.alloc(4),
          o = be0.alloc(2);
        be0.matmul(o, a, h, null, 1, 4, 2, false, true, 0);
      } catch (e) {
        msg = (e as Error).message;
      }
      if (!/f16/.test(msg)) throw new Error(`a backend without f16 storage must refuse f16 tensors clearly, got "${msg}"`);
      return;
    }
    // The reference stores the same f16-rounded values (src/backend/f16.ts) in f32, so f32 tolerances hold.
    const half = (b: Backend, data: Float32Array) => {
      const t = b.alloc(data.length + 1, 'f16');
      b.write(t, data, 1); // an odd element offset: neither word- nor binding-aligned
      return b.slice(t, 1, data.length);
    };
    const [M, K, N] = [13, 40 * s, 67];
    const w = randn(K * N, 3, 2);
    for (const transB of [false, true]) {
      await compare(
        `f16 matmul tB=${transB}`,
        make,
        { a: randn(M * K, 1), bias: randn(N, 2), out: randn(M * N, 4) },
        (be, x) => be.matmul(x.out, x.a, half(be, w), x.bias, M, K, N, false, transB, 0),
        ['out'],
        tol,
      );
    }
    const [B, T, C, V] = [2, 5, 24, 37];
    const ids = ints(B * T, V, 5),
      wte = randn(V * C, 6, 100); // large values: rounding visible
    await compare(
      'f16 encoderForward',
      make,
      { ids, wpe: randn(T * C, 7), out: new Float32Array(B * T * C) },
      (be, x) => be.encoderForward(x.out, x.ids, half(be, wte), x.wpe, B, T, C, 0),
      ['out'],
      tol,
    );
    const ref = new ReferenceBackend(),
      be = await make(); // make() may release earlier backends
    const got = await be.read(half(be, wte)),
      want = await ref.read(half(ref, wte));
    assertClose(got, want, { atol: 0, rtol: 0 }, 'f16 values read back are the host-rounded halves');
  });

  t('quantized storage (q8, q4): codes, matmul b with transB, the embedding, against the dequantizing reference', async () => {
    const be0 = await make();
    if (!be0.quantStorage) return; // GPT refuses int8/int4 weights on it (checked in test/portable/quant.test.ts)
    for (const dtype of ['q8', 'q4'] as const) {
      // M <= 4 is the matrix-vector path, larger M the GEMM; K crosses the 256-element activation blocks,
      // odd sizes leave partial pairs, groups and tiles
      const shapes: [number, number, number][] = [
        [1, 1, 1],
        [1, 33, 67],
        [3, 300, 17],
        [4, 64, 130],
        [5, 33, 7],
        [17, 300, 67],
        [64 * s, 96, 40],
        [9, 520, 9],
      ];
      for (const [M, K, N] of shapes) {
        const ref = new ReferenceBackend(),
          be = await make();
        const w = randn(N * K, M + K + N, 0.05);
        w[(K * 7) % w.length] = 0.9; // an outlier in one row: its codes spread, the others keep theirs
        const a = randn(M * K, K, 1.3),
          bias = randn(N, 2),
          out0 = randn(M * N, 7);
        const run = (b: Backend, beta: 0 | 1) => {
          const wt = b.alloc(N * K, dtype, K),
            at = b.alloc(M * K),
            bt = b.alloc(N),
            ot = b.alloc(M * N);
          b.write(wt, w);
          b.write(at, a);
          b.write(bt, bias);
          b.write(ot, out0);
          b.matmul(ot, at, wt, beta ? null : bt, M, K, N, false, true, beta);
          return { wt, ot };
        };
        for (const beta of [0, 1] as const) {
          const r = run(ref, beta),
            g = run(be, beta);
          const wd = (await ref.read(r.wt)) as Float32Array,
            want = (await ref.read(r.ot)) as Float32Array,
            got = (await be.read(g.ot)) as Float32Array;
          // the backend may quantize a's rows per block of 256 (backend.ts): against q8, to 7-bit codes over
          // [min(block, 0), max(block, 0)] (step s = that range / 127), against q4 to 8-bit integers (s =
          // max|block|/127); per element allow ½·Σ_k |w[n,k]|·s(m,k), s widened by 1/256 for f32 rounding,
          // on top of the f32 tolerances
          for (let m = 0; m < M; m++)
            for (let n = 0; n < N; n++) {
              let bound = 0;
              for (let k0 = 0; k0 < K; k0 += 256) {
                let lo = 0,
                  hi = 0,
                  sw = 0;
                for (let k = k0; k < Math.min(K, k0 + 256); k++) {
                  lo = Math.min(lo, a[m * K + k]);
                  hi = Math.max(hi, a[m * K + k]);
                  sw += Math.abs(wd[n * K + k]);
                }
                const step = dtype === 'q8' ? (hi - lo) / 127 : Math.max(hi, -lo) / 127;
                bound += 0.5 * step * (1 + 1 / 256) * sw;
              }
              const i = m * N + n,
                e = want[i];
              if (!(Math.abs(got[i] - e) <= bound + tol.atol + tol.rtol * Math.abs(e))) {
                throw new Error(`${dtype} matmul ${M}x${K}x${N} beta=${beta}: out[${m},${n}] = ${got[i]}, reference ${e}, allowed ${bound} + f32 tolerance`);
              }
            }
          if (beta === 0) {
            assertClose(await be.read(g.wt), wd, { atol: 0, rtol: 0 }, `${dtype} ${N}x${K}: read returns the dequantized values the reference holds`);
            const qr = await ref.readQuantized!(r.wt),
              qb = await be.readQuantized!(g.wt);
            assertClose(Array.from(qb.codes), Array.from(qr.codes), { atol: 0 }, `${dtype} ${N}x${K}: the same codes`);
            assertClose(qb.scales, qr.scales, { atol: 0 }, `${dtype} ${N}x${K}: the same scales`);
          }
        }
      }
      // codes written as they are, in row ranges, read back unchanged; the embedding reads them
      const [B, T, C, V] = [2, 5, 40, 37];
      const table = randn(V * C, 6, 0.1),
        ref = new ReferenceBackend(),
        be = await make();
      const q = await (() => {
        const t = ref.alloc(V * C, dtype, C);
        ref.write(t, table);
        return ref.readQuantized!(t);
      })();
      const cb = q.codes.length / V,
        sc = q.scales.length / V;
      const wte = be.alloc(V * C, dtype, C);
      be.writeQuantized!(wte, { codes: q.codes.slice(0, 20 * cb), scales: q.scales.slice(0, 20 * sc) } as typeof q);
      be.writeQuantized!(wte, { codes: q.codes.slice(20 * cb), scales: q.scales.slice(20 * sc) } as typeof q, 20);
      const back = await be.readQuantized!(wte);
      assertClose(Array.from(back.codes), Array.from(q.codes), { atol: 0 }, `${dtype} writeQuantized in two row ranges: codes`);
      assertClose(back.scales, q.scales, { atol: 0 }, `${dtype} writeQuantized: scales`);
      const ids = ints(B * T, V, 5);
      await compare(
        `${dtype} encoderForward`,
        make,
        { ids, wpe: randn(T * C, 7), out: new Float32Array(B * T * C) },
        (b, x) => {
          const t = b.alloc(V * C, dtype, C);
          b.write(t, table);
          b.encoderForward(x.out, x.ids, t, x.wpe, B, T, C, 0);
        },
        ['out'],
        tol,
      );
      // what quantized tensors are not: sliced, b without transB, an f32 operand
      const a = be.alloc(3 * (C + 1)),
        o = be.alloc(3 * V);
      assertThrows(() => be.matmul(o, a, wte, null, 3, C, V, false, false, 0), /transB/, `${dtype} b without transB`);
      assertThrows(() => be.matmul(o, a, wte, null, 3, C + 1, 30, false, true, 0), /rows of/, `${dtype} b with another K`);
      assertThrows(() => be.slice(wte, C, C), /not sliced/, `${dtype} slice`);
      assertThrows(() => be.geluForward(o, wte, 3), /weight storage/, `${dtype} as an f32 operand`);
    }
  });

  argumentChecks(backendName, make);

  t('views: ops address tensors through arena offsets', async () => {
    const ref = new ReferenceBackend();
    const be = await make();
    const N = 37,
      C = 5;
    const run = async (b: Backend) => {
      const arena = b.allocArena([
        { name: 'pad', length: 3 },
        { name: 'x', length: N * C },
        { name: 'w', length: C },
        { name: 'b', length: C },
        { name: 'out', length: N * C },
        { name: 'mean', length: N },
        { name: 'rstd', length: N },
      ]);
      b.write(arena.x, randn(N * C, 1));
      b.write(arena.w, uniform(C, 2, 0.5, 1.5));
      b.write(arena.b, randn(C, 3));
      b.layernormForward(arena.out, arena.mean, arena.rstd, arena.x, arena.w, arena.b, N, C, 1e-5);
      const half = b.slice(arena.out, C, C * 2);
      b.dropoutForward(half, half, C * 2, 0.5, { seed: 1, stream: 2 }); // in place, on a view
      return b.read(arena.out);
    };
    assertClose(await run(be), await run(ref), tol, 'arena views');
  });
}

/** The checks of src/backend/checks.ts reach every backend: the same bad calls get the same errors, before anything runs. */
export function argumentChecks(backendName: string, make: () => Backend | Promise<Backend>): void {
  test(`conformance[${backendName}] argument checks: bad calls are refused with the same errors on every backend, before anything runs`, async () => {
    const be = await make();
    const f = (n: number) => be.alloc(n),
      i = (n: number) => be.alloc(n, 'i32');
    const out = f(12);
    be.write(out, new Float32Array(12).fill(7));
    const cases: [string, () => void, RegExp][] = [
      ['matmul a too short', () => be.matmul(out, f(5), f(8), null, 3, 2, 4, false, false, 0), /^matmul a: tensor of 5 elements, op needs 6$/],
      ['matmul out too short', () => be.matmul(out, f(6), f(10), null, 3, 2, 5, false, false, 0), /^matmul out: tensor of 12 elements, op needs 15$/],
      ['matmul beta 2', () => be.matmul(out, f(6), f(8), null, 3, 2, 4, false, false, 2 as 0), /matmul: beta must be 0 or 1, got 2/],
      ['matmul M not an integer', () => be.matmul(out, f(6), f(8), null, 1.5, 2, 4, false, false, 0), /matmul: M must be an integer >= 0, got 1\.5/],
      ['an i32 operand where f32 is needed', () => be.geluForward(out, i(12), 12), /geluForward inp: an i32 tensor where f32 values are needed/],
      ['f32 ids', () => be.encoderForward(f(8), f(2), f(8), f(8), 1, 2, 4, 0), /encoderForward ids: a f32 tensor where i32 indices are needed/],
      ['heads', () => be.attentionForward(f(60), f(6), f(180), 1, 2, 10, 3, 0, null), /C = 10 is not a multiple of NH = 3/],
      ['KV cache overflow', () => be.attentionCached(f(8), f(24), f(32), f(32), 1, 2, 8, 2, 3, 4), /KV cache of 4 positions cannot hold 5/],
      [
        'ragged caches',
        () => be.attentionRagged(f(8), f(24), f(30), f(30), i(2), 1, 8, 2, 4),
        /attentionRagged: caches of 30 and 30 elements are not slots of 4 × 8/,
      ],
      ['positions beyond wpe', () => be.encoderForward(f(16), i(2), f(20), f(12), 1, 2, 4, 2), /position 3 beyond the context of 3/],
      ['dropout p 1', () => be.dropoutForward(out, out, 12, 1, { seed: 1, stream: 2 }), /dropoutForward: dropout probability must be in \[0, 1\), got 1/],
      [
        'adamw step 0',
        () => be.adamw(f(4), f(4), f(4), f(4), { lr: 1, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, step: 0 }),
        /adamw: step must be an integer >= 1/,
      ],
      [
        'adamw m too short',
        () => be.adamw(f(4), f(4), f(3), f(4), { lr: 1, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, step: 1 }),
        /^adamw m: tensor of 3 elements, op needs 4$/,
      ],
      ['slice', () => be.slice(out, 10, 3), /slice \[10, \+3\) outside a tensor of 12/],
      ['write', () => be.write(out, new Float32Array(5), 8), /write of 5 at 8 into a tensor of 12/],
      ['copy', () => be.copy(f(3), out), /^copy: tensor of 3 elements, op needs 12$/],
    ];
    // indices a kernel would follow, where the backend's memory can be read at once (not on a GPU)
    if (HOST_INTS in be) {
      const ids = i(2),
        rows = i(1),
        sp = i(2);
      be.write(ids, Int32Array.of(1, 9));
      be.write(rows, Int32Array.of(3));
      be.write(sp, Int32Array.of(0, 4));
      cases.push(
        ['token id', () => be.encoderForward(f(8), ids, f(36), f(8), 1, 2, 4, 0), /token id 9 outside the vocabulary of 9/],
        ['target', () => be.crossEntropyForward(f(2), f(1), f(18), ids, f(2), 2, 9), /target 9 outside the vocabulary of 9/],
        ['row', () => be.gatherRows(f(4), f(12), rows, 1, 4), /row 3 outside a tensor of 3 rows/],
        [
          'slot position',
          () => be.attentionRagged(f(8), f(24), f(32), f(32), sp, 1, 8, 2, 4),
          /attentionRagged: token 0 at slot 0, position 4: the caches hold 1 slots of 4/,
        ],
      );
    }
    for (const [what, call, pattern] of cases) assertThrows(call, pattern, what);
    assertEqual(Array.from(await be.read(out)), new Array(12).fill(7), 'refused calls wrote nothing');
  });
}
