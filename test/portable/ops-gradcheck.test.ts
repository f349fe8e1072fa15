// Every backward op of the reference backend against central finite differences of its forward.
//
// Method: for an op with outputs y and a fixed random R of the same shape, L = Σ y·R. The analytic
// gradient is the op's backward run with dy = R; the numeric one is (L(x+h) − L(x−h)) / (x₊ − x₋) with
// x± the f32-rounded perturbed input, L summed in float64 on the host from the op's f32 outputs.
// Gradient buffers are prefilled with random values before the backward: an "accumulate" op must add
// to them (we subtract the prefill), an "overwrite" op must replace them — so the interface's
// semantics (backend.ts) are checked too.
//
// Tolerance: |analytic − numeric| <= 1e-3 + 1e-2·|numeric|. Inputs, R and gradients are O(1); the
// outputs are stored in f32 (relative rounding ~6e-8), so with h = 1e-2 the rounding part of the FD
// error is ~1e-6·(number of outputs)^½ / 2h ≈ 1e-5 and the truncation part h²·f'''/6 ≈ 1e-5; the bound
// leaves ~50x headroom for the nonlinear ops (softmax, layernorm, gelu) and still fails a backward that
// is wrong by a percent on any element of an O(1) gradient (see the "catches wrong backwards" tests).
// Sizes are odd and prime-ish on purpose (no power-of-two accidents, heads of size 3).
import type { Backend, DropoutRng, Tensor } from '../../src/backend/backend.ts';
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import { assert, assertClose, AssertionError, randn, test } from '../lib/harness.ts';

type Data = Float32Array | Int32Array;
type T = Record<string, Tensor>;

const TOL = { atol: 1e-3, rtol: 1e-2 };
const H = 1e-2;

interface GradCase {
  /** host inputs (f32 data or i32 indices) */
  inputs: Record<string, Data>;
  /** outputs that enter L, with their lengths */
  outs: Record<string, number>;
  /** other buffers the op needs (saved statistics, scratch), zero-filled */
  aux?: Record<string, number>;
  forward(be: Backend, t: T): void;
  /** the gradients to check: input name -> whether the backward accumulates or overwrites `d${name}` */
  grads: Record<string, 'acc' | 'set'>;
  /** runs after `forward` on the same tensors, with t[`d${out}`] = R; writes t[`d${input}`] */
  backward(be: Backend, t: T): void | Promise<void>;
}

function load(be: Backend, inputs: Record<string, Data>, extra: Record<string, number>): T {
  const t: T = {};
  for (const [k, v] of Object.entries(inputs)) {
    t[k] = be.alloc(v.length, v instanceof Int32Array ? 'i32' : 'f32');
    be.write(t[k], v);
  }
  for (const [k, n] of Object.entries(extra)) t[k] = be.alloc(n);
  return t;
}

async function lossOf(c: GradCase, inputs: Record<string, Data>, R: Record<string, Float32Array>): Promise<number> {
  const be = new ReferenceBackend();
  const t = load(be, inputs, { ...c.outs, ...(c.aux ?? {}) });
  c.forward(be, t);
  let L = 0;
  for (const k of Object.keys(c.outs)) {
    const y = (await be.read(t[k])) as Float32Array;
    for (let i = 0; i < y.length; i++) L += y[i] * R[k][i];
  }
  return L;
}

/** Analytic gradients (prefill handled) of L = Σ out·R. */
async function analytic(c: GradCase, R: Record<string, Float32Array>, seed: number): Promise<Record<string, Float32Array>> {
  const be = new ReferenceBackend();
  const t = load(be, c.inputs, { ...c.outs, ...(c.aux ?? {}) });
  c.forward(be, t);
  for (const [k, r] of Object.entries(R)) {
    t[`d${k}`] = be.alloc(r.length);
    be.write(t[`d${k}`], r);
  }
  const prefill: Record<string, Float32Array> = {};
  for (const g of Object.keys(c.grads)) {
    prefill[g] = randn(c.inputs[g].length, seed++, 3);
    t[`d${g}`] = be.alloc(c.inputs[g].length);
    be.write(t[`d${g}`], prefill[g]);
  }
  await c.backward(be, t);
  const out: Record<string, Float32Array> = {};
  for (const [g, mode] of Object.entries(c.grads)) {
    const got = (await be.read(t[`d${g}`])) as Float32Array;
    out[g] = mode === 'acc' ? got.map((v, i) => v - prefill[g][i]) : got;
  }
  return out;
}

