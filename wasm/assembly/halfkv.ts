// A half-precision KV cache: the k and v of every position stored as IEEE halves (2 bytes each),
// arithmetic in f32. Half the memory of an f32 cache (GPT-2 at 256 positions: 9.4 MB instead of 18.9),
// for inference where memory is the limit (a Workers isolate's 128 MB). Writes round to nearest, ties to
// even, saturating at ±65504 (bit for bit src/backend/f16.ts's f16Bits, which the reference backend uses
// as the oracle); reads widen 8 halves at a time with integer SIMD (no f16 instructions in WASM).
// Queries attend in blocks of one sequence and head: each cached k and v row is widened to f32 once per
// block and serves all its queries (scores, softmax, weighted sum of v, in f32 as attention.ts's decode
// rows); a prompt chunk is one block, a decode step a block of one.
import { axpy, dot, expRow, part } from './common';

/** x's half-precision bits (round to nearest even; ±65504 for larger magnitudes and infinities; NaN 0x7e00) */
@inline function toHalf(x: f32): u32 {
  const u = reinterpret<u32>(x);
  const sign = (u >>> 16) & 0x8000;
  const exp = <i32>((u >>> 23) & 0xff);
  const mant = u & 0x7fffff;
  if (exp == 0xff) return mant ? 0x7e00 : sign | 0x7bff;
  const he = exp - 112; // the half's biased exponent (127 - 15)
  if (he >= 31) return sign | 0x7bff;
  if (he <= 0) {
    // a half subnormal (units of 2^-24) or zero
    if (he < -10) return sign;
    const full = mant | 0x800000, shift = <u32>(14 - he);
    let r = full >>> shift;
    const rem = full & ((<u32>1 << shift) - 1), halfway = <u32>1 << (shift - 1);
    if (rem > halfway || (rem == halfway && (r & 1) != 0)) r++;
    return sign | r;
  }
  let r = (<u32>he << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (r & 1) != 0)) r++; // a carry moves into the exponent, as it should
  return r >= 0x7c00 ? sign | 0x7bff : sign | r;
}

// 2^112: the magnitude bits shifted into an f32's place, times this, are the half's value (normal and
// subnormal alike: WASM keeps f32 subnormals); exponent 31 (NaN — infinities are never written) stays NaN
const SCALE: f32 = 5.192296858534828e33;

@inline function halfValue(h: u32): f32 {
  let f = reinterpret<f32>((h & 0x7fff) << 13) * SCALE;
  if ((h & 0x7c00) == 0x7c00) f = reinterpret<f32>(reinterpret<u32>(f) | 0x7f800000);
  return reinterpret<f32>(reinterpret<u32>(f) | ((h & 0x8000) << 16));
}

