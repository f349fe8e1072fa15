// Quantized weights (q8, q4; layout in src/backend/quant.ts): out(M,N) = beta·out + a(M,K)·W(N,K)ᵀ [+ bias]
// on integer dot products, and the token embedding's gather from a quantized table.
//
// W is stored row-major as the file holds it: q8 int8 codes (N,K) then one f32 scale per row; q4 rows of
// G = ceil(K/32) 16-byte groups (Q4_0 nibble order, codes 0..15 meaning code-8) then (N,G) f16 scales.
// Activations are quantized per row and per block of QK = 256 along K, and each product sums exactly in i32:
//  - against q8 weights, to 7-bit codes with a zero point (x ≈ s·(q − z), q and z in 0..127), so the relaxed
//    build can take four products at once with `i16x8.relaxed_dot_i8x16_i7x16_s` (x64: one pmaddubsw; its
//    i7 operand, the codes, stays in 0..127 where every engine agrees and no pair sum saturates) and sum
//    the pairs with `i32x4.dot_i16x8_s` by ones: 1.2–1.4× the multiply-adds per second of SIMD128's
//    `i32x4.dot_i16x8_s` alone, in-register (bench/quant.ts, "dot"; docs/quantization.md has the model's
//    gain). The zero point comes off as z·Σw, from each row's code sums per block (q8BlockSums, kept
//    beside the scales). The SIMD128 build takes the same
//    integers as int16 (q − z) on `dot_i16x8_s`, so every build and both paths (the GEMM, the matrix-vector
//    product) sum exactly the same Σ w·(q − z);
//  - against q4 weights, to 8 bits, symmetric (s = max|block|/127): the relaxed build (GEMM and
//    matrix-vector path) multiplies them four at a time against the codes (0..15, the 7-bit operand) with
//    the same relaxed dot, adds a group's pair sums in int16 (|Σ| ≤ 8·2·127·15 < 2^15) before one widening
//    dot by ones, and takes 8·Σx off per group; SIMD128 sums the same integers on `dot_i16x8_s` with the
//    codes less 8.
// Why not relaxed SIMD's fused `i32x4.relaxed_dot_i8x16_i7x16_add_s`: on x64 without AVX-VNNI V8 lowers it to
// five instructions and it runs no faster than dot_i16x8 (bench/quant.ts measures all three).
// With KC blocks of 256 the i32 sums cannot overflow (|a| ≤ 127, |w| ≤ 128: 256·127·128 < 2^31).
// The f32 epilogue adds acc·(s_a·s_w) into out per block (q8) or per group of 32 (q4), in K order, in
// both paths below, so the matrix-vector path (decode) and the GEMM (prefill) give the same bits.
import { madd, part } from './common';
import { gemvInit } from './matmul';

const QK = 256; // activations' quantization block along K; the GEMM's KC
const G4 = 32; // q4 group
const MR = 4;
const NR = 8;
const NC = 512;
const MB = 256; // rows of a quantized and packed at once (a (MB, QK) int16 block: 128 KB, in L2 with B's block)
const GEMV_MAX_M = 4;

// ---- helpers ------------------------------------------------------------------------------------------

/** f16 bits (low 16 of each lane) to f32, exact for every finite half (subnormals too) */
@inline function halvesToF32(h: v128): v128 {
  // sign to bit 31, exponent and mantissa to f32's places (the arithmetic shift's copies of the sign
  // cleared), then × 2^112 rebiases the exponent; the product keeps the sign
  const x = i32x4.shr_s(i32x4.shl(h, 16), 3);
  return f32x4.mul(v128.and(x, i32x4.splat(0x8fffffff)), f32x4.splat(5.192296858534828e33));
}
/** the f16 scales at four addresses (four columns' scale of one group) as f32 lanes */
@inline function scales4(p0: usize, p1: usize, p2: usize, p3: usize): v128 {
  let h = i32x4.splat(load<u16>(p0));
  h = i32x4.replace_lane(h, 1, load<u16>(p1));
  h = i32x4.replace_lane(h, 2, load<u16>(p2));
  h = i32x4.replace_lane(h, 3, load<u16>(p3));
  return halvesToF32(h);
}
@inline function halfToF32(h: u32): f32 {
  return reinterpret<f32>(reinterpret<u32>(reinterpret<f32>((h & 0x7fff) << 13) * <f32>5.192296858534828e33) | ((h & 0x8000) << 16));
}

/** lanes = the four vectors' horizontal sums (i32) */
@inline function sum4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const t0 = i32x4.add(i32x4.shuffle(a0, a1, 0, 4, 1, 5), i32x4.shuffle(a0, a1, 2, 6, 3, 7));
  const t1 = i32x4.add(i32x4.shuffle(a2, a3, 0, 4, 1, 5), i32x4.shuffle(a2, a3, 2, 6, 3, 7));
  return i32x4.add(i32x4.shuffle(t0, t1, 0, 1, 4, 5), i32x4.shuffle(t0, t1, 2, 3, 6, 7));
}

/**
 * Quantizes n floats at src for q4 weights, symmetric to 8 bits: code = nearest(x · 127/max|x|), stored as
 * int16 (wide) or bytes at dst, zero-padded up to npad elements. Returns the scale max|x|/127 (0 for an
 * all-zero block).
 */
function quantizeBlock(dst: usize, src: usize, n: i32, npad: i32, wide: bool): f32 {
  let mv = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) mv = f32x4.max(mv, f32x4.abs(v128.load(src + (<usize>i << 2))));
  let mx = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
  for (; i < n; i++) mx = max(mx, abs(load<f32>(src + (<usize>i << 2))));
  const inv: f32 = mx > 0 ? <f32>127 / mx : 0;
  const iv = f32x4.splat(inv);
  i = 0;
  for (; i + 8 <= n; i += 8) {
    const x0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(src + (<usize>i << 2)), iv)));
    const x1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(src + (<usize>i << 2), 16), iv)));
    // |codes| <= 127 but for rounding at the extreme: the narrowing clamps
    const c = i16x8.max_s(i16x8.min_s(i16x8.narrow_i32x4_s(x0, x1), i16x8.splat(127)), i16x8.splat(-127));
    if (wide) v128.store(dst + (<usize>i << 1), c);
    else v128.store64_lane(dst + <usize>i, i8x16.narrow_i16x8_s(c, c), 0);
  }
  for (; i < n; i++) {
    const c = max(-127, min(127, <i32>nearest(load<f32>(src + (<usize>i << 2)) * inv)));
    if (wide) store<i16>(dst + (<usize>i << 1), <i16>c);
    else store<i8>(dst + <usize>i, <i8>c);
  }
  for (; i < npad; i++) {
    if (wide) store<i16>(dst + (<usize>i << 1), 0);
    else store<i8>(dst + <usize>i, 0);
  }
  return mx / <f32>127;
}

/**
 * Quantizes n floats at src to 7-bit codes with a zero point for q8 weights: x ≈ s·(q − z), the range
 * [min(x, 0), max(x, 0)] split into 127 steps, z = nearest(−min/s), q = clamp(nearest(x/s) + z, 0, 127).
 * wide: stores int16 (q − z) at dst, else bytes q; zero-padded up to npad elements. Writes z at zOut and
 * returns s (0, with z = 0, for an all-zero block).
 */
