// A half-precision KV cache: the k and v of every position stored as IEEE halves (2 bytes each),
// arithmetic in f32. Half the memory of an f32 cache (GPT-2 at 256 positions: 9.4 MB instead of 18.9),
// for inference where memory is the limit (a Workers isolate's 128 MB). Writes round to nearest, ties to
// even, saturating at ±65504 (bit for bit src/backend/f16.ts's f16Bits, which the reference backend uses
// as the oracle); reads widen 8 halves at a time with integer SIMD (no f16 instructions in WASM).
// Every new query takes the row path — one pass over its keys: scores, softmax, weighted sum of v, as
// attention.ts's decode rows — prefill chunks included: at the contexts a half cache is for, attention is
// a small part of a token's work beside the matmuls.
import { expv, hsum, madd } from './common';

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

/** q(f32)·k(halves) over n */
@inline function dotHalf(q: usize, k: usize, n: i32): f32 {
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const h = v128.load(k + (<usize>i << 1));
    acc0 = madd(v128.load(q + (<usize>i << 2)), widen(i32x4.extend_low_i16x8_u(h)), acc0);
    acc1 = madd(v128.load(q + (<usize>i << 2), 16), widen(i32x4.extend_high_i16x8_u(h)), acc1);
  }
  let s = hsum(f32x4.add(acc0, acc1));
  for (; i < n; i++) s += load<f32>(q + (<usize>i << 2)) * halfValue(<u32>load<u16>(k + (<usize>i << 1)));
  return s;
}

/** y[0..n) += s · x[0..n) (x halves) */
@inline function axpyHalf(y: usize, s: f32, x: usize, n: i32): void {
  const sv = f32x4.splat(s);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const h = v128.load(x + (<usize>i << 1)), o = <usize>i << 2;
    v128.store(y + o, madd(sv, widen(i32x4.extend_low_i16x8_u(h)), v128.load(y + o)));
    v128.store(y + o, madd(sv, widen(i32x4.extend_high_i16x8_u(h)), v128.load(y + o, 16)), 16);
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + s * halfValue(<u32>load<u16>(x + (<usize>i << 1))));
  }
}

// y(hs) = softmax(q·kᵀ/sqrt(hs)) · v over the keys [0, n) (halves, rows ld bytes apart); s holds n floats
function attendRowHalf(y: usize, q: usize, k: usize, v: usize, ld: usize, n: i32, hs: i32, sc: f32, s: usize): void {
  let mx: f32 = -Infinity;
  for (let u = 0; u < n; u++) {
    const x = dotHalf(q, k + <usize>u * ld, hs) * sc;
    store<f32>(s + (<usize>u << 2), x);
    mx = max(mx, x);
  }
  const mv = f32x4.splat(mx);
  let zv = f32x4.splat(0);
  let u = 0;
  for (; u + 4 <= n; u += 4) {
    const e = expv(f32x4.sub(v128.load(s + (<usize>u << 2)), mv));
    v128.store(s + (<usize>u << 2), e);
    zv = f32x4.add(zv, e);
  }
  let z = hsum(zv);
  for (; u < n; u++) {
    const e = Mathf.exp(load<f32>(s + (<usize>u << 2)) - mx);
    store<f32>(s + (<usize>u << 2), e);
    z += e;
  }
  const iz: f32 = 1 / z;
  memory.fill(y, 0, <usize>hs << 2);
  for (u = 0; u < n; u++) axpyHalf(y, load<f32>(s + (<usize>u << 2)) * iz, v + <usize>u * ld, hs);
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

/** out(B,Tn,C): each new query attends to cache positions [0, pos0 + i]; rows (b, h, t) dealt round-robin; scratch: pos0 + Tn floats */
export function attentionCachedHalf(out: usize, qkv: usize, kCache: usize, vCache: usize, B: i32, Tn: i32, C: i32, NH: i32, pos0: i32, Tmax: i32,
  scratch: usize, stride: usize, tid: i32, nth: i32): void {
  const hs = C / NH, sc = <f32>(1 / Math.sqrt(<f64>hs)), s = scratch + <usize>tid * stride;
  for (let r = tid; r < B * NH * Tn; r += nth) {
    const t = r % Tn, bh = r / Tn, h = bh % NH, b = bh / NH;
    const q = qkv + (<usize>(b * Tn + t) * <usize>(3 * C) + <usize>(h * hs)) * 4;
    const kv = (<usize>(b * Tmax) * <usize>C + <usize>(h * hs)) * 2;
    attendRowHalf(out + (<usize>(b * Tn + t) * <usize>C + <usize>(h * hs)) * 4, q, kCache + kv, vCache + kv, <usize>C << 1, pos0 + t + 1, hs, sc, s);
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

/** out(N,C): each token attends to its slot's positions [0, pos] (halves); rows (token, head) dealt round-robin; scratch holds Tmax floats */
export function attentionRaggedHalf(out: usize, qkv: usize, kCache: usize, vCache: usize, slotPos: usize, N: i32, C: i32, NH: i32, Tmax: i32,
  scratch: usize, stride: usize, tid: i32, nth: i32): void {
  const hs = C / NH, sc = <f32>(1 / Math.sqrt(<f64>hs)), s = scratch + <usize>tid * stride;
  for (let r = tid; r < N * NH; r += nth) {
    const n = r / NH, h = r % NH;
    const slot = load<i32>(slotPos + (<usize>(2 * n) << 2)), pos = load<i32>(slotPos + (<usize>(2 * n + 1) << 2));
    const q = qkv + (<usize>n * <usize>(3 * C) + <usize>(h * hs)) * 4;
    const kv = (<usize>(slot * Tmax) * <usize>C + <usize>(h * hs)) * 2;
    attendRowHalf(out + (<usize>n * <usize>C + <usize>(h * hs)) * 4, q, kCache + kv, vCache + kv, <usize>C << 1, pos + 1, hs, sc, s);
  }
}
