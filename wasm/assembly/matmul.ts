// matmul: out(M,N) = beta*out + op(a)(M,K) · op(b)(K,N) [+ bias(N)], and its bias backward.
//
// One GotoBLAS-style kernel covers all four transposes: A is packed into MR-row panels (k-major, so a
// row value is one `load32_splat`) and B into NR-column panels (k-major, one 12-float row per k), each
// pack reading whichever layout the operand has. The MR×NR micro-kernel then sees one layout only.
// Blocking: a KC×NC block of packed B stays in L2 for all of this thread's rows; a KC×NR micro-panel of
// it (12 KB) and an MR×KC panel of A stream through L1; the MR×NR register tile is tile.ts's tile3x12.
// Threads split columns (see matmul).
import { madd, colStart, colEnd, part, hsum, dot, axpy, transpose4 } from './common';
import { GEMM_MR as MR, GEMM_NR as NR, tile3x12 } from './tile';
const KC = 256;
const ONE = f32x4.splat(1);
const NC = 516; // 43 panels of NR
const MC = 66; // 22 panels of MR
// threads and shares split out's columns in groups of CG: whole panels and whole 64-byte lines of out
const CG = 48;

// bytes of packed A a thread may keep for all of K: see gemmBlock
const A_BYTES = 2 << 20;
// the most an operand packed whole for the shares (matmulRowShares' b, matmulPackedABytes' a) may take
const PACKED_MAX = 32 << 20;

/** bytes of per-thread scratch matmul needs: packed B block, one edge tile, packed A (A_BYTES >= MC×KC) */
export function matmulScratchBytes(): i32 {
  return (KC * NC + MR * NR) * 4 + A_BYTES;
}

// Pack k-range [p0, p0+kc) × columns [j0, j0+n) of src, stored (K, ld) with each k's columns contiguous,
// into panels of w columns (MR or NR: 3 or 12), k-major: dst[panel][k][0:w), panel j at dst + j·kc floats;
// columns past n are zero. A stored (K,M) and B stored (K,N) pack this way. k by k, each k's row of src
// read in one sequential run across all the panels. Panel by panel down k instead, each panel walked kc rows
// ld·4 bytes apart for part of a line of each: latency-bound (384×2048×1152: 6.2 ms to pack a 9.4 MB B,
// 1.5 GB/s).
function packKMajor(dst: usize, src: usize, ld: i32, p0: i32, kc: i32, j0: i32, n: i32, w: i32): void {
  const full = n - n % w, pstride = <usize>(w * kc) << 2;
  for (let k = 0; k < kc; k++) {
    const s0 = src + (<usize>(p0 + k) * <usize>ld + <usize>j0) * 4;
    let d = dst + <usize>(k * w) * 4;
    if (w == 12) {
      for (let j = 0; j < full; j += 12, d += pstride) {
        const s = s0 + (<usize>j << 2);
        v128.store(d, v128.load(s));
        v128.store(d, v128.load(s, 16), 16);
        v128.store(d, v128.load(s, 32), 32);
      }
    } else {
      // w = 3: four panels' 12 floats in three vectors, each panel's 3 stored as a whole vector whose 4th lane
      // the next k overwrites; the last k stores its 3 lanes alone, as its 4th would land in the next panel
      const last = k == kc - 1;
      let j = 0;
      for (; j + 12 <= full; j += 12) {
        const s = s0 + (<usize>j << 2), x0 = v128.load(s), x1 = v128.load(s, 16), x2 = v128.load(s, 32);
        const p1 = i32x4.shuffle(x0, x1, 3, 4, 5, 5), p2 = i32x4.shuffle(x1, x2, 2, 3, 4, 4), p3 = i32x4.shuffle(x2, x2, 1, 2, 3, 3);
        if (!last) {
          v128.store(d, x0);
          v128.store(d + pstride, p1);
          v128.store(d + 2 * pstride, p2);
          v128.store(d + 3 * pstride, p3);
        } else {
          store3(d, x0);
          store3(d + pstride, p1);
          store3(d + 2 * pstride, p2);
          store3(d + 3 * pstride, p3);
        }
        d += 4 * pstride;
      }
      for (; j < full; j += 3, d += pstride) {
        const s = s0 + (<usize>j << 2);
        store<f32>(d, load<f32>(s));
        store<f32>(d, load<f32>(s, 4), 4);
        store<f32>(d, load<f32>(s, 8), 8);
      }
    }
    if (full < n) for (let j = 0; j < w; j++) store<f32>(d + (<usize>j << 2), full + j < n ? load<f32>(s0 + (<usize>(full + j) << 2)) : 0);
  }
}

// the first 3 lanes of v at d
@inline function store3(d: usize, v: v128): void {
  store<f64>(d, f64x2.extract_lane(v, 0));
  store<f32>(d, f32x4.extract_lane(v, 2), 8);
}