/** Central differences of L wrt every element of every checked input. */
async function numeric(c: GradCase, R: Record<string, Float32Array>, h = H): Promise<Record<string, Float64Array>> {
  const out: Record<string, Float64Array> = {};
  for (const g of Object.keys(c.grads)) {
    const x = c.inputs[g] as Float32Array;
    const num = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const xp = x.slice(),
        xm = x.slice();
      xp[i] = x[i] + h;
      xm[i] = x[i] - h;
      const Lp = await lossOf(c, { ...c.inputs, [g]: xp }, R);
      const Lm = await lossOf(c, { ...c.inputs, [g]: xm }, R);
      num[i] = (Lp - Lm) / (xp[i] - xm[i]);
    }
    out[g] = num;
  }
  return out;
}

function makeR(c: GradCase, seed: number): Record<string, Float32Array> {
  const R: Record<string, Float32Array> = {};
  for (const [k, n] of Object.entries(c.outs)) R[k] = randn(n, seed++);
  return R;
}

/** Checks every gradient of the case; returns the max abs error per gradient (for the log). */
async function gradcheck(name: string, c: GradCase, seed = 1000): Promise<Record<string, number>> {
  const R = makeR(c, seed);
  const an = await analytic(c, R, seed + 100);
  const nu = await numeric(c, R);
  const errs: Record<string, number> = {};
  for (const g of Object.keys(c.grads)) {
    let maxNum = 0;
    for (const v of nu[g]) maxNum = Math.max(maxNum, Math.abs(v));
    // a gradient that is zero everywhere would make the check vacuous
    assert(maxNum > 0.05, `${name}: d${g} is ~0 everywhere (max ${maxNum}); the case does not exercise the op`);
    errs[g] = assertClose(an[g], nu[g], TOL, `${name} d${g}`);
  }
  console.log(
    `gradcheck ${name}: max abs error ${Object.entries(errs)
      .map(([k, e]) => `d${k} ${e.toExponential(1)}`)
      .join(', ')}`,
  );
  return errs;
}

/** Expects the check to fail: proves the test can see a wrong backward. */
async function expectCaught(name: string, c: GradCase): Promise<void> {
  try {
    await gradcheck(name, c);
  } catch (e) {
    if (e instanceof AssertionError) {
      console.log(`caught as intended: ${e.message.slice(0, 160)}`);
      return;
    }
    throw e;
  }
  throw new AssertionError(`${name}: a deliberately wrong backward passed the gradient check`);
}

// ---- cases ---------------------------------------------------------------------------------------

function encoderCase(): GradCase {
  const B = 2,
    T = 5,
    C = 7,
    V = 11,
    P = 6; // P > T: the last wpe row gets no gradient
  const ids = Int32Array.from([3, 0, 10, 3, 3, 7, 0, 5, 3, 9]); // repeats: the scatter must add
  return {
    inputs: { ids, wte: randn(V * C, 1), wpe: randn(P * C, 2) },
    outs: { out: B * T * C },
    forward: (be, t) => be.encoderForward(t.out, t.ids, t.wte, t.wpe, B, T, C, 0),
    grads: { wte: 'acc', wpe: 'acc' },
    backward: (be, t) => be.encoderBackward(t.dwte, t.dwpe, t.dout, t.ids, B, T, C),
  };
}

function layernormCase(): GradCase {
  const N = 7,
    C = 13;
  const x = randn(N * C, 3, 1.5).map((v, i) => v + (i % 3) - 1); // nonzero row means
  return {
    inputs: { x, w: randn(C, 4, 0.5).map((v) => v + 1), b: randn(C, 5, 0.5) },
    outs: { out: N * C },
    aux: { mean: N, rstd: N },
    forward: (be, t) => be.layernormForward(t.out, t.mean, t.rstd, t.x, t.w, t.b, N, C, 1e-5),
    grads: { x: 'acc', w: 'acc', b: 'acc' },
    backward: (be, t) => be.layernormBackward(t.dx, t.dw, t.db, t.dout, t.x, t.w, t.mean, t.rstd, N, C),
  };
}

