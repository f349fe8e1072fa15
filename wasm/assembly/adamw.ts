// The optimizer: global squared gradient norm (for clipping, computed in place: no readback) and
// decoupled-weight-decay Adam. Threads split elements.
import { colEnd, colStart } from './common';

/**
 * partials[tid] (f64) += Σ x² over this thread's share of x(N). The glue zeroes the partials, runs
 * this per tensor, then sumSquaresFinish writes the total, so the sum never needs atomics.
 */
export function sumSquaresPartial(partials: usize, x: usize, N: i32, tid: i32, nth: i32): void {
  const i0 = colStart(N, tid, nth), i1 = colEnd(N, tid, nth);
  // f32 products, f64 sums: 124M-element gradients lose nothing to accumulation order
  let a0 = f64x2.splat(0), a1 = a0;
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    const sq = f32x4.mul(v, v);
    a0 = f64x2.add(a0, f64x2.promote_low_f32x4(sq));
    a1 = f64x2.add(a1, f64x2.promote_low_f32x4(v128.shuffle<f32>(sq, sq, 2, 3, 0, 1)));
  }
  let s = f64x2.extract_lane(a0, 0) + f64x2.extract_lane(a0, 1) + f64x2.extract_lane(a1, 0) + f64x2.extract_lane(a1, 1);
  for (; i < i1; i++) {
    const v = <f64>load<f32>(x + (<usize>i << 2));
    s += v * v;
  }
  const p = partials + (<usize>tid << 3);
  store<f64>(p, load<f64>(p) + s);
}

/** out[0] = Σ partials[0..n) */
export function sumSquaresFinish(out: usize, partials: usize, n: i32): void {
  let s: f64 = 0;
  for (let i = 0; i < n; i++) s += load<f64>(partials + (<usize>i << 3));
  store<f32>(out, <f32>s);
}

/**
 * AdamW on param, grad, m, v (N each). normSq != 0 points at Σ g² (from sumSquares): the gradient is
 * scaled by min(1, maxNorm / (sqrt(normSq) + 1e-6)). bc1 = 1 - beta1^step, bc2 = 1 - beta2^step.
 */
export function adamw(param: usize, grad: usize, m: usize, v: usize, N: i32, lr: f32, beta1: f32, beta2: f32, eps: f32, wd: f32,
  bc1: f32, bc2: f32, normSq: usize, maxNorm: f32, tid: i32, nth: i32): void {
  let gs: f32 = 1;
  if (normSq) gs = <f32>min(1.0, <f64>maxNorm / (Math.sqrt(<f64>load<f32>(normSq)) + 1e-6));
  const i0 = colStart(N, tid, nth), i1 = colEnd(N, tid, nth);
  const gsv = f32x4.splat(gs), b1 = f32x4.splat(beta1), b2 = f32x4.splat(beta2), ob1 = f32x4.splat(1 - beta1), ob2 = f32x4.splat(1 - beta2);
  const ib1 = f32x4.splat(1 / bc1), ib2 = f32x4.splat(1 / bc2), ev = f32x4.splat(eps), lrv = f32x4.splat(lr), wdv = f32x4.splat(wd);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    const g = f32x4.mul(v128.load(grad + o), gsv);
    const mm = f32x4.add(f32x4.mul(b1, v128.load(m + o)), f32x4.mul(ob1, g));
    const vv = f32x4.add(f32x4.mul(b2, v128.load(v + o)), f32x4.mul(ob2, f32x4.mul(g, g)));
    v128.store(m + o, mm);
    v128.store(v + o, vv);
    const w = v128.load(param + o);
    const upd = f32x4.add(f32x4.div(f32x4.mul(mm, ib1), f32x4.add(f32x4.sqrt(f32x4.mul(vv, ib2)), ev)), f32x4.mul(wdv, w));
    v128.store(param + o, f32x4.sub(w, f32x4.mul(lrv, upd)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(grad + o) * gs;
    const mm = beta1 * load<f32>(m + o) + (1 - beta1) * g;
    const vv = beta2 * load<f32>(v + o) + (1 - beta2) * g * g;
    store<f32>(m + o, mm);
    store<f32>(v + o, vv);
    const w = load<f32>(param + o);
    store<f32>(param + o, w - lr * ((mm / bc1) / (Mathf.sqrt(vv / bc2) + eps) + wd * w));
  }
}
