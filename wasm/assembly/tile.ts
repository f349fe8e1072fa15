// The register tiles the matrix products here run on: matmul's GEMM (packed panels) on tile3x12, the tiled
// attention (blocks of q, k, v and their gradients, packed per head) on tile4x8.
//
// c(4×8) = [c +] Σ_k a_k ⊗ b_k [+ bias], where a_k is the 4 floats at ap + k·sa (one per row of c,
// broadcast with load32_splat) and b_k the 8 floats at bp + k·sb. Both operands are read k-major — that
// is the one layout the tile knows; callers pack (or already hold) their operands that way.
// 8 accumulators, 2 B vectors and 1 broadcast A value. In a GEMM's loop (bench/simd-peak.ts --macro) the 6×8
// and 4×12 tiles (15 and 16 registers) run at ~0.75× of 4×8: V8 keeps some of x64's 16 vector registers for
// itself and spills their accumulators.
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

/** matmul's tile: rows × columns (tile3x12) */
export const GEMM_MR = 3;
export const GEMM_NR = 12;

/**
 * tile4x8's contract for a 3×12 tile: 9 accumulators, 3 B vectors and 1 broadcast A value (13 registers).
 * Inside a GEMM's macro-kernel loop (`simd-peak --macro`: packed panels, out updated per tile) it ran
 * 1.06–1.14× 4×8 on an Intel Xeon (Sapphire Rapids class, 3 runs); on a Zen 5 the two ran alike as tiles
 * alone. The whole GPT-1 prefill (`kernel-ab --what prefill --weights f32`, against the 4×8 build): 1.09 and
 * 1.11× at 1 thread, 1.06 and 1.09× at 2 (medians of 7–11 pairs); the same bits. The attention keeps 4×8:
 * its 32-row blocks are whole 4-row panels.
 */
@inline export function tile3x12(kc: i32, ap: usize, sa: usize, bp: usize, sb: usize, c: usize, ldc: usize, loadC: bool, bias: usize): void {
  let c00 = f32x4.splat(0), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00, c20 = c00, c21 = c00, c22 = c00;
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16), b2 = v128.load(bp, 32);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00); c01 = madd(a, b1, c01); c02 = madd(a, b2, c02);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10); c11 = madd(a, b1, c11); c12 = madd(a, b2, c12);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20); c21 = madd(a, b1, c21); c22 = madd(a, b2, c22);
    ap += sa;
    bp += sb;
  }
  if (bias) {
    const b0 = v128.load(bias), b1 = v128.load(bias, 16), b2 = v128.load(bias, 32);
    c00 = f32x4.add(c00, b0); c01 = f32x4.add(c01, b1); c02 = f32x4.add(c02, b2);
    c10 = f32x4.add(c10, b0); c11 = f32x4.add(c11, b1); c12 = f32x4.add(c12, b2);
    c20 = f32x4.add(c20, b0); c21 = f32x4.add(c21, b1); c22 = f32x4.add(c22, b2);
  }
  const r1 = c + ldc * 4, r2 = r1 + ldc * 4;
  if (loadC) {
    c00 = f32x4.add(c00, v128.load(c)); c01 = f32x4.add(c01, v128.load(c, 16)); c02 = f32x4.add(c02, v128.load(c, 32));
    c10 = f32x4.add(c10, v128.load(r1)); c11 = f32x4.add(c11, v128.load(r1, 16)); c12 = f32x4.add(c12, v128.load(r1, 32));
    c20 = f32x4.add(c20, v128.load(r2)); c21 = f32x4.add(c21, v128.load(r2, 16)); c22 = f32x4.add(c22, v128.load(r2, 32));
  }
  v128.store(c, c00); v128.store(c, c01, 16); v128.store(c, c02, 32);
  v128.store(r1, c10); v128.store(r1, c11, 16); v128.store(r1, c12, 32);
  v128.store(r2, c20); v128.store(r2, c21, 16); v128.store(r2, c22, 32);
}