function quantizeBlock7(dst: usize, zOut: usize, src: usize, n: i32, npad: i32, wide: bool): f32 {
  let lov = f32x4.splat(0), hiv = lov;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const x = v128.load(src + (<usize>i << 2));
    lov = f32x4.min(lov, x);
    hiv = f32x4.max(hiv, x);
  }
  let lo = min(min(f32x4.extract_lane(lov, 0), f32x4.extract_lane(lov, 1)), min(f32x4.extract_lane(lov, 2), f32x4.extract_lane(lov, 3)));
  let hi = max(max(f32x4.extract_lane(hiv, 0), f32x4.extract_lane(hiv, 1)), max(f32x4.extract_lane(hiv, 2), f32x4.extract_lane(hiv, 3)));
  for (; i < n; i++) {
    const x = load<f32>(src + (<usize>i << 2));
    lo = min(lo, x);
    hi = max(hi, x);
  }
  const inv: f32 = hi > lo ? <f32>127 / (hi - lo) : 0;
  const z = <i32>nearest(-lo * inv);
  store<i32>(zOut, z);
  const iv = f32x4.splat(inv), zv = i32x4.splat(z), q0 = i32x4.splat(0), q127 = i32x4.splat(127);
  i = 0;
  if (wide) {
    for (; i + 8 <= n; i += 8) {
      const x0 = i32x4.max_s(i32x4.min_s(i32x4.add(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(src + (<usize>i << 2)), iv))), zv), q127), q0);
      const x1 = i32x4.max_s(i32x4.min_s(i32x4.add(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(src + (<usize>i << 2), 16), iv))), zv), q127), q0);
      v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_s(i32x4.sub(x0, zv), i32x4.sub(x1, zv)));
    }
    for (; i < n; i++) store<i16>(dst + (<usize>i << 1), <i16>(max(0, min(127, <i32>nearest(load<f32>(src + (<usize>i << 2)) * inv) + z)) - z));
    for (; i < npad; i++) store<i16>(dst + (<usize>i << 1), 0);
  } else {
    for (; i + 16 <= n; i += 16) {
      const p = src + (<usize>i << 2);
      const x0 = i32x4.add(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p), iv))), zv);
      const x1 = i32x4.add(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 16), iv))), zv);
      const x2 = i32x4.add(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 32), iv))), zv);
      const x3 = i32x4.add(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 48), iv))), zv);
      // the unsigned narrowing clamps to 0..255; min 127 then keeps the codes in 0..127
      v128.store(dst + <usize>i, i8x16.min_u(i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(x0, x1), i16x8.narrow_i32x4_s(x2, x3)), i8x16.splat(127)));
    }
    for (; i < n; i++) store<u8>(dst + <usize>i, max(0, min(127, <i32>nearest(load<f32>(src + (<usize>i << 2)) * inv) + z)));
    for (; i < npad; i++) store<u8>(dst + <usize>i, 0);
  }
  return (hi - lo) / <f32>127;
}

// ---- GEMM (M > GEMV_MAX_M) ----------------------------------------------------------------------------
// Panels of k-pairs: A packed [MR rows][pair] as one i32 (two i16) per (pair, row), so a row's pair is one
// load32_splat; B packed [pair][NR columns] likewise, two vectors per pair. The 4×8 register tile of
// i32 accumulators is the f32 kernel's shape (matmul.ts), at 8 multiply-adds per instruction instead of 4.

// Packs rows [i0, i0+mc) × k-block [p0, p0+kc) of a (f32, M×K) into ap as kp 32-bit units per row
// (zero-padded), each row's block scale in sa. With quads (the relaxed build's GEMMs) four byte codes a unit:
// against q8 7-bit codes q, the rows' zero points in za (quantizeBlock7); against q4 8-bit symmetric codes,
// the rows' sums per group of 32 in za (QK/G4 per row: the code-8 offset's correction). Else two int16 a
// unit, q8's q − z or q4's codes.
function packAQ(ap: usize, sa: usize, za: usize, tmp: usize, a: usize, K: i32, i0: i32, mc: i32, p0: i32, kc: i32, kp: i32, bits: i32, quads: bool): void {
  // za entries per row (q8: the zero point; q4: a sum per group of the block) and how many this block fills
  const panels = (mc + MR - 1) / MR, gpr = QK / G4, zr = bits == 4 ? gpr : 1, zn = bits == 4 ? kp >> 3 : 1;
  for (let ir = 0; ir < panels * MR; ir++) {
    const d = ap + <usize>((ir / MR) * kp * MR + ir % MR) * 4;
    if (ir < mc) {
      const src = a + (<usize>(i0 + ir) * <usize>K + <usize>p0) * 4;
      let s: f32;
      if (quads && bits == 4) {
        s = quantizeBlock(tmp, src, kc, kp * 4, false);
        for (let g = 0; g < zn; g++) store<i32>(za + <usize>(ir * zr + g) * 4, byteSum32(tmp + <usize>(g * G4)));
      } else if (quads) s = quantizeBlock7(tmp, za + (<usize>ir << 2), src, kc, kp * 4, false);
      else s = bits == 8 ? quantizeBlock7(tmp, tmp + QK * 2, src, kc, kp * 2, true) : quantizeBlock(tmp, src, kc, kp * 2, true);
      store<f32>(sa + (<usize>ir << 2), s);
      for (let p = 0; p < kp; p++) store<i32>(d + <usize>(p * MR) * 4, load<i32>(tmp + (<usize>p << 2)));
    } else {
      store<f32>(sa + (<usize>ir << 2), 0);
      if (quads) for (let g = 0; g < zn; g++) store<i32>(za + <usize>(ir * zr + g) * 4, 0);
      for (let p = 0; p < kp; p++) store<i32>(d + <usize>(p * MR) * 4, 0);
    }
  }
}

/** Σ of 32 signed bytes */
@inline function byteSum32(x: usize): i32 {
  const s = i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.extadd_pairwise_i8x16_s(v128.load(x)), i16x8.extadd_pairwise_i8x16_s(v128.load(x, 16))));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3);
}