/**
 * out = op(a)·op(b) + bias, with the backward written as the model writes it: three matmuls/biasBackward
 * with the transposes and beta the interface documents (dA overwritten with beta 0, dB accumulated).
 */
function matmulCase(transA: boolean, transB: boolean, withBias: boolean): GradCase {
  const M = 5,
    K = 7,
    N = 3;
  const inputs: Record<string, Data> = { a: randn(M * K, 6), b: randn(K * N, 7) };
  if (withBias) inputs.bias = randn(N, 8);
  const grads: Record<string, 'acc' | 'set'> = { a: 'set', b: 'acc' };
  if (withBias) grads.bias = 'acc';
  return {
    inputs,
    outs: { out: M * N },
    forward: (be, t) => be.matmul(t.out, t.a, t.b, withBias ? t.bias : null, M, K, N, transA, transB, 0),
    grads,
    backward: (be, t) => {
      // d op(a) = dout·op(b)ᵀ (M,K); d op(b) = op(a)ᵀ·dout (K,N)
      if (!transA)
        be.matmul(t.da, t.dout, t.b, null, M, N, K, false, !transB, 0); // da (M,K)
      else be.matmul(t.da, t.b, t.dout, null, K, N, M, transB, true, 0); // da (K,M) = op(b)·doutᵀ
      if (!transB)
        be.matmul(t.db, t.a, t.dout, null, K, M, N, !transA, false, 1); // db (K,N)
      else be.matmul(t.db, t.dout, t.a, null, N, M, K, true, transA, 1); // db (N,K) = doutᵀ·op(a)
      if (withBias) be.biasBackward(t.dbias, t.dout, M, N);
    },
  };
}

function attentionCase(pDrop: number, rngF: DropoutRng | null, rngB: DropoutRng | null = rngF): GradCase {
  const B = 2,
    T = 5,
    C = 9,
    NH = 3;
  return {
    inputs: { qkv: randn(B * T * 3 * C, 9, 1.2) },
    outs: { out: B * T * C },
    aux: { lse: B * NH * T },
    forward: (be, t) => be.attentionForward(t.out, t.lse, t.qkv, B, T, C, NH, pDrop, rngF),
    grads: { qkv: 'set' },
    backward: (be, t) => be.attentionBackward(t.dqkv, t.dout, t.qkv, t.out, t.lse, B, T, C, NH, pDrop, rngB),
  };
}

function geluCase(): GradCase {
  const N = 23;
  return {
    inputs: { x: randn(N, 10, 2) },
    outs: { out: N },
    forward: (be, t) => be.geluForward(t.out, t.x, N),
    grads: { x: 'acc' },
    backward: (be, t) => be.geluBackward(t.dx, t.x, t.dout, N),
  };
}

function residualCase(): GradCase {
  const N = 19;
  return {
    inputs: { a: randn(N, 11), b: randn(N, 12) },
    outs: { out: N },
    forward: (be, t) => be.residualForward(t.out, t.a, t.b, N),
    grads: { a: 'acc', b: 'acc' },
    backward: (be, t) => {
      be.accumulate(t.da, t.dout, N);
      be.accumulate(t.db, t.dout, N);
    },
  };
}

function dropoutCase(p: number, rngF: DropoutRng, rngB: DropoutRng = rngF, inPlace = false): GradCase {
  const N = 41;
  return {
    inputs: { x: randn(N, 14) },
    outs: { out: N },
    forward: (be, t) => {
      if (inPlace) {
        be.copy(t.out, t.x);
        be.dropoutForward(t.out, t.out, N, p, rngF);
      } else be.dropoutForward(t.out, t.x, N, p, rngF);
    },
    grads: { x: 'set' },
    backward: (be, t) => {
      if (inPlace) {
        be.copy(t.dx, t.dout);
        be.dropoutBackward(t.dx, t.dx, N, p, rngB);
      } else be.dropoutBackward(t.dx, t.dout, N, p, rngB);
    },
  };
}

