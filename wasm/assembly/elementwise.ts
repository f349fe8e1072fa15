// Elementwise ops over N floats: GELU (tanh form) forward/backward, residual add, accumulate, scale,
// dropout. Threads take contiguous ranges in whole vectors; every op tolerates out aliasing its input
// element for element, which is what `scale` and dropout promise.
import { colEnd, colStart, madd, mix32, mix32v, tanhv } from './common';

const GELU_K: f32 = 0.7978845608028654; // sqrt(2/pi)
const GELU_C: f32 = 0.044715;

/** out(N) = 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))) */
export function geluForward(out: usize, inp: usize, N: i32, tid: i32, nth: i32): void {
  const i0 = colStart(N, tid, nth), i1 = colEnd(N, tid, nth);
  let i = i0;
  const k = f32x4.splat(GELU_K), c = f32x4.splat(GELU_C), half = f32x4.splat(0.5), one = f32x4.splat(1);
  for (; i + 4 <= i1; i += 4) {
    const x = v128.load(inp + (<usize>i << 2));
    const u = f32x4.mul(k, madd(f32x4.mul(c, x), f32x4.mul(x, x), x));
    v128.store(out + (<usize>i << 2), f32x4.mul(f32x4.mul(half, x), f32x4.add(one, tanhv(u))));
  }
  for (; i < i1; i++) {
    const x = load<f32>(inp + (<usize>i << 2));
    store<f32>(out + (<usize>i << 2), 0.5 * x * (1 + <f32>Math.tanh(<f64>(GELU_K * (x + GELU_C * x * x * x)))));
  }
}

/** dinp(N) += gelu'(inp)·dout */
export function geluBackward(dinp: usize, inp: usize, dout: usize, N: i32, tid: i32, nth: i32): void {
  const i0 = colStart(N, tid, nth), i1 = colEnd(N, tid, nth);
  let i = i0;
  const k = f32x4.splat(GELU_K), c = f32x4.splat(GELU_C), c3 = f32x4.splat(3 * GELU_C), half = f32x4.splat(0.5), one = f32x4.splat(1);
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    const x = v128.load(inp + o), x2 = f32x4.mul(x, x);
    const th = tanhv(f32x4.mul(k, madd(f32x4.mul(c, x), x2, x)));
    const du = f32x4.mul(k, madd(c3, x2, one));
    // 0.5(1+th) + 0.5·x·(1-th²)·du
    const g = madd(f32x4.mul(f32x4.mul(half, x), f32x4.sub(one, f32x4.mul(th, th))), du, f32x4.mul(half, f32x4.add(one, th)));
    v128.store(dinp + o, madd(g, v128.load(dout + o), v128.load(dinp + o)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(inp + o);
    const th = <f32>Math.tanh(<f64>(GELU_K * (x + GELU_C * x * x * x)));
    const du = GELU_K * (1 + 3 * GELU_C * x * x);
    store<f32>(dinp + o, load<f32>(dinp + o) + load<f32>(dout + o) * (0.5 * (1 + th) + 0.5 * x * (1 - th * th) * du));
  }
}

/** out(N) = a + b */
export function residualForward(out: usize, a: usize, b: usize, N: i32, tid: i32, nth: i32): void {
  const i0 = colStart(N, tid, nth), i1 = colEnd(N, tid, nth);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

/** dst(N) += src */
export function accumulate(dst: usize, src: usize, N: i32, tid: i32, nth: i32): void {
  residualForward(dst, dst, src, N, tid, nth);
}

/**
 * out(N) = inp·keep/(1-p): element i is kept when mix32(key + i) >= thr (u32), exactly as
 * src/backend/rng.ts draws it. The backward is this same call on dout.
 */
export function dropout(out: usize, inp: usize, N: i32, key: u32, thr: u32, inv: f32, tid: i32, nth: i32): void {
  const i0 = colStart(N, tid, nth), i1 = colEnd(N, tid, nth);
  const iv = f32x4.splat(inv), tv = i32x4.splat(thr);
  let idx = i32x4.add(i32x4.splat(key + <u32>i0), i32x4(0, 1, 2, 3));
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    const keep = i32x4.ge_u(mix32v(idx), tv);
    v128.store(out + o, v128.and(f32x4.mul(v128.load(inp + o), iv), keep));
    idx = i32x4.add(idx, i32x4.splat(4));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, mix32(key + <u32>i) >= thr ? load<f32>(inp + o) * inv : 0);
  }
}