// Stores 4 pairs (k, k+1) of 4 columns — x_c holds column c's pairs p..p+3 as int16x8 — transposed into a
// packed panel at d (column j's slot): per pair, the 4 columns side by side.
@inline function storePairs4(d: usize, p: i32, x0: v128, x1: v128, x2: v128, x3: v128): void {
  const t0 = i32x4.shuffle(x0, x1, 0, 4, 1, 5), t1 = i32x4.shuffle(x0, x1, 2, 6, 3, 7);
  const t2 = i32x4.shuffle(x2, x3, 0, 4, 1, 5), t3 = i32x4.shuffle(x2, x3, 2, 6, 3, 7);
  const o = d + <usize>(p * NR) * 4;
  v128.store(o, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
  v128.store(o + NR * 4, i32x4.shuffle(t0, t2, 2, 3, 6, 7));
  v128.store(o + 2 * NR * 4, i32x4.shuffle(t1, t3, 0, 1, 4, 5));
  v128.store(o + 3 * NR * 4, i32x4.shuffle(t1, t3, 2, 3, 6, 7));
}

// Packs columns [j0, j0+nc) × k-block [p0, p0+kc) of W into bp (kp pairs, zero-padded) as int16 weights
// (q4: code - 8) and their f32 scales into bs: per panel, one NR-vector per group (q8: one group).
function packBQ(bp: usize, bs: usize, codes: usize, scales: usize, K: i32, bits: i32, p0: i32, kc: i32, kp: i32, j0: i32, nc: i32): void {
  const G = (K + G4 - 1) / G4, groups = bits == 4 ? kp / 16 : 1;
  for (let jr = 0; jr < nc; jr += NR) {
    const dst = bp + <usize>(jr * kp) * 4, sdst = bs + <usize>(jr * groups) * 4;
    let jv = 0;
    // four whole columns at a time: 16 codes of each loaded, widened and stored transposed
    for (; jv + 4 <= min(NR, nc - jr); jv += 4) {
      const col = j0 + jr + jv, d = dst + (<usize>jv << 2);
      if (bits == 8) {
        const s0 = codes + <usize>col * <usize>K + <usize>p0, s1 = s0 + <usize>K, s2 = s1 + <usize>K, s3 = s2 + <usize>K;
        let k = 0;
        for (; k + 16 <= kc; k += 16) {
          const w0 = v128.load(s0 + <usize>k), w1 = v128.load(s1 + <usize>k), w2 = v128.load(s2 + <usize>k), w3 = v128.load(s3 + <usize>k);
          storePairs4(d, k >> 1, i16x8.extend_low_i8x16_s(w0), i16x8.extend_low_i8x16_s(w1), i16x8.extend_low_i8x16_s(w2), i16x8.extend_low_i8x16_s(w3));
          storePairs4(d, (k >> 1) + 4, i16x8.extend_high_i8x16_s(w0), i16x8.extend_high_i8x16_s(w1), i16x8.extend_high_i8x16_s(w2), i16x8.extend_high_i8x16_s(w3));
        }
        for (let j = 0; j < 4; j++) {
          const src = codes + <usize>(col + j) * <usize>K + <usize>p0, dj = d + (<usize>j << 2);
          for (let p = k >> 1; p < kp; p++) {
            const kk = p << 1;
            const lo = <i32>load<i8>(src + <usize>kk), hi = kk + 1 < kc ? <i32>load<i8>(src + <usize>kk + 1) : 0;
            store<i32>(dj + <usize>(p * NR) * 4, (lo & 0xffff) | (hi << 16));
          }
          store<f32>(sdst + <usize>(jv + j) * 4, load<f32>(scales + (<usize>(col + j) << 2)));
        }
      } else {
        const eight = i8x16.splat(8), m = i8x16.splat(15);
        for (let g = 0; g < groups; g++) {
          const gi = p0 / G4 + g;
          const s0 = codes + (<usize>col * <usize>G + <usize>gi) * 16, s1 = s0 + <usize>G * 16, s2 = s1 + <usize>G * 16, s3 = s2 + <usize>G * 16;
          const w0 = v128.load(s0), w1 = v128.load(s1), w2 = v128.load(s2), w3 = v128.load(s3);
          // codes - 8 as int8: elements 0..15 of the group from the low nibbles, 16..31 from the high
          const l0 = i8x16.sub(v128.and(w0, m), eight), l1 = i8x16.sub(v128.and(w1, m), eight), l2 = i8x16.sub(v128.and(w2, m), eight), l3 = i8x16.sub(v128.and(w3, m), eight);
          const h0 = i8x16.sub(i8x16.shr_u(w0, 4), eight), h1 = i8x16.sub(i8x16.shr_u(w1, 4), eight), h2 = i8x16.sub(i8x16.shr_u(w2, 4), eight), h3 = i8x16.sub(i8x16.shr_u(w3, 4), eight);
          const p = g * 16;
          storePairs4(d, p, i16x8.extend_low_i8x16_s(l0), i16x8.extend_low_i8x16_s(l1), i16x8.extend_low_i8x16_s(l2), i16x8.extend_low_i8x16_s(l3));
          storePairs4(d, p + 4, i16x8.extend_high_i8x16_s(l0), i16x8.extend_high_i8x16_s(l1), i16x8.extend_high_i8x16_s(l2), i16x8.extend_high_i8x16_s(l3));
          storePairs4(d, p + 8, i16x8.extend_low_i8x16_s(h0), i16x8.extend_low_i8x16_s(h1), i16x8.extend_low_i8x16_s(h2), i16x8.extend_low_i8x16_s(h3));
          storePairs4(d, p + 12, i16x8.extend_high_i8x16_s(h0), i16x8.extend_high_i8x16_s(h1), i16x8.extend_high_i8x16_s(h2), i16x8.extend_high_i8x16_s(h3));
          const sc = scales + (<usize>col * <usize>G + <usize>gi) * 2, ls = <usize>G * 2;
          v128.store(sdst + <usize>(g * NR + jv) * 4, scales4(sc, sc + ls, sc + 2 * ls, sc + 3 * ls));
        }
      }
    }
    for (let j = jv; j < NR; j++) {
      const col = j0 + jr + j, d = dst + (<usize>j << 2);
      if (jr + j >= nc) {
        for (let p = 0; p < kp; p++) store<i32>(d + <usize>(p * NR) * 4, 0);
        for (let g = 0; g < groups; g++) store<f32>(sdst + <usize>(g * NR + j) * 4, 0);
        continue;
      }
      if (bits == 8) {
        const src = codes + <usize>col * <usize>K + <usize>p0;
        for (let p = 0; p < kp; p++) {
          const k = p << 1;
          const lo = <i32>load<i8>(src + <usize>k), hi = k + 1 < kc ? <i32>load<i8>(src + <usize>k + 1) : 0;
          store<i32>(d + <usize>(p * NR) * 4, (lo & 0xffff) | (hi << 16));
        }
        store<f32>(sdst + (<usize>j << 2), load<f32>(scales + (<usize>col << 2)));
      } else {
        for (let g = 0; g < groups; g++) {
          const gi = p0 / G4 + g, src = codes + (<usize>col * <usize>G + <usize>gi) * 16;
          for (let e = 0; e < G4; e += 2) {
            const b0 = <i32>load<u8>(src + <usize>(e & 15)), b1 = <i32>load<u8>(src + <usize>((e + 1) & 15));
            const lo = (e < 16 ? b0 & 15 : b0 >> 4) - 8, hi = (e + 1 < 16 ? b1 & 15 : b1 >> 4) - 8;
            store<i32>(d + <usize>((g * 16 + (e >> 1)) * NR) * 4, (lo & 0xffff) | (hi << 16));
          }
          store<f32>(sdst + <usize>(g * NR + j) * 4, halfToF32(load<u16>(scales + (<usize>col * <usize>G + <usize>gi) * 2)));
        }
      }
    }
  }
}

// An edge tile (rows < MR or cols < NR) runs the full-tile kernel on a copy: the valid part of out copied
// into tile (MR × NR, zeros elsewhere) and back, so its arithmetic is the same as a full tile's.
@inline function edgeIn(tile: usize, c: usize, N: i32, rows: i32, cols: i32): void {
  for (let r = 0; r < MR; r++) for (let j = 0; j < NR; j++) {
    store<f32>(tile + <usize>(r * NR + j) * 4, r < rows && j < cols ? load<f32>(c + (<usize>r * <usize>N + <usize>j) * 4) : 0);
  }
}
@inline function edgeOut(c: usize, tile: usize, N: i32, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) {
    store<f32>(c + (<usize>r * <usize>N + <usize>j) * 4, load<f32>(tile + <usize>(r * NR + j) * 4));
  }
}

// c (MR rows of ldc floats) += the tile's products, group by group (gp pairs each): for each group,
// i32 sums over its pairs, then c += f32(sum) · (sa[r] · bs[g][j]).
@inline function kernelQ(ap: usize, bp: usize, c: usize, ldc: usize, sa: usize, bs: usize, kp: i32, gp: i32): void {
  const r1 = c + ldc * 4, r2 = r1 + ldc * 4, r3 = r2 + ldc * 4;
  const sa0 = f32x4.splat(load<f32>(sa)), sa1 = f32x4.splat(load<f32>(sa, 4)), sa2 = f32x4.splat(load<f32>(sa, 8)), sa3 = f32x4.splat(load<f32>(sa, 12));
  for (let g0 = 0; g0 < kp; g0 += gp) {
    let c00 = i32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    for (let k = 0; k < gp; k++) {
      const b0 = v128.load(bp), b1 = v128.load(bp, 16);
      let a = v128.load32_splat(ap);
      c00 = i32x4.add(c00, i32x4.dot_i16x8_s(a, b0)); c01 = i32x4.add(c01, i32x4.dot_i16x8_s(a, b1));
      a = v128.load32_splat(ap, 4);
      c10 = i32x4.add(c10, i32x4.dot_i16x8_s(a, b0)); c11 = i32x4.add(c11, i32x4.dot_i16x8_s(a, b1));
      a = v128.load32_splat(ap, 8);
      c20 = i32x4.add(c20, i32x4.dot_i16x8_s(a, b0)); c21 = i32x4.add(c21, i32x4.dot_i16x8_s(a, b1));
      a = v128.load32_splat(ap, 12);
      c30 = i32x4.add(c30, i32x4.dot_i16x8_s(a, b0)); c31 = i32x4.add(c31, i32x4.dot_i16x8_s(a, b1));
      ap += MR * 4;
      bp += NR * 4;
    }
    const s0 = v128.load(bs), s1 = v128.load(bs, 16);
    bs += NR * 4;
    v128.store(c, madd(f32x4.convert_i32x4_s(c00), f32x4.mul(s0, sa0), v128.load(c)));
    v128.store(c, madd(f32x4.convert_i32x4_s(c01), f32x4.mul(s1, sa0), v128.load(c, 16)), 16);
    v128.store(r1, madd(f32x4.convert_i32x4_s(c10), f32x4.mul(s0, sa1), v128.load(r1)));
    v128.store(r1, madd(f32x4.convert_i32x4_s(c11), f32x4.mul(s1, sa1), v128.load(r1, 16)), 16);
    v128.store(r2, madd(f32x4.convert_i32x4_s(c20), f32x4.mul(s0, sa2), v128.load(r2)));
    v128.store(r2, madd(f32x4.convert_i32x4_s(c21), f32x4.mul(s1, sa2), v128.load(r2, 16)), 16);
    v128.store(r3, madd(f32x4.convert_i32x4_s(c30), f32x4.mul(s0, sa3), v128.load(r3)));
    v128.store(r3, madd(f32x4.convert_i32x4_s(c31), f32x4.mul(s1, sa3), v128.load(r3, 16)), 16);
  }
}