/** L = loss[0]·R (loss = Σ_n w_n·CE_n, accumulated from 0), so the backward's dscale is R. */
function crossEntropyCase(inPlace: boolean, dscale: number): GradCase {
  const N = 6,
    V = 7;
  const targets = Int32Array.from([2, -1, 6, 0, -1, 2]); // two ignored rows
  const weights = Float32Array.from([0.5, 0.9, 1.3, 0.25, 2, 0.8]);
  return {
    inputs: { z: randn(N * V, 15, 2), targets, weights },
    outs: { loss: 1 },
    aux: { losses: N, scratch: N * V },
    forward: (be, t) => {
      be.fill(t.loss, 0);
      be.crossEntropyForward(t.losses, t.loss, t.z, t.targets, t.weights, N, V);
    },
    grads: { z: 'set' },
    backward: (be, t) => {
      // the analytic dscale must equal R; the case's R is pinned to `dscale` below
      if (inPlace) {
        be.copy(t.scratch, t.z);
        be.crossEntropyBackward(t.scratch, t.scratch, t.targets, t.weights, N, V, dscale);
        be.copy(t.dz, t.scratch);
      } else be.crossEntropyBackward(t.dz, t.z, t.targets, t.weights, N, V, dscale);
    },
  };
}

function rowsCase(): GradCase {
  const rows = 6,
    R = 8,
    C = 5;
  const idx = Int32Array.from([4, 0, 4, 5, 2, 4, 0, 1]); // repeats (row 4 thrice) and a row never read (3)
  return {
    inputs: { x: randn(rows * C, 16), idx },
    outs: { out: R * C },
    forward: (be, t) => be.gatherRows(t.out, t.x, t.idx, R, C),
    grads: { x: 'acc' },
    backward: (be, t) => be.scatterAddRows(t.dx, t.dout, t.idx, R, C),
  };
}

// ---- tests ---------------------------------------------------------------------------------------

test('gradcheck: encoder (token + position embedding; repeated ids)', async () => {
  await gradcheck('encoder', encoderCase());
});

test('gradcheck: layernorm (dx, dw, db)', async () => {
  await gradcheck('layernorm', layernormCase());
});

test('gradcheck: matmul, all four transpose combinations, with and without bias (da, db, dbias)', async () => {
  for (const transA of [false, true])
    for (const transB of [false, true])
      for (const bias of [true, false]) {
        await gradcheck(`matmul transA=${transA} transB=${transB} bias=${bias}`, matmulCase(transA, transB, bias));
      }
});

test('gradcheck: causal attention, pDrop 0', async () => {
  await gradcheck('attention p0', attentionCase(0, null));
});

test('gradcheck: causal attention with dropout (mask regenerated from the rng)', async () => {
  const rng = { seed: 1234, stream: 77 };
  // the mask must really drop something here, or this case would repeat the one above
  const be = new ReferenceBackend();
  const c = attentionCase(0.3, rng);
  const t = load(be, c.inputs, { out: 2 * 5 * 9, lse: 2 * 3 * 5, out0: 2 * 5 * 9 });
  be.attentionForward(t.out, t.lse, t.qkv, 2, 5, 9, 3, 0.3, rng);
  be.attentionForward(t.out0, t.lse, t.qkv, 2, 5, 9, 3, 0, null);
  const a = (await be.read(t.out)) as Float32Array,
    b = (await be.read(t.out0)) as Float32Array;
  assert(
    a.some((v, i) => Math.abs(v - b[i]) > 1e-3),
    'attention dropout at p=0.3 changed nothing',
  );
  await gradcheck('attention p0.3', c);
});

test('gradcheck: gelu (tanh form)', async () => {
  await gradcheck('gelu', geluCase());
});

test('gradcheck: residual (forward) and accumulate (its backward)', async () => {
  await gradcheck('residual', residualCase());
});