/** 4 halves (zero-extended into i32 lanes) as f32x4 */
@inline function widen(h: v128): v128 {
  let f = f32x4.mul(i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13), f32x4.splat(SCALE));
  f = v128.or(f, v128.and(i32x4.eq(v128.and(h, i32x4.splat(0x7c00)), i32x4.splat(0x7c00)), i32x4.splat(0x7f800000)));
  return v128.or(f, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

// Queries per block: each key and value row is widened to f32 once per block of up to QB queries of one
// sequence and head (a prompt chunk shares its rows; a decode step is a block of one).
const QB = 64;

/**
 * scratch bytes per thread: a block's scores (QB × keys, at most n keys) or a decode step's (every head's
 * scores and sum), and one widened row of k or v
 */
export function halfAttentionScratchBytes(n: i32, hs: i32, NH: i32): i32 {
  return (max(QB * n, NH * (n + 1)) + ((hs + 3) & ~3)) * 4;
}

// hs halves at src as f32 at dst
@inline function widenRow(dst: usize, src: usize, hs: i32): void {
  let i = 0;
  for (; i + 8 <= hs; i += 8) {
    const h = v128.load(src + (<usize>i << 1));
    v128.store(dst + (<usize>i << 2), widen(i32x4.extend_low_i16x8_u(h)));
    v128.store(dst + (<usize>i << 2), widen(i32x4.extend_high_i16x8_u(h)), 16);
  }
  for (; i < hs; i++) store<f32>(dst + (<usize>i << 2), halfValue(<u32>load<u16>(src + (<usize>i << 1))));
}

/** a row of n scores at st, in place: their softmax (expRow, then times 1/Σ) */
function normalize(st: usize, n: i32): void {
  const izs: f32 = 1 / expRow(st, n), iz = f32x4.splat(izs);
  let u = 0;
  for (; u + 4 <= n; u += 4) v128.store(st + (<usize>u << 2), f32x4.mul(v128.load(st + (<usize>u << 2)), iz));
  for (; u < n; u++) store<f32>(st + (<usize>u << 2), load<f32>(st + (<usize>u << 2)) * izs);
}

/**
 * Tn queries of one sequence and head at absolute positions pos0.. (rows ldq bytes apart; outputs ldo
 * apart), each attending to the keys [0, its position] (halves, rows ld bytes apart): y = softmax(q·kᵀ·sc)·v.
 * In blocks of QB queries; s: halfAttentionScratchBytes(ls, hs, NH), with ls >= pos0 + Tn the length of a row of scores.
 */
function attendHalf(out: usize, ldo: usize, q: usize, ldq: usize, k: usize, v: usize, ld: usize, Tn: i32, pos0: i32, hs: i32, sc: f32, s: usize, ls: i32): void {
  const row = s + <usize>(QB * ls) * 4;
  for (let b0 = 0; b0 < Tn; b0 += QB) {
    const nq = min(QB, Tn - b0), p0 = pos0 + b0, n = p0 + nq; // keys [0, n) for the block
    // scores: S[t][u] for u <= p0 + t
    for (let u = 0; u < n; u++) {
      widenRow(row, k + <usize>u * ld, hs);
      for (let t = max(0, u - p0); t < nq; t++) store<f32>(s + (<usize>(t * ls + u) << 2), dot(q + <usize>(b0 + t) * ldq, row, hs) * sc);
    }
    for (let t = 0; t < nq; t++) {
      const st = s + (<usize>(t * ls) << 2), m = p0 + t + 1;
      normalize(st, m);
      memory.fill(out + <usize>(b0 + t) * ldo, 0, <usize>hs << 2);
    }
    for (let u = 0; u < n; u++) {
      widenRow(row, v + <usize>u * ld, hs);
      for (let t = max(0, u - p0); t < nq; t++) axpy(out + <usize>(b0 + t) * ldo, load<f32>(s + (<usize>(t * ls + u) << 2)), row, hs);
    }
  }
}

/**
 * One query (a decode step) for heads [0, nh) from q, k, v, out (each at the first head's columns; k, v
 * rows of halves ld bytes apart, a head hs halves after the previous one), attending to the keys [0, n):
 * one pass over the key rows for all these heads, a softmax per head, one pass over the value rows, so
 * the cache streams through in order (attention.ts's decode rows; per head the arithmetic of attendHalf).
 * s: halfAttentionScratchBytes(ls, hs, NH) with ls >= n.
 */
function attendHalfHeads(out: usize, q: usize, k: usize, v: usize, ld: usize, n: i32, hs: i32, nh: i32, sc: f32, s: usize, ls: i32): void {
  const row = s + <usize>(max(QB * ls, nh * (ls + 1))) * 4, ns = <usize>n << 2, hf = <usize>hs << 2, hh = <usize>hs << 1;
  for (let u = 0; u < n; u++) {
    const kr = k + <usize>u * ld;
    for (let h = 0; h < nh; h++) {
      widenRow(row, kr + <usize>h * hh, hs);
      store<f32>(s + <usize>h * ns + (<usize>u << 2), dot(q + <usize>h * hf, row, hs) * sc);
    }
  }
  for (let h = 0; h < nh; h++) normalize(s + <usize>h * ns, n);
  memory.fill(out, 0, <usize>nh * hf);
  for (let u = 0; u < n; u++) {
    const vr = v + <usize>u * ld;
    for (let h = 0; h < nh; h++) {
      widenRow(row, vr + <usize>h * hh, hs);
      axpy(out + <usize>h * hf, load<f32>(s + <usize>h * ns + (<usize>u << 2)), row, hs);
    }
  }
}

// C floats at src as halves at dst
@inline function rowToHalf(dst: usize, src: usize, C: i32): void {
  for (let c = 0; c < C; c++) store<u16>(dst + (<usize>c << 1), <u16>toHalf(load<f32>(src + (<usize>c << 2))));
}

/** kCache/vCache(B,Tmax,C) halves [pos0..pos0+Tn) = k, v of qkv(B,Tn,3C); threads split rows */
export function kvCacheWriteHalf(qkv: usize, kCache: usize, vCache: usize, B: i32, Tn: i32, C: i32, pos0: i32, Tmax: i32, tid: i32, nth: i32): void {
  for (let r = tid; r < B * Tn; r += nth) {
    const b = r / Tn, t = r % Tn;
    const src = qkv + (<usize>r * <usize>(3 * C) + <usize>C) * 4;
    const dst = (<usize>(b * Tmax + pos0 + t) * <usize>C) * 2;
    rowToHalf(kCache + dst, src, C);
    rowToHalf(vCache + dst, src + (<usize>C << 2), C);
  }
}

/** out(B,Tn,C): each new query attends to cache positions [0, pos0 + i]; (b, h) dealt round-robin; scratch: halfAttentionScratchBytes */
export function attentionCachedHalf(out: usize, qkv: usize, kCache: usize, vCache: usize, B: i32, Tn: i32, C: i32, NH: i32, pos0: i32, Tmax: i32,
  scratch: usize, scratchStride: usize, tid: i32, nth: i32): void {
  const hs = C / NH, sc = <f32>(1 / Math.sqrt(<f64>hs)), s = scratch + <usize>tid * scratchStride;
  if (Tn == 1) {
    // a decode step: each thread a contiguous run of (sequence, head) pairs, all of a run's heads at once
    const i1 = part(B * NH, tid + 1, nth);
    for (let i = part(B * NH, tid, nth); i < i1; ) {
      const b = i / NH, h0 = i % NH, h1 = min(NH, h0 + i1 - i);
      const kv = (<usize>(b * Tmax) * <usize>C + <usize>(h0 * hs)) * 2;
      attendHalfHeads(out + (<usize>b * <usize>C + <usize>(h0 * hs)) * 4, qkv + (<usize>b * <usize>(3 * C) + <usize>(h0 * hs)) * 4, kCache + kv, vCache + kv,
        <usize>C << 1, pos0 + 1, hs, h1 - h0, sc, s, pos0 + 1);
      i += h1 - h0;
    }
    return;
  }
  for (let r = tid; r < B * NH; r += nth) {
    const h = r % NH, b = r / NH;
    const q = qkv + (<usize>(b * Tn) * <usize>(3 * C) + <usize>(h * hs)) * 4;
    const kv = (<usize>(b * Tmax) * <usize>C + <usize>(h * hs)) * 2;
    attendHalf(out + (<usize>(b * Tn) * <usize>C + <usize>(h * hs)) * 4, <usize>C << 2, q, <usize>(3 * C) << 2, kCache + kv, vCache + kv, <usize>C << 1, Tn, pos0, hs, sc, s, pos0 + Tn);
  }
}

/** kCache/vCache[slot, pos] (halves) = k, v of each token of qkv(N,3C); slotPos (N,2) i32; threads split tokens */
export function kvCacheWriteRaggedHalf(qkv: usize, kCache: usize, vCache: usize, slotPos: usize, N: i32, C: i32, Tmax: i32, tid: i32, nth: i32): void {
  for (let n = tid; n < N; n += nth) {
    const slot = load<i32>(slotPos + (<usize>(2 * n) << 2)), pos = load<i32>(slotPos + (<usize>(2 * n + 1) << 2));
    const src = qkv + (<usize>n * <usize>(3 * C) + <usize>C) * 4;
    const dst = (<usize>(slot * Tmax + pos) * <usize>C) * 2;
    rowToHalf(kCache + dst, src, C);
    rowToHalf(vCache + dst, src + (<usize>C << 2), C);
  }
}

/**
 * out(N,C): each token attends to its slot's positions [0, pos] (halves). Runs of tokens of one slot at
 * consecutive positions (a prompt chunk) attend together; (run, head) dealt round-robin; scratch:
 * halfAttentionScratchBytes.
 */
export function attentionRaggedHalf(out: usize, qkv: usize, kCache: usize, vCache: usize, slotPos: usize, N: i32, C: i32, NH: i32, Tmax: i32,
  scratch: usize, scratchStride: usize, tid: i32, nth: i32): void {
  const hs = C / NH, sc = <f32>(1 / Math.sqrt(<f64>hs)), s = scratch + <usize>tid * scratchStride;
  let unit = 0;
  for (let n0 = 0; n0 < N;) {
    const slot = load<i32>(slotPos + (<usize>(2 * n0) << 2)), pos = load<i32>(slotPos + (<usize>(2 * n0 + 1) << 2));
    let n1 = n0 + 1;
    while (n1 < N && load<i32>(slotPos + (<usize>(2 * n1) << 2)) == slot && load<i32>(slotPos + (<usize>(2 * n1 + 1) << 2)) == pos + n1 - n0) n1++;
    if (n1 - n0 == 1) {
      // a decode step: this thread's share of the heads, all at once
      const h0 = part(NH, tid, nth), h1 = part(NH, tid + 1, nth);
      if (h1 > h0) {
        const kv = (<usize>(slot * Tmax) * <usize>C + <usize>(h0 * hs)) * 2;
        attendHalfHeads(out + (<usize>n0 * <usize>C + <usize>(h0 * hs)) * 4, qkv + (<usize>n0 * <usize>(3 * C) + <usize>(h0 * hs)) * 4, kCache + kv, vCache + kv,
          <usize>C << 1, pos + 1, hs, h1 - h0, sc, s, Tmax);
      }
      n0 = n1;
      continue;
    }
    for (let h = 0; h < NH; h++, unit++) {
      if (unit % nth != tid) continue;
      const q = qkv + (<usize>n0 * <usize>(3 * C) + <usize>(h * hs)) * 4;
      const kv = (<usize>(slot * Tmax) * <usize>C + <usize>(h * hs)) * 2;
      attendHalf(out + (<usize>n0 * <usize>C + <usize>(h * hs)) * 4, <usize>C << 2, q, <usize>(3 * C) << 2, kCache + kv, vCache + kv, <usize>C << 1, n1 - n0, pos, hs, sc, s, Tmax);
    }
    n0 = n1;
  }
}

/** dst(B,n,C) f32 = rows [0, n) of each batch's cache (B,Tmax,C) halves: a prompt's attention then runs on the f32 tiles; threads split rows */
export function widenCache(dst: usize, src: usize, B: i32, n: i32, C: i32, Tmax: i32, tid: i32, nth: i32): void {
  for (let r = tid; r < B * n; r += nth) {
    const b = r / n, t = r % n;
    widenRow(dst + (<usize>r * <usize>C) * 4, src + (<usize>(b * Tmax + t) * <usize>C) * 2, C);
  }
}