// scratch of one thread for the GEMM
const BP_BYTES = QK * NC * 2, BS_BYTES = (QK / G4) * NC * 4, AP_BYTES = MB * QK * 2, SA_BYTES = MB * 4, TMP_BYTES = QK * 2 + 16, TILE_BYTES = MR * NR * 4;

// Loop order: a block of rows × K-block of a is quantized and packed once, then every column block of
// B's K-block is packed and multiplied against it; a B micro-panel (kp × NR) stays in L1 across the rows.
function gemmQ(out: usize, a: usize, codes: usize, scales: usize, M: i32, K: i32, N: i32, bits: i32, m0: i32, m1: i32, n0: i32, n1: i32, scratch: usize): void {
  const bp = scratch, bs = bp + BP_BYTES, ap = bs + BS_BYTES, sa = ap + AP_BYTES, tmp = sa + SA_BYTES, tile = tmp + TMP_BYTES;
  for (let ic = m0; ic < m1; ic += MB) {
    const mc = min(MB, m1 - ic);
    for (let pc = 0; pc < K; pc += QK) {
      const kc = min(QK, K - pc);
      const kp = bits == 4 ? ((kc + G4 - 1) / G4) * 16 : (kc + 1) >> 1, gp = bits == 4 ? 16 : kp, groups = kp / gp;
      packAQ(ap, sa, 0, tmp, a, K, ic, mc, pc, kc, kp, bits, false);
      for (let jc = n0; jc < n1; jc += NC) {
        const nc = min(NC, n1 - jc);
        packBQ(bp, bs, codes, scales, K, bits, pc, kc, kp, jc, nc);
        for (let jr = 0; jr < nc; jr += NR) {
          const cols = min(NR, nc - jr);
          const bpp = bp + <usize>(jr * kp) * 4, bsp = bs + <usize>(jr * groups) * 4;
          for (let ir = 0; ir < mc; ir += MR) {
            const rows = min(MR, mc - ir);
            const c = out + (<usize>(ic + ir) * <usize>N + <usize>(jc + jr)) * 4;
            const app = ap + <usize>(ir * kp) * 4, sap = sa + (<usize>ir << 2);
            if (rows == MR && cols == NR) {
              kernelQ(app, bpp, c, <usize>N, sap, bsp, kp, gp);
            } else {
              edgeIn(tile, c, N, rows, cols);
              kernelQ(app, bpp, tile, NR, sap, bsp, kp, gp);
              edgeOut(c, tile, N, rows, cols);
            }
          }
        }
      }
    }
  }
}

// ---- q8 GEMM on the relaxed build ---------------------------------------------------------------------
// The same loop order and tile as gemmQ with four k per 32-bit unit instead of two: A packed
// [quad][MR rows] as one u32 (4 codes q) per (quad, row), B packed [quad][NR columns] (4 int8 codes each,
// two vectors per quad), and per column the sum of its codes over the block (for the zero points).

// Packs columns [j0, j0+nc) × k-block [p0, p0+kc) of the q8 codes into bp (kq quads, zero-padded), their
// scales into bs and their code sums over the block (from wsums) into cs (NR per panel each).
function packBQ8(bp: usize, bs: usize, cs: usize, codes: usize, scales: usize, wsums: usize, K: i32, p0: i32, kc: i32, kq: i32, j0: i32, nc: i32): void {
  const nb = (K + QK - 1) / QK, blk = p0 / QK;
  for (let jr = 0; jr < nc; jr += NR) {
    const dst = bp + <usize>(jr * kq) * 4;
    let jv = 0;
    // four whole columns at a time: 16 codes (4 quads) of each loaded and stored transposed by quads
    for (; jv + 4 <= min(NR, nc - jr); jv += 4) {
      const col = j0 + jr + jv, d = dst + (<usize>jv << 2);
      const s0 = codes + <usize>col * <usize>K + <usize>p0, s1 = s0 + <usize>K, s2 = s1 + <usize>K, s3 = s2 + <usize>K;
      let k = 0;
      for (; k + 16 <= kc; k += 16) storePairs4(d, k >> 2, v128.load(s0 + <usize>k), v128.load(s1 + <usize>k), v128.load(s2 + <usize>k), v128.load(s3 + <usize>k));
      for (let j = 0; j < 4; j++) packQuads(d + (<usize>j << 2), codes + <usize>(col + j) * <usize>K + <usize>p0, k >> 2, kq, kc);
    }
    for (let j = jv; j < NR; j++) {
      const d = dst + (<usize>j << 2);
      if (jr + j < nc) packQuads(d, codes + <usize>(j0 + jr + j) * <usize>K + <usize>p0, 0, kq, kc);
      else for (let q = 0; q < kq; q++) store<i32>(d + <usize>(q * NR) * 4, 0);
    }
    for (let j = 0; j < NR; j++) {
      const col = j0 + jr + j, valid = jr + j < nc;
      store<i32>(cs + <usize>(jr + j) * 4, valid ? load<i32>(wsums + (<usize>col * <usize>nb + <usize>blk) * 4) : 0);
      store<f32>(bs + <usize>(jr + j) * 4, valid ? load<f32>(scales + (<usize>col << 2)) : 0);
    }
  }
}

// One column's quads q0..kq of a packed panel (column slot at d): 4 codes each from src, zero past kc.
@inline function packQuads(d: usize, src: usize, q0: i32, kq: i32, kc: i32): void {
  for (let q = q0; q < kq; q++) {
    let u = 0;
    for (let e = 0; e < 4; e++) {
      const kk = q * 4 + e;
      if (kk < kc) u |= (<i32>load<u8>(src + <usize>kk)) << (8 * e);
    }
    store<i32>(d + <usize>(q * NR) * 4, u);
  }
}

/**
 * Σ over the quad of a's 4 codes (unsigned, ≤ 127) times b's 4 int8 codes, per lane, added to acc. The pairs
 * are summed by dot_i16x8_s with a vector of ones the caller keeps in a register: V8 lowers
 * extadd_pairwise_i16x8_s to the same pmaddwd but reads its ones from memory (bench/quant.ts: about 1.1×).
 */
@inline function dot4(b: v128, a: v128, acc: v128, ones: v128): v128 {
  return i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(b, a), ones));
}