// Pack rows [i0, i0+mc) × k-range [p0, p0+kc) of op(a) into panels of MR rows: ap[panel][k][r].
// Rows past M are zero so that edge panels compute garbage-free zeros.
function packA(ap: usize, a: usize, M: i32, K: i32, i0: i32, mc: i32, p0: i32, kc: i32, transA: bool): void {
  if (transA) {
    // a is stored (K,M): one k's mc row values are contiguous
    packKMajor(ap, a, M, p0, kc, i0, mc, MR);
    return;
  }
  for (let ir = 0; ir < mc; ir += MR) {
    const rows = min(MR, mc - ir);
    const dst = ap + <usize>(ir * kc) * 4;
    if (rows == MR) {
      // a is stored (M,K): 3 rows × 4 k at a time transposed into 4 k × 3 rows, the first three k's stores a
      // whole vector each (its 4th lane is overwritten by the next k's), the last one's three lanes alone, so
      // that nothing is written past the panel
      const src = a + (<usize>(i0 + ir) * <usize>K + <usize>p0) * 4, lda = <usize>K << 2;
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        const r0 = v128.load(src + (<usize>k << 2)), r1 = v128.load(src + lda + (<usize>k << 2)), r2 = v128.load(src + 2 * lda + (<usize>k << 2));
        const lo = i32x4.shuffle(r0, r1, 0, 4, 1, 5), hi = i32x4.shuffle(r0, r1, 2, 6, 3, 7); // r0k0 r1k0 r0k1 r1k1 | r0k2 r1k2 r0k3 r1k3
        const d = dst + <usize>(k * MR) * 4;
        v128.store(d, i32x4.shuffle(lo, r2, 0, 1, 4, 4));
        v128.store(d + 12, i32x4.shuffle(lo, r2, 2, 3, 5, 5));
        v128.store(d + 24, i32x4.shuffle(hi, r2, 0, 1, 6, 6));
        store3(d + 36, i32x4.shuffle(hi, r2, 2, 3, 7, 7));
      }
      for (; k < kc; k++) for (let r = 0; r < MR; r++) store<f32>(dst + <usize>(k * MR + r) * 4, load<f32>(src + <usize>r * lda + (<usize>k << 2)));
    } else {
      for (let r = 0; r < MR; r++) {
        const d = dst + (<usize>r << 2);
        if (r < rows) {
          const src = a + (<usize>(i0 + ir + r) * <usize>K + <usize>p0) * 4;
          for (let k = 0; k < kc; k++) store<f32>(d + <usize>(k * MR) * 4, load<f32>(src + (<usize>k << 2)));
        } else {
          for (let k = 0; k < kc; k++) store<f32>(d + <usize>(k * MR) * 4, 0);
        }
      }
    }
  }
}

// Pack k-range [p0, p0+kc) × columns [j0, j0+nc) of op(b) into panels of NR columns: bp[panel][k][j].
function packB(bp: usize, b: usize, K: i32, N: i32, p0: i32, kc: i32, j0: i32, nc: i32, transB: bool): void {
  if (!transB) {
    packKMajor(bp, b, N, p0, kc, j0, nc, NR);
    return;
  }
  for (let jr = 0; jr < nc; jr += NR) {
    const cols = min(NR, nc - jr);
    const dst = bp + <usize>(jr * kc) * 4;
    if (cols == NR) {
      // b is stored (N,K): three 4×4 blocks of (columns, k) per 4 k, transposed into (k, columns)
      const src = b + (<usize>(j0 + jr) * <usize>K + <usize>p0) * 4, ldb = <usize>K << 2;
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        transpose4(dst + <usize>(k * NR) * 4, NR * 4, src + (<usize>k << 2), ldb, ONE);
        transpose4(dst + <usize>(k * NR + 4) * 4, NR * 4, src + 4 * ldb + (<usize>k << 2), ldb, ONE);
        transpose4(dst + <usize>(k * NR + 8) * 4, NR * 4, src + 8 * ldb + (<usize>k << 2), ldb, ONE);
      }
      for (; k < kc; k++) for (let j = 0; j < NR; j++) store<f32>(dst + <usize>(k * NR + j) * 4, load<f32>(src + <usize>j * ldb + (<usize>k << 2)));
    } else {
      // an edge panel: walk each column's k run contiguously
      for (let j = 0; j < NR; j++) {
        const d = dst + (<usize>j << 2);
        if (j < cols) {
          const src = b + (<usize>(j0 + jr + j) * <usize>K + <usize>p0) * 4;
          for (let k = 0; k < kc; k++) store<f32>(d + <usize>(k * NR) * 4, load<f32>(src + (<usize>k << 2)));
        } else {
          for (let k = 0; k < kc; k++) store<f32>(d + <usize>(k * NR) * 4, 0);
        }
      }
    }
  }
}

