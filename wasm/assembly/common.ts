// Shared helpers for every kernel: FMA selection, vector exp, horizontal sums, thread partitions.
//
// Why AssemblyScript: it is an npm devDependency (no system toolchain), it exposes every SIMD128 and
// relaxed-SIMD instruction as a typed intrinsic, and compile-time feature constants let ONE source give
// both builds (the `if (ASC_FEATURE_RELAXED_SIMD)` branch is folded away at compile time).
// Kernels use raw byte addresses (usize) into linear memory and never allocate: the JS glue owns memory.
//
// Threading convention: every exported kernel takes (…, tid, nth) last and does share `tid` of `nth`
// of the work; single-threaded callers pass (0, 1).

/** a*b + c: one fused multiply-add in the relaxed build, mul + add in the SIMD128 build */
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

@inline export function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

@inline export function hmax(v: v128): f32 {
  return max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}

/**
 * exp on 4 lanes (Cephes expf): 2^n · p(r) with r = x - n·ln2 reduced in two parts; relative error ~1e-7.
 * Inputs are clamped to [-87.3, 88.3], so exp of a very negative number is a tiny positive, never NaN (a
 * NaN stays NaN). n is rounded by adding 1.5·2^23, whose low mantissa bits then hold n, and 2^n is built
 * from those bits; the clamp is pmin/pmax (one instruction each on x64, where min/max's NaN rules cost six).
 * Measured 1.8× faster than f32x4.nearest + trunc_sat and min/max (0.9 vs 1.6 ns/element, V8 x64).
 */
@inline export function expv(x: v128): v128 {
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(-87.3)), f32x4.splat(88.3));
  const shifter = f32x4.splat(12582912.0); // 1.5·2^23
  const t = madd(x, f32x4.splat(1.44269504089), shifter);
  const n = f32x4.sub(t, shifter);
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let y = f32x4.splat(1.9875691500e-4);
  y = madd(y, r, f32x4.splat(1.3981999507e-3));
  y = madd(y, r, f32x4.splat(8.3334519073e-3));
  y = madd(y, r, f32x4.splat(4.1665795894e-2));
  y = madd(y, r, f32x4.splat(1.6666665459e-1));
  y = madd(y, r, f32x4.splat(5.0000001201e-1));
  y = madd(y, f32x4.mul(r, r), f32x4.add(r, f32x4.splat(1.0)));
  // t's bits are 0x4B400000 + n: n + 127 is the biased exponent of 2^n
  const e = i32x4.shl(i32x4.sub(t, i32x4.splat(0x4b400000 - 127)), 23);
  return f32x4.mul(y, e);
}

/**
 * A row of n scores at s, in place: exp(x - max) (expv on whole vectors, Mathf.exp on the rest); returns
 * their sum. The decode rows' softmax (attention.ts, halfkv.ts), one order of operations for all of them.
 */
export function expRow(s: usize, n: i32): f32 {
  let mx: f32 = -Infinity;
  for (let u = 0; u < n; u++) mx = max(mx, load<f32>(s + (<usize>u << 2)));
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
  return z;
}

/**
 * tanh on 4 lanes: Eigen's rational approximation (ptanh_float: odd degree-13 over even degree-6
 * polynomials, input clamped to ±7.9053, where the quotient rounds to ±1): relative error ~3e-7 over the
 * whole range, also near 0 where 1 - 2/(e^{2u}+1) lost all relative precision; one division and no exp,
 * 2.1× faster than that form (1.05 vs 2.2 ns/element, V8 x64).
 */
@inline export function tanhv(u: v128): v128 {
  const x = f32x4.pmin(f32x4.pmax(u, f32x4.splat(-7.90531110763549805)), f32x4.splat(7.90531110763549805));
  const x2 = f32x4.mul(x, x);
  let p = madd(x2, f32x4.splat(-2.76076847742355e-16), f32x4.splat(2.00018790482477e-13));
  p = madd(p, x2, f32x4.splat(-8.60467152213735e-11));
  p = madd(p, x2, f32x4.splat(5.12229709037114e-8));
  p = madd(p, x2, f32x4.splat(1.48572235717979e-5));
  p = madd(p, x2, f32x4.splat(6.37261928875436e-4));
  p = madd(p, x2, f32x4.splat(4.89352455891786e-3));
  let q = madd(x2, f32x4.splat(1.19825839466702e-6), f32x4.splat(1.18534705686654e-4));
  q = madd(q, x2, f32x4.splat(2.2684346324390e-3));
  q = madd(q, x2, f32x4.splat(4.89352518554385e-3));
  return f32x4.div(f32x4.mul(p, x), q);
}