// c (MR rows of ldc floats) += the tile's products over kq quads: i32 sums Σ w·q, less z·Σw, then the
// same f32 epilogue as kernelQ: c += f32(Σ w·(q − z)) · (s_w · s_a).
@inline function kernelQ8(ap: usize, bp: usize, c: usize, ldc: usize, sa: usize, za: usize, bs: usize, cs: usize, kq: i32): void {
  let c00 = i32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  const ones = i16x8.splat(1);
  for (let k = 0; k < kq; k++) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = dot4(b0, a, c00, ones); c01 = dot4(b1, a, c01, ones);
    a = v128.load32_splat(ap, 4);
    c10 = dot4(b0, a, c10, ones); c11 = dot4(b1, a, c11, ones);
    a = v128.load32_splat(ap, 8);
    c20 = dot4(b0, a, c20, ones); c21 = dot4(b1, a, c21, ones);
    a = v128.load32_splat(ap, 12);
    c30 = dot4(b0, a, c30, ones); c31 = dot4(b1, a, c31, ones);
    ap += MR * 4;
    bp += NR * 4;
  }
  const n0 = v128.load(cs), n1 = v128.load(cs, 16), s0 = v128.load(bs), s1 = v128.load(bs, 16);
  const r1 = c + ldc * 4, r2 = r1 + ldc * 4, r3 = r2 + ldc * 4;
  let z = i32x4.splat(load<i32>(za)), sr = f32x4.splat(load<f32>(sa));
  v128.store(c, madd(f32x4.convert_i32x4_s(i32x4.sub(c00, i32x4.mul(n0, z))), f32x4.mul(s0, sr), v128.load(c)));
  v128.store(c, madd(f32x4.convert_i32x4_s(i32x4.sub(c01, i32x4.mul(n1, z))), f32x4.mul(s1, sr), v128.load(c, 16)), 16);
  z = i32x4.splat(load<i32>(za, 4)); sr = f32x4.splat(load<f32>(sa, 4));
  v128.store(r1, madd(f32x4.convert_i32x4_s(i32x4.sub(c10, i32x4.mul(n0, z))), f32x4.mul(s0, sr), v128.load(r1)));
  v128.store(r1, madd(f32x4.convert_i32x4_s(i32x4.sub(c11, i32x4.mul(n1, z))), f32x4.mul(s1, sr), v128.load(r1, 16)), 16);
  z = i32x4.splat(load<i32>(za, 8)); sr = f32x4.splat(load<f32>(sa, 8));
  v128.store(r2, madd(f32x4.convert_i32x4_s(i32x4.sub(c20, i32x4.mul(n0, z))), f32x4.mul(s0, sr), v128.load(r2)));
  v128.store(r2, madd(f32x4.convert_i32x4_s(i32x4.sub(c21, i32x4.mul(n1, z))), f32x4.mul(s1, sr), v128.load(r2, 16)), 16);
  z = i32x4.splat(load<i32>(za, 12)); sr = f32x4.splat(load<f32>(sa, 12));
  v128.store(r3, madd(f32x4.convert_i32x4_s(i32x4.sub(c30, i32x4.mul(n0, z))), f32x4.mul(s0, sr), v128.load(r3)));
  v128.store(r3, madd(f32x4.convert_i32x4_s(i32x4.sub(c31, i32x4.mul(n1, z))), f32x4.mul(s1, sr), v128.load(r3, 16)), 16);
}

// q4 on the relaxed build: the codes (0..15) as bytes in quads, the 7-bit operand, against the activations'
// 8-bit symmetric codes. Packs columns [j0, j0+nc) × k-block [p0, p0+kc) into bp (kq quads: 8 per group)
// and the groups' scales into bs (per panel, one NR-vector per group, as packBQ).
function packBQ4(bp: usize, bs: usize, codes: usize, scales: usize, K: i32, p0: i32, kq: i32, j0: i32, nc: i32): void {
  const G = (K + G4 - 1) / G4, groups = kq >> 3, m = i8x16.splat(15);
  for (let jr = 0; jr < nc; jr += NR) {
    const dst = bp + <usize>(jr * kq) * 4, sdst = bs + <usize>(jr * groups) * 4;
    let jv = 0;
    // four whole columns at a time: a group's 16 bytes of each, low nibbles (elements 0..15) then high
    for (; jv + 4 <= min(NR, nc - jr); jv += 4) {
      const col = j0 + jr + jv, d = dst + (<usize>jv << 2);
      for (let g = 0; g < groups; g++) {
        const gi = p0 / G4 + g;
        const s0 = codes + (<usize>col * <usize>G + <usize>gi) * 16, s1 = s0 + <usize>G * 16, s2 = s1 + <usize>G * 16, s3 = s2 + <usize>G * 16;
        const w0 = v128.load(s0), w1 = v128.load(s1), w2 = v128.load(s2), w3 = v128.load(s3);
        storePairs4(d, g * 8, v128.and(w0, m), v128.and(w1, m), v128.and(w2, m), v128.and(w3, m));
        storePairs4(d, g * 8 + 4, i8x16.shr_u(w0, 4), i8x16.shr_u(w1, 4), i8x16.shr_u(w2, 4), i8x16.shr_u(w3, 4));
        const sc = scales + (<usize>col * <usize>G + <usize>gi) * 2, ls = <usize>G * 2;
        v128.store(sdst + <usize>(g * NR + jv) * 4, scales4(sc, sc + ls, sc + 2 * ls, sc + 3 * ls));
      }
    }
    for (let j = jv; j < NR; j++) {
      const col = j0 + jr + j, d = dst + (<usize>j << 2);
      for (let g = 0; g < groups; g++) {
        const src = codes + (<usize>col * <usize>G + <usize>(p0 / G4 + g)) * 16;
        for (let q = 0; q < 8; q++) {
          let u = 0;
          if (jr + j < nc) for (let e = 0; e < 4; e++) {
            const b = <i32>load<u8>(src + <usize>((q * 4 + e) & 15));
            u |= (q < 4 ? b & 15 : b >> 4) << (8 * e);
          }
          store<i32>(d + <usize>((g * 8 + q) * NR) * 4, u);
        }
        store<f32>(sdst + <usize>(g * NR + j) * 4, jr + j < nc ? halfToF32(load<u16>(scales + (<usize>col * <usize>G + <usize>(p0 / G4 + g)) * 2)) : 0);
      }
    }
  }
}

// c (MR rows of ldc floats) += the tile's products over `groups` groups of 8 quads, kernelQ's arithmetic on
// the same integers: per group Σ x·code, less 8·Σx (xs: each row's sums per group), c += f32(sum)·(s_w·s_a).
// Within a group the pair sums add in int16 (8 quads: |sum| ≤ 8·2·127·15 < 2^15), widened once by ones.
@inline function kernelQ4(ap: usize, bp: usize, c: usize, ldc: usize, sa: usize, xs: usize, bs: usize, groups: i32): void {
  const r1 = c + ldc * 4, r2 = r1 + ldc * 4, r3 = r2 + ldc * 4, ones = i16x8.splat(1), gpr = QK / G4;
  const sa0 = f32x4.splat(load<f32>(sa)), sa1 = f32x4.splat(load<f32>(sa, 4)), sa2 = f32x4.splat(load<f32>(sa, 8)), sa3 = f32x4.splat(load<f32>(sa, 12));
  for (let g = 0; g < groups; g++) {
    let c00 = i16x8.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    for (let k = 0; k < 8; k++) {
      const b0 = v128.load(bp), b1 = v128.load(bp, 16);
      let a = v128.load32_splat(ap);
      c00 = i16x8.add(c00, i16x8.relaxed_dot_i8x16_i7x16_s(a, b0)); c01 = i16x8.add(c01, i16x8.relaxed_dot_i8x16_i7x16_s(a, b1));
      a = v128.load32_splat(ap, 4);
      c10 = i16x8.add(c10, i16x8.relaxed_dot_i8x16_i7x16_s(a, b0)); c11 = i16x8.add(c11, i16x8.relaxed_dot_i8x16_i7x16_s(a, b1));
      a = v128.load32_splat(ap, 8);
      c20 = i16x8.add(c20, i16x8.relaxed_dot_i8x16_i7x16_s(a, b0)); c21 = i16x8.add(c21, i16x8.relaxed_dot_i8x16_i7x16_s(a, b1));
      a = v128.load32_splat(ap, 12);
      c30 = i16x8.add(c30, i16x8.relaxed_dot_i8x16_i7x16_s(a, b0)); c31 = i16x8.add(c31, i16x8.relaxed_dot_i8x16_i7x16_s(a, b1));
      ap += MR * 4;
      bp += NR * 4;
    }
    const s0 = v128.load(bs), s1 = v128.load(bs, 16);
    bs += NR * 4;
    let x = i32x4.splat(load<i32>(xs + <usize>g * 4) << 3);
    v128.store(c, madd(f32x4.convert_i32x4_s(i32x4.sub(i32x4.dot_i16x8_s(c00, ones), x)), f32x4.mul(s0, sa0), v128.load(c)));
    v128.store(c, madd(f32x4.convert_i32x4_s(i32x4.sub(i32x4.dot_i16x8_s(c01, ones), x)), f32x4.mul(s1, sa0), v128.load(c, 16)), 16);
    x = i32x4.splat(load<i32>(xs + <usize>(gpr + g) * 4) << 3);
    v128.store(r1, madd(f32x4.convert_i32x4_s(i32x4.sub(i32x4.dot_i16x8_s(c10, ones), x)), f32x4.mul(s0, sa1), v128.load(r1)));
    v128.store(r1, madd(f32x4.convert_i32x4_s(i32x4.sub(i32x4.dot_i16x8_s(c11, ones), x)), f32x4.mul(s1, sa1), v128.load(r1, 16)), 16);
    x = i32x4.splat(load<i32>(xs + <usize>(2 * gpr + g) * 4) << 3);
    v128.store(r2, madd(f32x4.convert_i32x4_s(i32x4.sub(i32x4.dot_i16x8_s(c20, ones), x)), f32x4.mul(s0, sa2), v128.load(r2)));
    v128.store(r2, madd(f32x4.convert_i32x4_s(i32x4.sub(i32x4.dot_i16x8_s(c21, ones), x)), f32x4.mul(s1, sa2), v128.load(r2, 16)), 16);
    x = i32x4.splat(load<i32>(xs + <usize>(3 * gpr + g) * 4) << 3);
    v128.store(r3, madd(f32x4.convert_i32x4_s(i32x4.sub(i32x4.dot_i16x8_s(c30, ones), x)), f32x4.mul(s0, sa3), v128.load(r3)));
    v128.store(r3, madd(f32x4.convert_i32x4_s(i32x4.sub(i32x4.dot_i16x8_s(c31, ones), x)), f32x4.mul(s1, sa3), v128.load(r3, 16)), 16);
  }
}