// One thread's block of out: rows [m0, m1) × columns [n0, n1). packed: b already packed whole (matmulPackB),
// packedA: a already packed whole (matmulPackA), or 0.
// GotoBLAS packs A again for every NC-column block of B: for out wider than NC that repeats (the LM
// head's 40478 columns: 80 times), and packing took 5-7% of a GPT-1 GEMM at one thread (in-process
// against a build that packed nothing). Where it costs less in all, rows are taken in chunks whose A,
// all of K, fits A_BYTES: A is packed once per chunk, B once per chunk (not at all when packed): at one
// thread GPT-1's qkv, proj, fc1 and LM head ran 1.03-1.08x (fc2, K 3072, keeps the GotoBLAS order).
// Either way every tile sums the same k blocks in the same order: the bits do not change.
function gemmBlock(out: usize, a: usize, b: usize, bias: usize, M: i32, K: i32, N: i32, transA: bool, transB: bool, beta: i32,
  m0: i32, m1: i32, n0: i32, n1: i32, scratch: usize, packed: usize = 0, packedA: usize = 0): void {
  const bp = scratch, tile = bp + <usize>(KC * NC) * 4, ap = tile + <usize>(MR * NR) * 4;
  if (K == 0) {
    // no products: out = beta*out + bias
    for (let i = m0; i < m1; i++) for (let j = n0; j < n1; j++) {
      const o = out + (<usize>i * <usize>N + <usize>j) * 4;
      store<f32>(o, (beta ? load<f32>(o) : 0) + (bias ? load<f32>(bias + (<usize>j << 2)) : 0));
    }
    return;
  }
  const rows = m1 - m0, colBlocks = (n1 - n0 + NC - 1) / NC;
  const chunk = min(rows, A_BYTES / 4 / K / MC * MC); // rows whose packed A, all of K, fits
  let once = false;
  if (packedA == 0 && chunk > 0 && colBlocks > 1) {
    const bPacks = packed ? 0 : <i64>((rows + chunk - 1) / chunk) * <i64>(n1 - n0); // B's floats packed, per row of k
    once = <i64>rows + bPacks < <i64>rows * colBlocks + (packed ? 0 : <i64>(n1 - n0));
  }
  // A packed whole, all of K (aOffset's layout: awRows rows from row awBase): given (packedA), or each chunk's
  // rows packed first (once); else none, and A is packed block by block
  let aw = packedA, awRows = roundPanels(M), awBase = 0;
  const step = once ? chunk : rows;
  for (let mb = m0; mb < m1; mb += step) {
    const me = min(m1, mb + step);
    if (once) {
      aw = ap;
      awRows = roundPanels(me - mb);
      awBase = mb;
      packARows(ap, a, M, K, awRows, mb, mb, me, transA);
    }
    for (let jc = n0; jc < n1; jc += NC) {
      const nc = min(NC, n1 - jc);
      for (let pc = 0; pc < K; pc += KC) {
        const kc = min(KC, K - pc);
        if (packed == 0) packB(bp, b, K, N, pc, kc, jc, nc, transB);
        const bpb = packed ? packed + packedOffset(K, N, jc, pc) : bp;
        for (let ic = mb; ic < me; ic += MC) {
          const mc = min(MC, me - ic);
          if (aw == 0) packA(ap, a, M, K, ic, mc, pc, kc, transA);
          blockTiles(out, bias, N, beta, aw ? aw + aOffset(awRows, ic - awBase, pc, kc) : ap, bpb, ic, mc, jc, nc, pc, kc, tile);
        }
      }
    }
  }
}

// out rows [ic, ic+mc) × columns [jc, jc+nc) (+)= the packed A block apb (mc rows) · the packed B block bpb, over
// k block pc (kc deep); the first k block writes (beta: adds to out) and adds the bias
@inline function blockTiles(out: usize, bias: usize, N: i32, beta: i32, apb: usize, bpb: usize, ic: i32, mc: i32, jc: i32, nc: i32,
  pc: i32, kc: i32, tile: usize): void {
  const first = pc == 0;
  for (let jr = 0; jr < nc; jr += NR) {
    const cols = min(NR, nc - jr);
    const bpp = bpb + <usize>(jr * kc) * 4;
    const bb = first && bias ? bias + (<usize>(jc + jr) << 2) : 0;
    const loadC = !first || beta != 0;
    for (let ir = 0; ir < mc; ir += MR) {
      const rows = min(MR, mc - ir);
      const c = out + (<usize>(ic + ir) * <usize>N + <usize>(jc + jr)) * 4;
      const app = apb + <usize>(ir * kc) * 4;
      if (rows == MR && cols == NR) {
        tile3x12(kc, app, MR * 4, bpp, NR * 4, c, <usize>N, loadC, bb);
      } else {
        // edge tile: compute whole tile into scratch, then merge the valid part
        tile3x12(kc, app, MR * 4, bpp, NR * 4, tile, NR, false, 0);
        for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) {
          const o = c + (<usize>r * <usize>N + <usize>j) * 4;
          let v = load<f32>(tile + <usize>(r * NR + j) * 4);
          if (bb) v += load<f32>(bb + (<usize>j << 2));
          store<f32>(o, loadC ? load<f32>(o) + v : v);
        }
      }
    }
  }
}

/**
 * out(M,N) = beta*out + op(a)·op(b) [+ bias]. bias = 0 for none. scratch + tid*scratchStride is this
 * thread's matmulScratchBytes(). M <= GEMV_MAX_M with a not transposed takes the matrix-vector path
 * (gemv, below: no packing; one row of a uses 16 KB of the scratch). With one row of a and b not
 * transposed, the host may run gemvSlabs + gemvFold instead (see gemvSlabBytes): the same bits.
 * Threads split the columns, in groups of CG (whole panels and cache lines of out): each packs only its own
 * part of b, and b is the big operand — a weight matrix, or the LM head's 40478×768 embedding against
 * 103-row chunks. Split by rows, every thread packed all of b: for the LM head, twice the packing and
 * twice the memory traffic of one thread, which is why it scaled below 2×. Rows only when out is too
 * narrow to give every thread a few groups.
 */
