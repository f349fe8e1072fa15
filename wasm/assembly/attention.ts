// Causal multi-head self-attention, fused: scores, softmax, dropout and P·V never leave a per-row
// scratch of T floats (no T×T matrix per head). Forward saves only lse(B,NH,T); backward regenerates P
// from q, k and lse, and the dropout mask from the counter RNG.
// qkv (B,T,3C) packs q | k | v along the last axis; head h owns columns [h*hs, (h+1)*hs) of each.
import { axpy, dot, expv, mix32 } from './common';

// Scores of one query against n keys (rows kStride bytes apart), softmaxed into s[0..n); returns lse.
@inline function softmaxRow(q: usize, k: usize, kStride: usize, n: i32, hs: i32, sc: f32, s: usize): f32 {
  let mx: f32 = -Infinity;
  for (let u = 0; u < n; u++) {
    const v = dot(q, k + <usize>u * kStride, hs) * sc;
    store<f32>(s + (<usize>u << 2), v);
    mx = max(mx, v);
  }
  const mv = f32x4.splat(mx);
  let zv = f32x4.splat(0);
  let u = 0;
  for (; u + 4 <= n; u += 4) {
    const e = expv(f32x4.sub(v128.load(s + (<usize>u << 2)), mv));
    v128.store(s + (<usize>u << 2), e);
    zv = f32x4.add(zv, e);
  }
  let z = f32x4.extract_lane(zv, 0) + f32x4.extract_lane(zv, 1) + f32x4.extract_lane(zv, 2) + f32x4.extract_lane(zv, 3);
  for (; u < n; u++) {
    const e = Mathf.exp(load<f32>(s + (<usize>u << 2)) - mx);
    store<f32>(s + (<usize>u << 2), e);
    z += e;
  }
  // normalise in place
  const inv = f32x4.splat(1 / z);
  u = 0;
  for (; u + 4 <= n; u += 4) v128.store(s + (<usize>u << 2), f32x4.mul(v128.load(s + (<usize>u << 2)), inv));
  for (; u < n; u++) store<f32>(s + (<usize>u << 2), load<f32>(s + (<usize>u << 2)) / z);
  return mx + Mathf.log(z);
}

// y(hs) = Σ_u p[u]·keep[u]/(1-p) · v_u
@inline function weightedSum(y: usize, s: usize, v: usize, vStride: usize, n: i32, hs: i32,
  drop: bool, key: u32, thr: u32, inv: f32, rowIdx: u32): void {
  memory.fill(y, 0, <usize>hs << 2);
  for (let u = 0; u < n; u++) {
    let p = load<f32>(s + (<usize>u << 2));
    if (drop) p = mix32(key + rowIdx + <u32>u) >= thr ? p * inv : 0;
    if (p != 0) axpy(y, p, v + <usize>u * vStride, hs);
  }
}

/**
 * out(B,T,C), lse(B,NH,T) from qkv(B,T,3C). Dropout on the probabilities when drop != 0 (key, thr, inv
 * from src/backend/rng.ts). Rows (b,h,t) are dealt to threads round-robin so causal work balances.
 * scratch + tid*stride holds T floats.
 */
export function attentionForward(out: usize, lse: usize, qkv: usize, B: i32, T: i32, C: i32, NH: i32,
  drop: i32, key: u32, thr: u32, inv: f32, scratch: usize, stride: usize, tid: i32, nth: i32): void {
  const hs = C / NH, sc = <f32>(1 / Math.sqrt(<f64>hs));
  const s = scratch + <usize>tid * stride;
  const row3 = <usize>(3 * C) << 2;
  const rows = B * NH * T;
  for (let r = tid; r < rows; r += nth) {
    const t = r % T, bh = r / T, h = bh % NH, b = bh / NH;
    const q = qkv + (<usize>(b * T + t) * <usize>(3 * C) + <usize>(h * hs)) * 4;
    const k0 = qkv + (<usize>(b * T) * <usize>(3 * C) + <usize>(C + h * hs)) * 4;
    const l = softmaxRow(q, k0, row3, t + 1, hs, sc, s);
    store<f32>(lse + (<usize>r << 2), l);
    const y = out + (<usize>(b * T + t) * <usize>C + <usize>(h * hs)) * 4;
    weightedSum(y, s, k0 + (<usize>C << 2), row3, t + 1, hs, drop != 0, key, thr, inv, <u32>r * <u32>T);
  }
}