/** lowbias32, the same u32 mix as src/backend/rng.ts, on 4 lanes */
@inline export function mix32v(x: v128): v128 {
  x = v128.xor(x, i32x4.shr_u(x, 16));
  x = i32x4.mul(x, i32x4.splat(0x7feb352d));
  x = v128.xor(x, i32x4.shr_u(x, 15));
  x = i32x4.mul(x, i32x4.splat(0x846ca68b));
  return v128.xor(x, i32x4.shr_u(x, 16));
}

@inline export function mix32(x: u32): u32 {
  x ^= x >>> 16;
  x *= 0x7feb352d;
  x ^= x >>> 15;
  x *= 0x846ca68b;
  return x ^ (x >>> 16);
}

/** start of share `tid` when `n` units are split evenly over `nth` threads */
@inline export function part(n: i32, tid: i32, nth: i32): i32 {
  return <i32>((<i64>n * <i64>tid) / <i64>nth);
}

/** column range [c0, c1) of share `tid`, in whole groups of 4 so that SIMD stores never overlap */
@inline export function colStart(C: i32, tid: i32, nth: i32): i32 {
  return part((C + 3) >> 2, tid, nth) << 2;
}
@inline export function colEnd(C: i32, tid: i32, nth: i32): i32 {
  return min(C, part((C + 3) >> 2, tid + 1, nth) << 2);
}

/** the 4×4 block at src (rows lds bytes apart), transposed and scaled by sv, into dst (rows ldd bytes apart) */
@inline export function transpose4(dst: usize, ldd: usize, src: usize, lds: usize, sv: v128): void {
  const a = v128.load(src), b = v128.load(src + lds), c = v128.load(src + 2 * lds), d = v128.load(src + 3 * lds);
  const ab0 = i32x4.shuffle(a, b, 0, 4, 1, 5), ab1 = i32x4.shuffle(a, b, 2, 6, 3, 7);
  const cd0 = i32x4.shuffle(c, d, 0, 4, 1, 5), cd1 = i32x4.shuffle(c, d, 2, 6, 3, 7);
  v128.store(dst, f32x4.mul(i32x4.shuffle(ab0, cd0, 0, 1, 4, 5), sv));
  v128.store(dst + ldd, f32x4.mul(i32x4.shuffle(ab0, cd0, 2, 3, 6, 7), sv));
  v128.store(dst + 2 * ldd, f32x4.mul(i32x4.shuffle(ab1, cd1, 0, 1, 4, 5), sv));
  v128.store(dst + 3 * ldd, f32x4.mul(i32x4.shuffle(ab1, cd1, 2, 3, 6, 7), sv));
}

/** dot product of n floats (any alignment) */
@inline export function dot(a: usize, b: usize, n: i32): f32 {
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    acc0 = madd(v128.load(a + (<usize>i << 2)), v128.load(b + (<usize>i << 2)), acc0);
    acc1 = madd(v128.load(a + (<usize>i << 2), 16), v128.load(b + (<usize>i << 2), 16), acc1);
  }
  for (; i + 4 <= n; i += 4) acc0 = madd(v128.load(a + (<usize>i << 2)), v128.load(b + (<usize>i << 2)), acc0);
  let s = hsum(f32x4.add(acc0, acc1));
  for (; i < n; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  return s;
}

/** y[0..n) += s * x[0..n) */
@inline export function axpy(y: usize, s: f32, x: usize, n: i32): void {
  const sv = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, madd(sv, v128.load(x + o), v128.load(y + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + s * load<f32>(x + o));
  }
}

/** memory the JS allocator may use starts here (after any static data) */
export function heapBase(): usize {
  return (__heap_base + 63) & ~(<usize>63);
}