// The relaxed build's GEMM for q8 and q4: gemmQ's loop order on quads. za holds q8's zero points (one per
// row) or q4's activation sums (QK/G4 per row); bs q8's scales (one per column) or q4's (per group).
// Inlined into gemmQ8r and gemmQ4r with bits a constant, so each gets its own loop nest with one kernel: one
// function with both kernels behind a branch in the inner loop ran q8 6–9% slower (bench/quant.ts shapes).
@inline function gemmQuads(out: usize, a: usize, codes: usize, scales: usize, wsums: usize, M: i32, K: i32, N: i32, bits: i32, m0: i32, m1: i32, n0: i32, n1: i32, scratch: usize): void {
  const gpr = QK / G4, zr = bits == 4 ? gpr : 1;
  const bp = scratch, bs = bp + QK * NC, cs = bs + gpr * NC * 4, ap = cs + NC * 4, sa = ap + MB * QK, za = sa + MB * 4, tmp = za + MB * gpr * 4, tile = tmp + QK;
  for (let ic = m0; ic < m1; ic += MB) {
    const mc = min(MB, m1 - ic);
    for (let pc = 0; pc < K; pc += QK) {
      const kc = min(QK, K - pc), kq = bits == 4 ? ((kc + G4 - 1) / G4) * 8 : (kc + 3) >> 2, groups = kq >> 3;
      packAQ(ap, sa, za, tmp, a, K, ic, mc, pc, kc, kq, bits, true);
      for (let jc = n0; jc < n1; jc += NC) {
        const nc = min(NC, n1 - jc);
        if (bits == 4) packBQ4(bp, bs, codes, scales, K, pc, kq, jc, nc);
        else packBQ8(bp, bs, cs, codes, scales, wsums, K, pc, kc, kq, jc, nc);
        for (let jr = 0; jr < nc; jr += NR) {
          const cols = min(NR, nc - jr);
          const bpp = bp + <usize>(jr * kq) * 4, bsp = bs + <usize>(jr * (bits == 4 ? groups : 1)) * 4, csp = cs + <usize>jr * 4;
          for (let ir = 0; ir < mc; ir += MR) {
            const rows = min(MR, mc - ir);
            const c = out + (<usize>(ic + ir) * <usize>N + <usize>(jc + jr)) * 4;
            const app = ap + <usize>(ir * kq) * 4, sap = sa + (<usize>ir << 2), zap = za + <usize>(ir * zr) * 4;
            const full = rows == MR && cols == NR, cc = full ? c : tile, ldc = full ? <usize>N : NR;
            if (!full) edgeIn(tile, c, N, rows, cols);
            if (bits == 4) kernelQ4(app, bpp, cc, ldc, sap, zap, bsp, groups);
            else kernelQ8(app, bpp, cc, ldc, sap, zap, bsp, csp, kq);
            if (!full) edgeOut(c, tile, N, rows, cols);
          }
        }
      }
    }
  }
}

function gemmQ8r(out: usize, a: usize, codes: usize, scales: usize, wsums: usize, M: i32, K: i32, N: i32, m0: i32, m1: i32, n0: i32, n1: i32, scratch: usize): void {
  gemmQuads(out, a, codes, scales, wsums, M, K, N, 8, m0, m1, n0, n1, scratch);
}
function gemmQ4r(out: usize, a: usize, codes: usize, scales: usize, M: i32, K: i32, N: i32, m0: i32, m1: i32, n0: i32, n1: i32, scratch: usize): void {
  gemmQuads(out, a, codes, scales, 0, M, K, N, 4, m0, m1, n0, n1, scratch);
}

// ---- matrix-vector path (M <= GEMV_MAX_M: decode, last-position logits) ---------------------------------
// Each row of a is quantized once (per thread: it is small) into int16 blocks; W is streamed in its stored
// layout, four output columns at a time, the i32 partial sums of a column reduced across lanes per block
// (q8) or group (q4) and added into out with the GEMM's epilogue arithmetic.

/**
 * writes M rows of a (row stride Kp, a multiple of 32, zero-padded) and their block scales: as bytes in the
 * relaxed build, int16 in SIMD128; q8's 7-bit codes q (int16: q − z) with the zero points at za, q4's
 * 8-bit codes
 */
function quantizeRows(act: usize, sa: usize, za: usize, a: usize, M: i32, K: i32, Kp: i32, bits: i32): void {
  const nb = (K + QK - 1) / QK, narrow = ASC_FEATURE_RELAXED_SIMD;
  for (let m = 0; m < M; m++) {
    for (let b = 0; b < nb; b++) {
      const p0 = b * QK, kc = min(QK, K - p0), pad = b == nb - 1 ? Kp - p0 : kc;
      const dst = act + (<usize>(m * Kp + p0) << (narrow ? 0 : 1)), src = a + (<usize>m * <usize>K + <usize>p0) * 4, z = za + <usize>(m * nb + b) * 4;
      store<f32>(sa + <usize>(m * nb + b) * 4, bits == 8 ? quantizeBlock7(dst, z, src, kc, pad, !narrow) : quantizeBlock(dst, src, kc, pad, !narrow));
    }
  }
}

// out[m][n..n+4) += f32(sums) · (s_w(4 columns) · s_a); with fewer than 4 valid columns the same vector
// arithmetic runs on a copy in tmp (16 bytes) and only the valid lanes go back
@inline function epilogue4(o: usize, sums: v128, sw: v128, sa: f32, valid: i32, tmp: usize): void {
  if (valid == 4) {
    v128.store(o, madd(f32x4.convert_i32x4_s(sums), f32x4.mul(sw, f32x4.splat(sa)), v128.load(o)));
    return;
  }
  v128.store(tmp, f32x4.splat(0));
  for (let j = 0; j < valid; j++) store<f32>(tmp + (<usize>j << 2), load<f32>(o + (<usize>j << 2)));
  v128.store(tmp, madd(f32x4.convert_i32x4_s(sums), f32x4.mul(sw, f32x4.splat(sa)), v128.load(tmp)));
  for (let j = 0; j < valid; j++) store<f32>(o + (<usize>j << 2), load<f32>(tmp + (<usize>j << 2)));
}