export function matmul(out: usize, a: usize, b: usize, bias: usize, M: i32, K: i32, N: i32, transA: i32, transB: i32, beta: i32,
  scratch: usize, scratchStride: usize, tid: i32, nth: i32): void {
  const s = scratch + <usize>tid * scratchStride;
  if (M <= GEMV_MAX_M && transA == 0) {
    gemv(out, a, b, bias, M, K, N, transB != 0, beta, tid, nth, s);
    return;
  }
  const groups = (N + CG - 1) / CG, rowPanels = (M + MR - 1) / MR;
  if (nth == 1) {
    gemmBlock(out, a, b, bias, M, K, N, transA != 0, transB != 0, beta, 0, M, 0, N, s);
  } else if (groups >= nth * 2 || rowPanels < nth * 4) {
    const n0 = min(N, part(groups, tid, nth) * CG), n1 = min(N, part(groups, tid + 1, nth) * CG);
    if (n0 < n1) gemmBlock(out, a, b, bias, M, K, N, transA != 0, transB != 0, beta, 0, M, n0, n1, s);
  } else {
    const m0 = min(M, part(rowPanels, tid, nth) * MR), m1 = min(M, part(rowPanels, tid + 1, nth) * MR);
    if (m0 < m1) gemmBlock(out, a, b, bias, M, K, N, transA != 0, transB != 0, beta, m0, m1, 0, N, s);
  }
}

/**
 * How many shares the host may cut this matmul into, for threads to take one at a time (the worker
 * pool's call in shares, src/backend/wasm/pool.ts): shares of at least 256 columns of out, 4 per thread at
 * most; 0 for the even split. Any split gives the same bits.
 *  - Run through matmul, each share packs all of A again for its columns, which over 256 or more columns
 *    cost at most 1% (one thread, the GPT-1 shapes as 1 call against 8 shares); narrower shares cost more
 *    (512×3072×768 in 16 shares of 48 columns: 1.22×). The host packs A once instead where it can
 *    (matmulPackA, then matmulCols).
 *  - Where 2 or 3 per thread fit and rows are too few for matmulRowShares (the small GPT's dW = Xᵀ·dY:
 *    384 rows, 1152 or 1536 columns), a multiple of nth shares, but only against A packed once
 *    (matmulPackedABytes), which the even split packs once per thread: at 2 threads 1.026–1.039× on
 *    384×2048×1152 and 1.017–1.025× on ×1536 (`kernel-ab --what matmul --threads 2 --reps 31`, 3 runs). Not
 *    for an A under 128 Ki floats (a few rows of batched decode), whose second pack costs less than the
 *    pool's extra call, nor for one share per thread (100×3072×768: 0.99×). Shares of 48 to 128 columns
 *    measured 0.92–0.99× on these shapes: each re-reads all of A.
 */
export function matmulShares(M: i32, K: i32, N: i32, transA: i32, nth: i32): i32 {
  if (nth < 2 || K == 0 || (M <= GEMV_MAX_M && transA == 0)) return 0;
  const most = 4 * nth, fit = min(most, ((N + 15) >> 4) / 16);
  if (fit == most) return fit;
  if (rowSharesFit(M, K, N, nth) || <i64>M * <i64>K < (1 << 17) || matmulPackedABytes(M, K) == 0) return 0;
  return fit >= 2 * nth ? fit - fit % nth : 0;
}

// ---- b packed once, rows in shares ------------------------------------------------------------------
// Where out is too narrow for column shares (GPT-1's N = 768: proj, fc2, most of the backward), threads
// first pack all of b together (matmulPackB: the blocks packB makes, each at packedOffset), then take
// shares of rows (matmulRows): each share packs only its own rows of a, against every column. Any split
// gives the same bits as matmul: the same blocks, the same tiles.

// bytes offset of block (jc, pc) of b packed whole: jc blocks of NC columns one after another, each its
// K rows of panels in KC-row blocks (an edge block's columns rounded up to whole NR panels)
@inline function packedOffset(K: i32, N: i32, jc: i32, pc: i32): usize {
  const nc = min(NC, N - jc);
  return (<usize>jc * <usize>K + <usize>((nc + NR - 1) / NR * NR) * <usize>pc) * 4;
}

/** bytes of op(b) (K,N) packed whole */
export function matmulPackedBytes(K: i32, N: i32): i32 {
  return <i32>min(<i64>((N + NR - 1) / NR * NR) * <i64>K * 4, <i64>i32.MAX_VALUE);
}

/**
 * How many shares of rows the host may cut matmul into, over b packed whole; 0: not this way. For an out
 * too narrow for matmulShares' columns, with at least 16 row panels (48 rows) per share and b's packed
 * copy at most 32 MiB.
 */
export function matmulRowShares(M: i32, K: i32, N: i32, transA: i32, nth: i32): i32 {
  if (nth < 2 || K == 0 || (M <= GEMV_MAX_M && transA == 0) || ((N + 15) >> 4) >= 4 * nth * 16 || !rowSharesFit(M, K, N, nth)) return 0;
  return 4 * nth;
}

// rows enough for 4 shares per thread of 16 row panels each, and b's packed copy within PACKED_MAX
@inline function rowSharesFit(M: i32, K: i32, N: i32, nth: i32): bool {
  return (M + MR - 1) / MR >= 4 * nth * 16 && matmulPackedBytes(K, N) <= PACKED_MAX;
}