/**
 * dqkv(B,T,3C) overwritten from dout(B,T,C), with out and lse from the forward. Threads own whole
 * (b,h) heads, since every query of a head adds into that head's dk and dv.
 * dS = P ∘ (dP - D)·scale with dP = (dO·vᵀ) ∘ mask and D = rowsum(dO ∘ O).
 */
export function attentionBackward(dqkv: usize, dout: usize, qkv: usize, out: usize, lse: usize, B: i32, T: i32, C: i32, NH: i32,
  drop: i32, key: u32, thr: u32, inv: f32, scratch: usize, stride: usize, tid: i32, nth: i32): void {
  const hs = C / NH, sc = <f32>(1 / Math.sqrt(<f64>hs));
  const s = scratch + <usize>tid * stride;
  const row3 = <usize>(3 * C) << 2, hsb = <usize>hs << 2;
  for (let bh = tid; bh < B * NH; bh += nth) {
    const h = bh % NH, b = bh / NH;
    const base = (<usize>(b * T) * <usize>(3 * C) + <usize>(h * hs)) * 4;
    for (let t = 0; t < T; t++) {
      const o = dqkv + base + <usize>t * row3;
      memory.fill(o, 0, hsb);
      memory.fill(o + (<usize>C << 2), 0, hsb);
      memory.fill(o + (<usize>C << 3), 0, hsb);
    }
    const k0 = qkv + base + (<usize>C << 2), v0 = k0 + (<usize>C << 2);
    const dk0 = dqkv + base + (<usize>C << 2), dv0 = dk0 + (<usize>C << 2);
    for (let t = 0; t < T; t++) {
      const q = qkv + base + <usize>t * row3, dq = dqkv + base + <usize>t * row3;
      const yo = (<usize>(b * T + t) * <usize>C + <usize>(h * hs)) * 4;
      const dO = dout + yo;
      const D = dot(dO, out + yo, hs);
      const L = load<f32>(lse + (<usize>(bh * T + t) << 2));
      const n = t + 1;
      // P row = exp(q·k·scale - lse), vectorised exp over the row
      for (let u = 0; u < n; u++) store<f32>(s + (<usize>u << 2), dot(q, k0 + <usize>u * row3, hs) * sc - L);
      let u = 0;
      for (; u + 4 <= n; u += 4) v128.store(s + (<usize>u << 2), expv(v128.load(s + (<usize>u << 2))));
      for (; u < n; u++) store<f32>(s + (<usize>u << 2), Mathf.exp(load<f32>(s + (<usize>u << 2))));
      const rowIdx = <u32>(bh * T + t) * <u32>T;
      for (u = 0; u < n; u++) {
        const p = load<f32>(s + (<usize>u << 2));
        let m: f32 = 1;
        if (drop != 0) m = mix32(key + rowIdx + <u32>u) >= thr ? inv : 0;
        const ku = k0 + <usize>u * row3, vu = v0 + <usize>u * row3;
        const dpd = dot(dO, vu, hs);
        if (m != 0) axpy(dv0 + <usize>u * row3, p * m, dO, hs);
        const ds = p * (dpd * m - D) * sc;
        axpy(dq, ds, ku, hs);
        axpy(dk0 + <usize>u * row3, ds, q, hs);
      }
    }
  }
}

/** kCache/vCache(B,Tmax,C)[pos0..pos0+Tn) = k, v of qkv(B,Tn,3C); threads split rows */
export function kvCacheWrite(qkv: usize, kCache: usize, vCache: usize, B: i32, Tn: i32, C: i32, pos0: i32, Tmax: i32, tid: i32, nth: i32): void {
  for (let r = tid; r < B * Tn; r += nth) {
    const b = r / Tn, t = r % Tn;
    const src = qkv + (<usize>r * <usize>(3 * C) + <usize>C) * 4;
    const dst = (<usize>(b * Tmax + pos0 + t) * <usize>C) * 4;
    memory.copy(kCache + dst, src, <usize>C << 2);
    memory.copy(vCache + dst, src + (<usize>C << 2), <usize>C << 2);
  }
}