// Each column's row of W is read whole before the next one's, and the four rows of a group lie side by
// side in memory, so W streams past in one sequential pass (interleaving four rows' reads defeated the
// hardware prefetcher: measured about 3× slower once W no longer fits the cache). The i32 sums of the
// four columns wait in `sums` (nb blocks × 4) for the vector epilogue, block by block as the GEMM adds them.
function gemvQ8(out: usize, act: usize, sa: usize, za: usize, sums: usize, tmp: usize, codes: usize, scales: usize, wsums: usize, M: i32, K: i32, Kp: i32, N: i32, n0: i32, n1: i32): void {
  const nb = (K + QK - 1) / QK, ones = i16x8.splat(1);
  for (let n = n0; n < n1; n += 4) {
    const valid = min(4, n1 - n);
    let sw = f32x4.splat(load<f32>(scales + (<usize>n << 2)));
    sw = f32x4.replace_lane(sw, 1, load<f32>(scales + (<usize>min(n + 1, n1 - 1) << 2)));
    sw = f32x4.replace_lane(sw, 2, load<f32>(scales + (<usize>min(n + 2, n1 - 1) << 2)));
    sw = f32x4.replace_lane(sw, 3, load<f32>(scales + (<usize>min(n + 3, n1 - 1) << 2)));
    for (let m = 0; m < M; m++) {
      const o = out + (<usize>m * <usize>N + <usize>n) * 4;
      for (let c = 0; c < 4; c++) {
        // columns past the end repeat the last one: computed, not stored
        const col = min(n + c, n1 - 1), row = codes + <usize>col * <usize>K;
        for (let b = 0; b < nb; b++) {
          let a0 = i32x4.splat(0), a1 = a0;
          const ke = min(K, (b + 1) * QK);
          // 16 codes a step; past K the activations are zero, so whatever the loads read past a row adds 0
          if (ASC_FEATURE_RELAXED_SIMD) {
            // Σ w·q, then less z·Σw: the GEMM's integers (kernelQ8)
            const x = act + <usize>(m * Kp);
            // two accumulators, 32 codes a step: 1.05–1.13× one (bench/gemv-stream.ts)
            let k = b * QK;
            for (; k + 32 <= ke; k += 32) {
              a0 = i32x4.add(a0, i32x4.dot_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(row + <usize>k), v128.load(x + <usize>k)), ones));
              a1 = i32x4.add(a1, i32x4.dot_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(row + <usize>k, 16), v128.load(x + <usize>k, 16)), ones));
            }
            for (; k < ke; k += 16) a0 = i32x4.add(a0, i32x4.dot_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(row + <usize>k), v128.load(x + <usize>k)), ones));
          } else {
            const x = act + (<usize>(m * Kp) << 1);
            for (let k = b * QK; k < ke; k += 16) {
              const w = v128.load(row + <usize>k);
              a0 = i32x4.add(a0, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w), v128.load(x + (<usize>k << 1))));
              a1 = i32x4.add(a1, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w), v128.load(x + (<usize>k << 1), 16)));
            }
          }
          const t = i32x4.add(a0, a1);
          let sum = i32x4.extract_lane(t, 0) + i32x4.extract_lane(t, 1) + i32x4.extract_lane(t, 2) + i32x4.extract_lane(t, 3);
          if (ASC_FEATURE_RELAXED_SIMD) sum -= load<i32>(za + <usize>(m * nb + b) * 4) * load<i32>(wsums + (<usize>col * <usize>nb + <usize>b) * 4);
          store<i32>(sums + <usize>(b * 4 + c) * 4, sum);
        }
      }
      for (let b = 0; b < nb; b++) epilogue4(o, v128.load(sums + <usize>(b * 16)), sw, load<f32>(sa + <usize>(m * nb + b) * 4), valid, tmp);
    }
  }
}

/** q4: one group (16 bytes = 32 codes) of a row against the group's activations x0..x3 (bytes in the relaxed build: x0, x1; else int16): i32 partial sums of Σ x·code */
@inline function group4(w: v128, x0: v128, x1: v128, x2: v128, x3: v128, ones: v128): v128 {
  const lo = v128.and(w, i8x16.splat(15)), hi = i8x16.shr_u(w, 4);
  if (ASC_FEATURE_RELAXED_SIMD) {
    // the activations (bytes, -127..127) against the codes (0..15: the 7-bit operand), 4 products at once;
    // the two halves' pair sums (|each| ≤ 2·127·15) add in int16 before one widening dot by ones
    return i32x4.dot_i16x8_s(i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(x0, lo), i16x8.relaxed_dot_i8x16_i7x16_s(x1, hi)), ones);
  }
  const l = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(lo), x0), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(lo), x1));
  return i32x4.add(l, i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(hi), x2), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(hi), x3)));
}

// Four columns at a time, as gemvQ8; per group, the activations are loaded once for the four, and the four
// outputs stay in a register across the groups (c += f32(Σ) · (s_w · s_a) in group order: the GEMM's
// arithmetic, so the same bits), stored once at the end — through memory, each group's add had waited on
// the previous group's store.
function gemvQ4(out: usize, act: usize, sa: usize, xs: usize, tmp: usize, codes: usize, scales: usize, M: i32, K: i32, Kp: i32, N: i32, n0: i32, n1: i32): void {
  const nb = (K + QK - 1) / QK, G = (K + G4 - 1) / G4, ldw = <usize>G * 16, lds = <usize>G * 2, ones = i16x8.splat(1), xb = ASC_FEATURE_RELAXED_SIMD ? 0 : 1;
  for (let n = n0; n < n1; n += 4) {
    const valid = min(4, n1 - n);
    const c0 = n, c1 = min(n + 1, n1 - 1), c2 = min(n + 2, n1 - 1), c3 = min(n + 3, n1 - 1);
    const w0 = codes + <usize>c0 * ldw, w1 = codes + <usize>c1 * ldw, w2 = codes + <usize>c2 * ldw, w3 = codes + <usize>c3 * ldw;
    const s0 = scales + <usize>c0 * lds, s1 = scales + <usize>c1 * lds, s2 = scales + <usize>c2 * lds, s3 = scales + <usize>c3 * lds;
    for (let m = 0; m < M; m++) {
      const x = act + (<usize>(m * Kp) << xb), o = out + (<usize>m * <usize>N + <usize>n) * 4;
      // columns past the end repeat the last one: computed, never stored
      let acc: v128;
      if (valid == 4) acc = v128.load(o);
      else {
        v128.store(tmp, f32x4.splat(0));
        for (let j = 0; j < valid; j++) store<f32>(tmp + (<usize>j << 2), load<f32>(o + (<usize>j << 2)));
        acc = v128.load(tmp);
      }
      for (let g = 0; g < G; g++) {
        const xg = x + (<usize>(g * G4) << xb), go = <usize>g * 16;
        const x0 = v128.load(xg), x1 = v128.load(xg, 16);
        let x2 = x0, x3 = x1;
        if (!ASC_FEATURE_RELAXED_SIMD) {
          x2 = v128.load(xg, 32);
          x3 = v128.load(xg, 48);
        }
        const p0 = group4(v128.load(w0 + go), x0, x1, x2, x3, ones), p1 = group4(v128.load(w1 + go), x0, x1, x2, x3, ones);
        const p2 = group4(v128.load(w2 + go), x0, x1, x2, x3, ones), p3 = group4(v128.load(w3 + go), x0, x1, x2, x3, ones);
        const sums = i32x4.sub(sum4(p0, p1, p2, p3),
          i32x4.splat(load<i32>(xs + <usize>(m * G + g) * 4) << 3)); // Σ x·(code - 8) = Σ x·code - 8·Σ x
        const gs = <usize>g << 1;
        acc = madd(f32x4.convert_i32x4_s(sums), f32x4.mul(scales4(s0 + gs, s1 + gs, s2 + gs, s3 + gs), f32x4.splat(load<f32>(sa + <usize>(m * nb + (g * G4) / QK) * 4))), acc);
      }
      if (valid == 4) v128.store(o, acc);
      else {
        v128.store(tmp, acc);
        for (let j = 0; j < valid; j++) store<f32>(o + (<usize>j << 2), load<f32>(tmp + (<usize>j << 2)));
      }
    }
  }
}