/** bp = op(b) packed whole (matmulPackedBytes); threads take whole (NC×KC) blocks */
export function matmulPackB(bp: usize, b: usize, K: i32, N: i32, transB: i32, tid: i32, nth: i32): void {
  const nP = (K + KC - 1) / KC, blocks = ((N + NC - 1) / NC) * nP;
  for (let i = part(blocks, tid, nth), e = part(blocks, tid + 1, nth); i < e; i++) {
    const jc = (i / nP) * NC, pc = (i % nP) * KC;
    packB(bp + packedOffset(K, N, jc, pc), b, K, N, pc, min(KC, K - pc), jc, min(NC, N - jc), transB != 0);
  }
}

/** matmul's out(M,N) with b packed whole in bp; threads split rows in whole panels */
export function matmulRows(out: usize, a: usize, bp: usize, bias: usize, M: i32, K: i32, N: i32, transA: i32, beta: i32,
  scratch: usize, scratchStride: usize, tid: i32, nth: i32): void {
  const rowPanels = (M + MR - 1) / MR;
  const m0 = min(M, part(rowPanels, tid, nth) * MR), m1 = min(M, part(rowPanels, tid + 1, nth) * MR);
  if (m0 < m1) gemmBlock(out, a, 0, bias, M, K, N, transA != 0, false, beta, m0, m1, 0, N, scratch + <usize>tid * scratchStride, bp);
}

// ---- a packed once, columns in shares ---------------------------------------------------------------
// Column shares (matmulShares) each packed all of A again for their columns: at 2 threads 8 packs of A
// where one thread packs it once (GPT-1's qkv and fc1). Instead all threads first pack A whole
// (matmulPackA: the panels packA makes, laid out as aOffset says), then take shares of columns
// (matmulCols) against it. The same blocks and tiles as matmul: the same bits.

// rows rounded up to whole panels
@inline function roundPanels(rows: i32): i32 {
  return (rows + MR - 1) / MR * MR;
}

// A packed whole, all of K, for `rows` rows (whole panels): each KC block holds all the rows in panels, one
// block after another. Bytes offset of row i (counted from the first row) in k block pc (kc deep).
@inline function aOffset(rows: i32, i: i32, pc: i32, kc: i32): usize {
  return (<usize>rows * <usize>pc + <usize>i * <usize>kc) * 4;
}

// rows [r0, r1) of op(a), all of K, into dst laid out as aOffset's `rows` rows from row base; r0 - base and
// r1 - r0 whole panels (r1 may end at M)
function packARows(dst: usize, a: usize, M: i32, K: i32, rows: i32, base: i32, r0: i32, r1: i32, transA: bool): void {
  for (let pc = 0; pc < K; pc += KC) {
    const kc = min(KC, K - pc);
    packA(dst + aOffset(rows, r0 - base, pc, kc), a, M, K, r0, r1 - r0, pc, kc, transA);
  }
}

/** bytes of op(a) (M,K) packed whole for matmulCols; 0 where over PACKED_MAX (then each share packs A itself) */
export function matmulPackedABytes(M: i32, K: i32): i32 {
  const bytes = <i64>roundPanels(M) * <i64>K * 4;
  return bytes > <i64>PACKED_MAX ? 0 : <i32>bytes;
}

/** ap = op(a) packed whole (matmulPackedABytes); threads take row panels of every k block */
export function matmulPackA(ap: usize, a: usize, M: i32, K: i32, transA: i32, tid: i32, nth: i32): void {
  const panels = (M + MR - 1) / MR;
  const r0 = part(panels, tid, nth) * MR, r1 = min(M, part(panels, tid + 1, nth) * MR);
  if (r0 < r1) packARows(ap, a, M, K, roundPanels(M), 0, r0, r1, transA != 0);
}

/** matmul's out(M,N) with op(a) packed whole in ap; threads split columns in groups of CG */
export function matmulCols(out: usize, ap: usize, b: usize, bias: usize, M: i32, K: i32, N: i32, transB: i32, beta: i32,
  scratch: usize, scratchStride: usize, tid: i32, nth: i32): void {
  const groups = (N + CG - 1) / CG;
  const n0 = min(N, part(groups, tid, nth) * CG), n1 = min(N, part(groups, tid + 1, nth) * CG);
  if (n0 < n1) gemmBlock(out, 0, b, bias, M, K, N, false, transB != 0, beta, 0, M, n0, n1, scratch + <usize>tid * scratchStride, 0, ap);
}

/** dbias(N) += column sums of dout(M,N); threads split columns */
export function biasBackward(dbias: usize, dout: usize, M: i32, N: i32, tid: i32, nth: i32): void {
  const c0 = colStart(N, tid, nth), c1 = colEnd(N, tid, nth);
  let c = c0;
  // 16 columns at a time in registers over all rows
  for (; c + 16 <= c1; c += 16) {
    let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
    let p = dout + (<usize>c << 2);
    for (let m = 0; m < M; m++) {
      s0 = f32x4.add(s0, v128.load(p)); s1 = f32x4.add(s1, v128.load(p, 16));
      s2 = f32x4.add(s2, v128.load(p, 32)); s3 = f32x4.add(s3, v128.load(p, 48));
      p += <usize>N << 2;
    }
    const d = dbias + (<usize>c << 2);
    v128.store(d, f32x4.add(v128.load(d), s0)); v128.store(d, f32x4.add(v128.load(d, 16), s1), 16);
    v128.store(d, f32x4.add(v128.load(d, 32), s2), 32); v128.store(d, f32x4.add(v128.load(d, 48), s3), 48);
  }
  for (; c < c1; c++) {
    let s: f32 = 0;
    for (let m = 0; m < M; m++) s += load<f32>(dout + (<usize>m * <usize>N + <usize>c) * 4);
    store<f32>(dbias + (<usize>c << 2), load<f32>(dbias + (<usize>c << 2)) + s);
  }
}