test('gradcheck: dropout, out of place and in place', async () => {
  const rng = { seed: 99, stream: 5 };
  const be = new ReferenceBackend();
  const t = load(be, { x: new Float32Array(41).fill(1) }, { out: 41 });
  be.dropoutForward(t.out, t.x, 41, 0.4, rng);
  const y = (await be.read(t.out)) as Float32Array;
  assert(y.some((v) => v === 0) && y.some((v) => v !== 0), 'dropout mask is all-keep or all-drop at p=0.4');
  await gradcheck('dropout p0.4', dropoutCase(0.4, rng));
  await gradcheck('dropout p0.4 in place', dropoutCase(0.4, rng, rng, true));
});

test('gradcheck: fused softmax cross-entropy (ignored targets, weights, dscale), out of place and in place', async () => {
  for (const inPlace of [false, true]) {
    const dscale = 1.7;
    const c = crossEntropyCase(inPlace, dscale);
    const R = { loss: Float32Array.of(dscale) };
    const an = await analytic(c, R, 500);
    const nu = await numeric(c, R);
    const err = assertClose(an.z, nu.z, TOL, `crossEntropy inPlace=${inPlace} dz`);
    // ignored rows (targets -1) get exactly zero gradient, and count nothing in the loss
    for (const n of [1, 4]) for (let v = 0; v < 7; v++) assert(an.z[n * 7 + v] === 0, `ignored row ${n} has gradient ${an.z[n * 7 + v]}`);
    console.log(`gradcheck crossEntropy inPlace=${inPlace}: max abs error dz ${err.toExponential(1)}`);
  }
});

test('gradcheck: gatherRows / scatterAddRows (repeated rows)', async () => {
  await gradcheck('rows', rowsCase());
});

test('gradcheck catches wrong backwards (so the checks above can fail)', async () => {
  // 1. attention and dropout whose backward regenerates the mask from the wrong stream
  await expectCaught('attention, backward mask from another stream', attentionCase(0.3, { seed: 1234, stream: 77 }, { seed: 1234, stream: 78 }));
  await expectCaught('dropout, backward mask from another stream', dropoutCase(0.4, { seed: 99, stream: 5 }, { seed: 99, stream: 6 }));
  // 2. layernorm's "naive" dx = dout·w·rstd, dropping the two mean terms
  const ln = layernormCase();
  const N = 7,
    C = 13;
  await expectCaught('layernorm without the mean terms', {
    ...ln,
    grads: { x: 'set' },
    backward: async (be, t) => {
      const x = ln.inputs.x as Float32Array,
        w = ln.inputs.w as Float32Array;
      const dy = (await be.read(t.dout)) as Float32Array;
      const dx = new Float32Array(N * C);
      for (let n = 0; n < N; n++) {
        let m = 0,
          v = 0;
        for (let c = 0; c < C; c++) m += x[n * C + c] / C;
        for (let c = 0; c < C; c++) v += (x[n * C + c] - m) ** 2 / C;
        for (let c = 0; c < C; c++) dx[n * C + c] = (dy[n * C + c] * w[c]) / Math.sqrt(v + 1e-5);
      }
      be.write(t.dx, dx);
    },
  });
  // 3. a matmul backward with the transpose of dA missed (a square-free shape makes it a wrong layout)
  const mm = matmulCase(true, false, true);
  await expectCaught('matmul transA with dA not transposed', {
    ...mm,
    grads: { a: 'set' },
    backward: (be, t) => be.matmul(t.da, t.dout, t.b, null, 5, 3, 7, false, true, 0), // (M,K) where (K,M) is stored
  });
  // 4. a gradient 2% off on one element: dout scaled at the element of largest |dout| with x > 0,
  //    where gelu' >= 0.5, so dx there is off by >= 1% of |dout| ~ 2
  const g = geluCase();
  await expectCaught('gelu with one element 2% off', {
    ...g,
    backward: async (be, t) => {
      const x = g.inputs.x as Float32Array,
        dy = (await be.read(t.dout)) as Float32Array;
      let k = -1;
      for (let i = 0; i < x.length; i++) if (x[i] > 0 && (k < 0 || Math.abs(dy[i]) > Math.abs(dy[k]))) k = i;
      be.write(t.dout, Float32Array.of(dy[k] * 1.02), k);
      await g.backward(be, t);
    },
  });
});