/** q4: Σ of each row's activation codes per group of 32 (the code-8 offset's correction) */
function groupSums(xs: usize, act: usize, M: i32, K: i32, Kp: i32): void {
  const G = (K + G4 - 1) / G4;
  for (let m = 0; m < M; m++) for (let g = 0; g < G; g++) {
    if (ASC_FEATURE_RELAXED_SIMD) {
      store<i32>(xs + <usize>(m * G + g) * 4, byteSum32(act + <usize>(m * Kp + g * G4))); // bytes
      continue;
    }
    const x = act + (<usize>(m * Kp + g * G4) << 1), ones = i16x8.splat(1);
    let s = i32x4.dot_i16x8_s(v128.load(x), ones);
    s = i32x4.add(s, i32x4.dot_i16x8_s(v128.load(x, 16), ones));
    s = i32x4.add(s, i32x4.dot_i16x8_s(v128.load(x, 32), ones));
    s = i32x4.add(s, i32x4.dot_i16x8_s(v128.load(x, 48), ones));
    store<i32>(xs + <usize>(m * G + g) * 4, i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3));
  }
}

/** wsums(rows, nb) = Σ of each row's q8 codes per block of QK along K: the zero points' correction z·Σw */
export function q8BlockSums(codes: usize, wsums: usize, rows: i32, K: i32, tid: i32, nth: i32): void {
  const nb = (K + QK - 1) / QK, r1 = part(rows, tid + 1, nth);
  for (let r = part(rows, tid, nth); r < r1; r++) {
    const row = codes + <usize>r * <usize>K;
    for (let b = 0; b < nb; b++) {
      const ke = min(K, (b + 1) * QK);
      let acc = i32x4.splat(0), k = b * QK;
      for (; k + 16 <= ke; k += 16) acc = i32x4.add(acc, i32x4.extadd_pairwise_i16x8_s(i16x8.extadd_pairwise_i8x16_s(v128.load(row + <usize>k))));
      let sum = i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3);
      for (; k < ke; k++) sum += <i32>load<i8>(row + <usize>k);
      store<i32>(wsums + (<usize>r * <usize>nb + <usize>b) * 4, sum);
    }
  }
}

// ---- the op -----------------------------------------------------------------------------------------

/** bytes of per-thread scratch matmulQ needs for a K (the GEMM's packed blocks, or the quantized rows) */
export function matmulQScratchBytes(K: i32): i32 {
  const Kp = ((K + G4 - 1) / G4) * G4, nb = (K + QK - 1) / QK, G = Kp / G4;
  const gemv = GEMV_MAX_M * (Kp * 2 + nb * 4 + G * 4) + nb * 16 + 16;
  return max(BP_BYTES + BS_BYTES + AP_BYTES + SA_BYTES + TMP_BYTES + TILE_BYTES, gemv);
}

/**
 * out(M,N) = beta·out + a(M,K)·W(N,K)ᵀ [+ bias]; W quantized (bits 8: q8, 4: q4) at codes/scales.
 * Threads split output columns (16-float groups) for M <= GEMV_MAX_M, rows (MR multiples) when they are
 * plentiful, else columns.
 */
export function matmulQ(out: usize, a: usize, codes: usize, scales: usize, wsums: usize, bias: usize, M: i32, K: i32, N: i32, beta: i32, bits: i32,
  scratch: usize, scratchStride: usize, tid: i32, nth: i32): void {
  const s = scratch + <usize>tid * scratchStride;
  if (M <= GEMV_MAX_M) {
    const groups = (N + 15) >> 4;
    const n0 = min(N, part(groups, tid, nth) << 4), n1 = min(N, part(groups, tid + 1, nth) << 4);
    if (n0 >= n1) return;
    gemvInit(out, bias, M, N, beta, n0, n1);
    const Kp = ((K + G4 - 1) / G4) * G4, nb = (K + QK - 1) / QK;
    const act = s, sa = act + <usize>(GEMV_MAX_M * Kp * 2), xs = sa + <usize>(GEMV_MAX_M * nb * 4), tmp = xs + <usize>(GEMV_MAX_M * (Kp / G4) * 4), sums = tmp + 16;
    quantizeRows(act, sa, xs, a, M, K, Kp, bits); // q8: the zero points in xs (q4's group sums come after)
    if (bits == 8) gemvQ8(out, act, sa, xs, sums, tmp, codes, scales, wsums, M, K, Kp, N, n0, n1);
    else {
      groupSums(xs, act, M, K, Kp);
      gemvQ4(out, act, sa, xs, tmp, codes, scales, M, K, Kp, N, n0, n1);
    }
    return;
  }
  const rowPanels = (M + MR - 1) / MR;
  let m0 = 0, m1 = M, n0 = 0, n1 = N;
  if (rowPanels >= nth * 4 || nth == 1) {
    m0 = min(M, part(rowPanels, tid, nth) * MR); m1 = min(M, part(rowPanels, tid + 1, nth) * MR);
  } else {
    const colPanels = (N + NR - 1) / NR;
    n0 = min(N, part(colPanels, tid, nth) * NR); n1 = min(N, part(colPanels, tid + 1, nth) * NR);
  }
  if (m0 >= m1 || n0 >= n1) return;
  gemvInit(out + <usize>m0 * <usize>N * 4, bias, m1 - m0, N, beta, n0, n1);
  if (ASC_FEATURE_RELAXED_SIMD && bits == 8) gemmQ8r(out, a, codes, scales, wsums, M, K, N, m0, m1, n0, n1, s);
  else if (ASC_FEATURE_RELAXED_SIMD) gemmQ4r(out, a, codes, scales, M, K, N, m0, m1, n0, n1, s);
  else gemmQ(out, a, codes, scales, M, K, N, bits, m0, m1, n0, n1, s);
}

/** out(B,T,C) = dequant(wte)[ids[b,t]] + wpe[posOffset + t]; wte quantized (bits 8 or 4), ids checked by the caller */
export function encoderForwardQ(out: usize, ids: usize, codes: usize, scales: usize, wpe: usize, B: i32, T: i32, C: i32, posOffset: i32, bits: i32, tid: i32, nth: i32): void {
  const n1 = part(B * T, tid + 1, nth), G = (C + G4 - 1) / G4;
  for (let bt = part(B * T, tid, nth); bt < n1; bt++) {
    const tok = <usize>load<i32>(ids + (<usize>bt << 2)), pos = <usize>(posOffset + bt % T);
    const o = out + <usize>bt * <usize>C * 4, p = wpe + pos * <usize>C * 4;
    if (bits == 8) {
      const row = codes + tok * <usize>C, s = load<f32>(scales + (tok << 2));
      for (let c = 0; c < C; c++) store<f32>(o + (<usize>c << 2), <f32>load<i8>(row + <usize>c) * s + load<f32>(p + (<usize>c << 2)));
    } else {
      for (let c = 0; c < C; c++) {
        const g = c / G4, e = c % G4;
        const byte = <i32>load<u8>(codes + (tok * <usize>G + <usize>g) * 16 + <usize>(e & 15));
        const d = halfToF32(load<u16>(scales + (tok * <usize>G + <usize>g) * 2));
        store<f32>(o + (<usize>c << 2), <f32>((e < 16 ? byte & 15 : byte >> 4) - 8) * d + load<f32>(p + (<usize>c << 2)));
      }
    }
  }
}

/**
 * out(8 × i16) = the pair sums of a(16 × i8) · b(16 × i8 in 0..127), by the instruction the int8 kernels
 * multiply with: relaxed SIMD's i16x8.relaxed_dot_i8x16_i7x16_s in the relaxed build (which the spec lets
 * an engine round or saturate; the host checks it here when the engine will not compile its own probe,
 * as workerd will not: src/backend/wasm/features.ts), the exact sums in the SIMD128 build.
 */
export function dotI8Pairs(a: usize, b: usize, out: usize): void {
  const x = v128.load(a), y = v128.load(b);
  if (ASC_FEATURE_RELAXED_SIMD) {
    v128.store(out, i16x8.relaxed_dot_i8x16_i7x16_s(x, y));
  } else {
    const lo = i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_low_i8x16_s(x, y)), hi = i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_high_i8x16_s(x, y));
    v128.store(out, i16x8.narrow_i32x4_s(lo, hi));
  }
}