// ---- matrix-vector fast path: M <= GEMV_MAX_M rows of a (not transposed), weights read in place -------
// Decode (one token) and last-row logits multiply 1-4 rows by a weight matrix. The GEMM above packs every
// KC×NC block of B before using it, which for so few rows is ~3× the memory traffic of reading B once;
// here B is streamed exactly once, in its stored layout. Threads split the output columns in 16-float
// (cache-line) groups, so no two threads write the same line of out.
const GEMV_MAX_M = 4;
// columns of out kept in L1 while all of K streams past (A·B layout): 16 KB of out rows, so that one row
// (decode) takes up to 4096 columns — every row of a GPT-1 weight whole, B read in one sequential pass
const GB_BYTES = 16384;

// out[m, n0:n1) = (beta ? out : 0) + bias for M rows (also the quantized matmul's first step)
export function gemvInit(out: usize, bias: usize, M: i32, N: i32, beta: i32, n0: i32, n1: i32): void {
  for (let m = 0; m < M; m++) {
    const o = out + <usize>m * <usize>N * 4;
    let j = n0;
    if (beta) {
      if (bias) for (; j + 4 <= n1; j += 4) v128.store(o + (<usize>j << 2), f32x4.add(v128.load(o + (<usize>j << 2)), v128.load(bias + (<usize>j << 2))));
      for (; j < n1; j++) store<f32>(o + (<usize>j << 2), load<f32>(o + (<usize>j << 2)) + (bias ? load<f32>(bias + (<usize>j << 2)) : 0));
    } else {
      if (bias) memory.copy(o + (<usize>n0 << 2), bias + (<usize>n0 << 2), <usize>(n1 - n0) << 2);
      else memory.fill(o + (<usize>n0 << 2), 0, <usize>(n1 - n0) << 2);
    }
  }
}

// out[0:cols) += a(1,K) · b(K, cols), b's rows ldb bytes apart (decode): every column summed k by k, one
// FMA per k, in k order, whichever way b is read, so the bits do not depend on the threads.
// oneRow reads b one row per pass: its rows are contiguous, so b streams as one sequential run (GPT-1
// f32 decode 28.0 -> 21.2 ms/token against eight rows a pass, kernel-ab). Threads sharing the columns read
// a stretch of every row each, and one stretch per pass was far slower there (22 -> 35 ms/token at 2
// threads): they take eight rows a pass, eight streams of one stretch, which measured 1.1-1.3x four.
// The last (cols & 3) columns run in scalar after the vectors.
function gemvRowN(out: usize, a: usize, b: usize, K: i32, ldb: usize, cols: i32, oneRow: bool): void {
  const jv = cols & ~3; // end of whole vectors
  let k = 0;
  if (!oneRow) for (; k + 8 <= K; k += 8) {
    const p0 = b + <usize>k * ldb, p1 = p0 + ldb, p2 = p1 + ldb, p3 = p2 + ldb, p4 = p3 + ldb, p5 = p4 + ldb, p6 = p5 + ldb, p7 = p6 + ldb;
    const xk = a + (<usize>k << 2);
    const x0 = v128.load32_splat(xk), x1 = v128.load32_splat(xk, 4), x2 = v128.load32_splat(xk, 8), x3 = v128.load32_splat(xk, 12);
    const x4 = v128.load32_splat(xk, 16), x5 = v128.load32_splat(xk, 20), x6 = v128.load32_splat(xk, 24), x7 = v128.load32_splat(xk, 28);
    for (let j = 0; j < jv; j += 4) {
      const o = <usize>j << 2;
      let acc = v128.load(out + o);
      acc = madd(x0, v128.load(p0 + o), acc);
      acc = madd(x1, v128.load(p1 + o), acc);
      acc = madd(x2, v128.load(p2 + o), acc);
      acc = madd(x3, v128.load(p3 + o), acc);
      acc = madd(x4, v128.load(p4 + o), acc);
      acc = madd(x5, v128.load(p5 + o), acc);
      acc = madd(x6, v128.load(p6 + o), acc);
      acc = madd(x7, v128.load(p7 + o), acc);
      v128.store(out + o, acc);
    }
  }
  for (; k < K; k++) {
    const p0 = b + <usize>k * ldb, x0 = v128.load32_splat(a + (<usize>k << 2));
    for (let j = 0; j < jv; j += 4) {
      const o = <usize>j << 2;
      v128.store(out + o, madd(x0, v128.load(p0 + o), v128.load(out + o)));
    }
  }
  for (let j = jv; j < cols; j++) {
    let c = load<f32>(out + (<usize>j << 2));
    for (let k = 0; k < K; k++) c += load<f32>(a + (<usize>k << 2)) * load<f32>(b + <usize>k * ldb + (<usize>j << 2));
    store<f32>(out + (<usize>j << 2), c);
  }
}