/** out(B,Tn,C): each new query attends to cache positions [0, pos0 + i]; scratch holds pos0+Tn floats */
export function attentionCached(out: usize, qkv: usize, kCache: usize, vCache: usize, B: i32, Tn: i32, C: i32, NH: i32, pos0: i32, Tmax: i32,
  scratch: usize, stride: usize, tid: i32, nth: i32): void {
  const hs = C / NH, sc = <f32>(1 / Math.sqrt(<f64>hs));
  const s = scratch + <usize>tid * stride;
  const rowC = <usize>C << 2;
  const rows = B * NH * Tn;
  for (let r = tid; r < rows; r += nth) {
    const t = r % Tn, bh = r / Tn, h = bh % NH, b = bh / NH;
    const q = qkv + (<usize>(b * Tn + t) * <usize>(3 * C) + <usize>(h * hs)) * 4;
    const koff = (<usize>(b * Tmax) * <usize>C + <usize>(h * hs)) * 4;
    softmaxRow(q, kCache + koff, rowC, pos0 + t + 1, hs, sc, s);
    const y = out + (<usize>(b * Tn + t) * <usize>C + <usize>(h * hs)) * 4;
    weightedSum(y, s, vCache + koff, rowC, pos0 + t + 1, hs, false, 0, 0, 1, 0);
  }
}

// ---- continuous batching: N tokens of several sequences, each in its own cache slot ---------------
// slotPos (N,2) i32: the slot and absolute position of each token; caches (S,Tmax,C).

/** kCache/vCache[slot, pos] = k, v of each token of qkv(N,3C); threads split tokens */
export function kvCacheWriteRagged(qkv: usize, kCache: usize, vCache: usize, slotPos: usize, N: i32, C: i32, Tmax: i32, tid: i32, nth: i32): void {
  for (let n = tid; n < N; n += nth) {
    const slot = load<i32>(slotPos + (<usize>(2 * n) << 2)), pos = load<i32>(slotPos + (<usize>(2 * n + 1) << 2));
    const src = qkv + (<usize>n * <usize>(3 * C) + <usize>C) * 4;
    const dst = (<usize>(slot * Tmax + pos) * <usize>C) * 4;
    memory.copy(kCache + dst, src, <usize>C << 2);
    memory.copy(vCache + dst, src + (<usize>C << 2), <usize>C << 2);
  }
}

/** out(N,C): each token attends to its slot's positions [0, pos]; rows (token, head) dealt round-robin; scratch holds Tmax floats */
export function attentionRagged(out: usize, qkv: usize, kCache: usize, vCache: usize, slotPos: usize, N: i32, C: i32, NH: i32, Tmax: i32,
  scratch: usize, stride: usize, tid: i32, nth: i32): void {
  const hs = C / NH, sc = <f32>(1 / Math.sqrt(<f64>hs));
  const s = scratch + <usize>tid * stride;
  const rowC = <usize>C << 2;
  for (let r = tid; r < N * NH; r += nth) {
    const n = r / NH, h = r % NH;
    const slot = load<i32>(slotPos + (<usize>(2 * n) << 2)), pos = load<i32>(slotPos + (<usize>(2 * n + 1) << 2));
    const q = qkv + (<usize>n * <usize>(3 * C) + <usize>(h * hs)) * 4;
    const koff = (<usize>(slot * Tmax) * <usize>C + <usize>(h * hs)) * 4;
    softmaxRow(q, kCache + koff, rowC, pos + 1, hs, sc, s);
    weightedSum(out + (<usize>n * <usize>C + <usize>(h * hs)) * 4, s, vCache + koff, rowC, pos + 1, hs, false, 0, 0, 1, 0);
  }
}
