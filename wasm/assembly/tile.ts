// The one register tile every matrix product here runs on: matmul's GEMM (packed panels) and the tiled
// attention (blocks of q, k, v and their gradients, packed per head).
//
// c(4×8) = [c +] Σ_k a_k ⊗ b_k [+ bias], where a_k is the 4 floats at ap + k·sa (one per row of c,
// broadcast with load32_splat) and b_k the 8 floats at bp + k·sb. Both operands are read k-major — that
// is the one layout the tile knows; callers pack (or already hold) their operands that way.
// 8 accumulators, 2 B vectors and 1 broadcast A value: measured in cache on x64 V8, 4×8, 2×16 and 3×12
// tiles run near the FMA peak while 4×16, 6×8 and 5×8 fall far below it — V8 spills their accumulators
// (bench/simd-peak.ts measures every shape on the machine at hand).
import { madd } from './common';

/** rows × columns of the register tile */
export const MR = 4;
export const NR = 8;

/** ldc: floats between rows of c; loadC adds the old c; bias (8 floats) is added unless 0 */
@inline export function tile4x8(kc: i32, ap: usize, sa: usize, bp: usize, sb: usize, c: usize, ldc: usize, loadC: bool, bias: usize): void {
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    ap += sa;
    bp += sb;
  }
  if (bias) {
    const b0 = v128.load(bias), b1 = v128.load(bias, 16);
    c00 = f32x4.add(c00, b0); c01 = f32x4.add(c01, b1); c10 = f32x4.add(c10, b0); c11 = f32x4.add(c11, b1);
    c20 = f32x4.add(c20, b0); c21 = f32x4.add(c21, b1); c30 = f32x4.add(c30, b0); c31 = f32x4.add(c31, b1);
  }
  const r1 = c + ldc * 4, r2 = r1 + ldc * 4, r3 = r2 + ldc * 4;
  if (loadC) {
    c00 = f32x4.add(c00, v128.load(c)); c01 = f32x4.add(c01, v128.load(c, 16));
    c10 = f32x4.add(c10, v128.load(r1)); c11 = f32x4.add(c11, v128.load(r1, 16));
    c20 = f32x4.add(c20, v128.load(r2)); c21 = f32x4.add(c21, v128.load(r2, 16));
    c30 = f32x4.add(c30, v128.load(r3)); c31 = f32x4.add(c31, v128.load(r3, 16));
  }
  v128.store(c, c00); v128.store(c, c01, 16);
  v128.store(r1, c10); v128.store(r1, c11, 16);
  v128.store(r2, c20); v128.store(r2, c21, 16);
  v128.store(r3, c30); v128.store(r3, c31, 16);
}