// ---- one row of a, K split across threads -------------------------------------------------------------
// Threads sharing b's columns each read a stretch of every row; where rows are short the stretches are
// short, and reading them is slow (GPT-1's 3072×768 at 2 threads: 11.7-13.3 GB/s, while the 768×3072
// above it streamed at 16-21). Split by K instead, each thread streams its own contiguous slab of rows:
// 14.2-16.6 GB/s there, but 11-15 against 16-19 for the long rows of 768×2304 and 768×3072
// (bench/gemv-stream.ts, 2 threads, interleaved), so only stretches under MAX_STRETCH bytes go this way.
// For the bits not to depend on the threads, K is cut into slabs of SLAB rows whatever the thread
// count: each slab's sum starts from zero, and out = ((init + slab 0) + slab 1) + ..., in slab order.
// One thread folds each slab as it goes (gemvRowSlabs), so do threads that split the columns; threads
// that split K write every slab's sum to scratch (gemvSlabs) and a second call folds them (gemvFold).
const SLAB = 64;
const MAX_STRETCH = 4096;

@inline function slabCount(K: i32): i32 {
  return (K + SLAB - 1) / SLAB;
}

/** dst[0:n) += src[0:n): vectors, then a scalar tail (both IEEE adds: the same bits either way) */
@inline function addRow(dst: usize, src: usize, n: i32): void {
  let j = 0;
  for (; j + 4 <= n; j += 4) v128.store(dst + (<usize>j << 2), f32x4.add(v128.load(dst + (<usize>j << 2)), v128.load(src + (<usize>j << 2))));
  for (; j < n; j++) store<f32>(dst + (<usize>j << 2), load<f32>(dst + (<usize>j << 2)) + load<f32>(src + (<usize>j << 2)));
}

// out[jc:je) += a(1,K) · b(K,N)[:, jc:je), slab by slab through p (je - jc floats of scratch)
function gemvRowSlabs(out: usize, a: usize, b: usize, K: i32, N: i32, jc: i32, je: i32, oneRow: bool, p: usize): void {
  const ldb = <usize>N << 2, cols = je - jc;
  for (let k0 = 0; k0 < K; k0 += SLAB) {
    memory.fill(p, 0, <usize>cols << 2);
    gemvRowN(p, a + (<usize>k0 << 2), b + <usize>k0 * ldb + (<usize>jc << 2), min(SLAB, K - k0), ldb, cols, oneRow);
    addRow(out + (<usize>jc << 2), p, cols);
  }
}

/**
 * Bytes of scratch (all threads' together) that a·b with one row of a, K×N, split by K over nth threads
 * needs for its slab sums; 0 where splitting the columns is the better way (rows long enough, or too few
 * slabs to share evenly): then matmul does that, with the same bits.
 */
export function gemvSlabBytes(K: i32, N: i32, nth: i32): i32 {
  const S = slabCount(K);
  if (nth < 2 || <i64>N * 4 >= <i64>MAX_STRETCH * nth || !(S >= 4 * nth || (S >= nth && S % nth == 0))) return 0;
  return <i32>min(<i64>S * <i64>N * 4, <i64>i32.MAX_VALUE);
}

/** slab sums sums(S,N): sums[s] = a[s·SLAB:+SLAB) · b rows [s·SLAB, +SLAB), from zero; threads take whole slabs */
export function gemvSlabs(sums: usize, a: usize, b: usize, K: i32, N: i32, tid: i32, nth: i32): void {
  const S = slabCount(K), s0 = part(S, tid, nth), s1 = part(S, tid + 1, nth), ldb = <usize>N << 2;
  const gb = GB_BYTES >> 2;
  for (let s = s0; s < s1; s++) {
    const k0 = s * SLAB, rows = min(SLAB, K - k0), ps = sums + <usize>s * ldb;
    memory.fill(ps, 0, ldb);
    for (let jc = 0; jc < N; jc += gb) gemvRowN(ps + (<usize>jc << 2), a + (<usize>k0 << 2), b + <usize>k0 * ldb + (<usize>jc << 2), rows, ldb, min(gb, N - jc), true);
  }
}

/** out(1,N) = (beta ? out : 0) + bias + sums[0] + sums[1] + ..., in slab order; threads split columns in 16-float groups */
export function gemvFold(out: usize, sums: usize, bias: usize, K: i32, N: i32, beta: i32, tid: i32, nth: i32): void {
  const groups = (N + 15) >> 4, S = slabCount(K), ldb = <usize>N << 2;
  const n0 = min(N, part(groups, tid, nth) << 4), n1 = min(N, part(groups, tid + 1, nth) << 4);
  if (n0 >= n1) return;
  gemvInit(out, bias, 1, N, beta, n0, n1);
  for (let s = 0; s < S; s++) addRow(out + (<usize>n0 << 2), sums + <usize>s * ldb + (<usize>n0 << 2), n1 - n0);
}

// out(M, n0:n1) += a(M,K) · b(K,N)[:, n0:n1]; b row-major. Per block of gb columns, 4 rows of b at a time
// are scaled into the out rows (one load + store of out per 4 FMAs per row of a); one row of a: slab by
// slab (gemvRowSlabs), p its gb floats of scratch.
function gemvN(out: usize, a: usize, b: usize, M: i32, K: i32, N: i32, n0: i32, n1: i32, nth: i32, p: usize): void {
  const ldb = <usize>N << 2, gb = (GB_BYTES / (M * 4)) & ~15;
  for (let jc = n0; jc < n1; jc += gb) {
    const je = min(n1, jc + gb);
    if (M == 1) {
      gemvRowSlabs(out, a, b, K, N, jc, je, nth == 1, p);
      continue;
    }
    const jv = je - ((je - jc) & 3); // end of whole vectors
    let k = 0;
    for (; k + 4 <= K; k += 4) {
      const p0 = b + <usize>k * ldb, p1 = p0 + ldb, p2 = p1 + ldb, p3 = p2 + ldb;
      for (let j = jc; j < jv; j += 4) {
        const o = <usize>j << 2;
        const w0 = v128.load(p0 + o), w1 = v128.load(p1 + o), w2 = v128.load(p2 + o), w3 = v128.load(p3 + o);
        for (let m = 0; m < M; m++) {
          const xa = a + (<usize>m * <usize>K + <usize>k) * 4;
          const c = out + <usize>m * ldb + o;
          let acc = v128.load(c);
          acc = madd(v128.load32_splat(xa), w0, acc);
          acc = madd(v128.load32_splat(xa, 4), w1, acc);
          acc = madd(v128.load32_splat(xa, 8), w2, acc);
          acc = madd(v128.load32_splat(xa, 12), w3, acc);
          v128.store(c, acc);
        }
      }
      for (let j = jv; j < je; j++) {
        const o = <usize>j << 2;
        const w0 = load<f32>(p0 + o), w1 = load<f32>(p1 + o), w2 = load<f32>(p2 + o), w3 = load<f32>(p3 + o);
        for (let m = 0; m < M; m++) {
          const xa = a + (<usize>m * <usize>K + <usize>k) * 4;
          const c = out + <usize>m * ldb + o;
          store<f32>(c, load<f32>(c) + (load<f32>(xa) * w0 + load<f32>(xa, 4) * w1) + (load<f32>(xa, 8) * w2 + load<f32>(xa, 12) * w3));
        }
      }
    }
    for (; k < K; k++) {
      const p = b + <usize>k * ldb;
      for (let m = 0; m < M; m++) {
        const s = load<f32>(a + (<usize>m * <usize>K + <usize>k) * 4);
        axpy(out + <usize>m * ldb + (<usize>jc << 2), s, p + (<usize>jc << 2), je - jc);
      }
    }
  }
}

// out(M, n0:n1) += a(M,K) · b(N,K)ᵀ[:, n0:n1]: one contiguous dot product per (row of a, row of b); a row
// of b is read from memory once and stays in L1 for the other rows of a.
function gemvT(out: usize, a: usize, b: usize, M: i32, K: i32, N: i32, n0: i32, n1: i32): void {
  const ldb = <usize>K << 2;
  let n = n0;
  if (M == 1) {
    // one row of b at a time, read straight through with four accumulators: the weights stream as one
    // sequential run. Eight rows at a time (eight streams 3 KB apart, one accumulator each) read GPT-1's
    // LM head at 12.4–13.5 GB/s, this at 21.9–22.9 (bench/gemv-stream.ts, one thread; a plain sum over
    // 240 MB reads 20–24 GB/s sequentially and 15–16 in that eight-row pattern). Every row is summed the
    // same way, so the bits do not depend on the threads' shares.
    for (; n < n1; n++) {
      const p = b + <usize>n * ldb;
      let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
      let k = 0;
      for (; k + 16 <= K; k += 16) {
        const o = <usize>k << 2;
        s0 = madd(v128.load(a + o), v128.load(p + o), s0);
        s1 = madd(v128.load(a + o, 16), v128.load(p + o, 16), s1);
        s2 = madd(v128.load(a + o, 32), v128.load(p + o, 32), s2);
        s3 = madd(v128.load(a + o, 48), v128.load(p + o, 48), s3);
      }
      for (; k + 4 <= K; k += 4) s0 = madd(v128.load(a + (<usize>k << 2)), v128.load(p + (<usize>k << 2)), s0);
      let r = hsum(f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3)));
      for (; k < K; k++) r += load<f32>(a + (<usize>k << 2)) * load<f32>(p + (<usize>k << 2));
      store<f32>(out + (<usize>n << 2), load<f32>(out + (<usize>n << 2)) + r);
    }
    return;
  }
  for (; n < n1; n++) {
    const p = b + <usize>n * ldb;
    for (let m = 0; m < M; m++) {
      const c = out + (<usize>m * <usize>N + <usize>n) * 4;
      store<f32>(c, load<f32>(c) + dot(a + <usize>m * ldb, p, K));
    }
  }
}

/** the M <= GEMV_MAX_M, transA = false case of matmul; threads split columns in 16-float groups */
function gemv(out: usize, a: usize, b: usize, bias: usize, M: i32, K: i32, N: i32, transB: bool, beta: i32, tid: i32, nth: i32, p: usize): void {
  const groups = (N + 15) >> 4;
  const n0 = min(N, part(groups, tid, nth) << 4), n1 = min(N, part(groups, tid + 1, nth) << 4);
  if (n0 >= n1) return;
  gemvInit(out, bias, M, N, beta, n0, n1);
  if (K == 0) return;
  if (transB) gemvT(out, a, b, M, K, N, n0, n1);
  else gemvN(out, a, b, M, K, N, n0, n1, nth, p);
}
