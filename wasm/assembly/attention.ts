// Causal multi-head self-attention, tiled over blocks of BT queries and BT keys (flash attention): every
// product runs on tile.ts's 4×8 register tile, the softmax is online (a running max and sum per query),
// and no T×T matrix exists — a block of scores lives in a per-thread scratch. Forward saves only
// lse(B,NH,T); backward recomputes each block of P from q, k and lse, and the dropout mask from the
// counter RNG (src/backend/rng.ts: keep iff mix32(key + (bh·T + t)·T + u) >= thr).
// qkv (B,T,3C) packs q | k | v along the last axis; head h owns columns [h*hs, (h+1)*hs) of each.
//
// The tile reads both operands k-major, so each head's operands are packed once, zero-padded to hsp
// (hs rounded up to 8) columns and whole blocks of rows: "T" arrays are transposed, (hsp, 32) per block,
// "N" arrays keep rows, (rows, hsp). The scores are scaled by folding 1/sqrt(hs) into the packed q.
//   forward   Sᵀ(BT,BT) = K·Qᵀ          a = KT, b = QT   (k over the head dimension)
//             O(BT,hsp) += P·V           a = Sᵀ, b = VN   (k over keys; P is Sᵀ after the softmax)
//   backward  S(BT,BT) = Q·Kᵀ,  dP = dO·Vᵀ                  a = QT / dOT, b = KT / VT
//             dV += Pᵀ·dO,  dK += dSᵀ·Q                      a = P / dS, b = dON / QN  (k over queries)
//             dQ += dS·K                                     a = dSᵀ, b = KN           (k over keys)
// Costs besides the products: packing is O(T·hs) per head against O(T²·hs) of products, the softmax
// O(T²) exponentials, and on the diagonal blocks the masked entries of the tiles that also hold visible
// ones (product skips the rest).
import { axpy, dot, expRow, expv, hsum, mix32v, part, transpose4 } from './common';
import { MR, NR, tile4x8 } from './tile';

// positions per block, of queries and of keys alike: a multiple of NR, since the forward's tiles have
// queries as columns and the backward's keys
const BT = 32;

@inline function pad8(n: i32): i32 {
  return (n + 7) & ~7;
}
@inline function blocks(n: i32): i32 {
  return (n + BT - 1) / BT;
}

// dst(hsp, w) = src rows [0, n) transposed and scaled: dst[d][r] = src[r][d]·scale; zero where r >= n or d >= hs
function packT(dst: usize, src: usize, ld: usize, n: i32, w: i32, hs: i32, hsp: i32, scale: f32): void {
  if (n < w || hs < hsp) memory.fill(dst, 0, <usize>(hsp * w) << 2);
  const sv = f32x4.splat(scale), ldd = <usize>w << 2;
  const n4 = n & ~3, h4 = hs & ~3;
  let r = 0;
  for (; r < n4; r += 4) {
    const p = src + <usize>r * ld, q = dst + (<usize>r << 2);
    for (let d = 0; d < h4; d += 4) transpose4(q + <usize>d * ldd, ldd, p + (<usize>d << 2), ld, sv);
    for (let d = h4; d < hs; d++) for (let i = 0; i < 4; i++) store<f32>(q + <usize>d * ldd + (<usize>i << 2), load<f32>(p + <usize>i * ld + (<usize>d << 2)) * scale);
  }
  for (; r < n; r++) {
    const p = src + <usize>r * ld, q = dst + (<usize>r << 2);
    for (let d = 0; d < hs; d++) store<f32>(q + <usize>d * ldd, load<f32>(p + (<usize>d << 2)) * scale);
  }
}

// dst(rows, hsp) = src rows [0, n) scaled, zero-padded in both directions
function packN(dst: usize, src: usize, ld: usize, n: i32, rows: i32, hs: i32, hsp: i32, scale: f32): void {
  if (n < rows || hs < hsp) memory.fill(dst, 0, <usize>(hsp * rows) << 2);
  const sv = f32x4.splat(scale);
  for (let r = 0; r < n; r++) {
    const p = src + <usize>r * ld, q = dst + <usize>(r * hsp) * 4;
    let d = 0;
    for (; d + 4 <= hs; d += 4) v128.store(q + (<usize>d << 2), f32x4.mul(v128.load(p + (<usize>d << 2)), sv));
    for (; d < hs; d++) store<f32>(q + (<usize>d << 2), load<f32>(p + (<usize>d << 2)) * scale);
  }
}

// c(m, n) (+)= Σ_k a[k][row]·b[k][col] over whole tiles; a and b k-major with sa, sb bytes per k.
// A block on the causal diagonal needs no work where every entry is masked: tile (i, j) runs only where
// i - j <= rowsAhead and j - i <= colsAhead, and row panel i sums only k in [i + kLo, i + kHi) within
// [0, kc) (its other k meet masked zeros of a, or a never read). ALL lifts a bound. Sums keep their order:
// a tile that skips leading or trailing zero terms gives the same bits.
const ALL = 1 << 30;
@inline function product(m: i32, n: i32, kc: i32, a: usize, sa: usize, b: usize, sb: usize, c: usize, ldc: i32, loadC: bool,
  rowsAhead: i32, colsAhead: i32, kLo: i32, kHi: i32): void {
  for (let i = 0; i < m; i += MR) {
    const k0 = max(0, i + kLo), k1 = min(kc, i + kHi);
    if (k1 <= k0 && loadC) continue; // nothing to add
    const ak = a + <usize>k0 * sa + (<usize>i << 2), bk = b + <usize>k0 * sb, kn = max(0, k1 - k0);
    for (let j = 0; j < n; j += NR) {
      if (i - j <= rowsAhead && j - i <= colsAhead) tile4x8(kn, ak, sa, bk + (<usize>j << 2), sb, c + <usize>(i * ldc + j) * 4, <usize>ldc, loadC, 0);
    }
  }
}

// On a block pair whose first query sits at position p and first key at u0, the MR queries of row panel
// r see keys [0, r + lag) of the key block, lag = p + MR - u0: `seen` of them, within the block
@inline function seen(r: i32, lag: i32): i32 {
  return min(BT, max(0, r + lag));
}

/** bytes of per-thread scratch attentionForward / attentionCached (keys: nKeys) and attentionBackward need */
export function attentionScratchBytes(nKeys: i32, hs: i32, backward: i32): i32 {
  const hsp = pad8(hs), tp = blocks(nKeys) * BT;
  if (backward) return (8 * tp * hsp + 2 * BT * hsp + 3 * BT * BT + 2 * tp) * 4;
  return (2 * tp * hsp + hsp * BT + BT * BT + BT * hsp + 2 * BT) * 4;
}

// ---- forward ---------------------------------------------------------------------------------------
// Queries t in [0, Tq) of a head sit at positions pos0 + t and see keys [0, pos0 + t]. For batch b and
// head h, q rows start at byte q + b·qb + 4·h·hs, ldq bytes apart; k and v rows (the qkv rows, or a KV
// cache) at k|v + b·kvb + 4·h·hs, ldkv apart; out rows at out + b·ob + 4·h·hs, ldo apart; lse (B,NH,Tq)
// unless lse = 0. Dropout (training's forward only) when drop.

// scales row o (n floats, n % 4 == 0) by a
@inline function scaleRow(o: usize, n: i32, a: f32): void {
  const av = f32x4.splat(a);
  for (let d = 0; d < n; d += 4) v128.store(o + (<usize>d << 2), f32x4.mul(v128.load(o + (<usize>d << 2)), av));
}

// Query block i of one head. scratch s: QT [hsp][BT] | S [BT][BT] | O [BT][hsp] | m [BT] | l [BT]
function forwardBlock(i: i32, q: usize, ldq: usize, out: usize, ldo: usize, lse: usize, Tq: i32, pos0: i32,
  hs: i32, hsp: i32, sc: f32, drop: bool, key: u32, thr: u32, inv: f32, rowBase: u32, KT: usize, VN: usize, s: usize): void {
  const QT = s, S = QT + <usize>(hsp * BT) * 4, O = S + <usize>(BT * BT) * 4, M = O + <usize>(BT * hsp) * 4, L = M + (<usize>BT << 2);
  const t0 = i * BT, nq = min(BT, Tq - t0);
  packT(QT, q + <usize>t0 * ldq, ldq, nq, BT, hs, hsp, sc);
  memory.fill(O, 0, <usize>(BT * hsp) << 2);
  for (let r = 0; r < BT; r += 4) {
    v128.store(M + (<usize>r << 2), f32x4.splat(-Infinity));
    v128.store(L + (<usize>r << 2), f32x4.splat(0));
  }
  const p0 = pos0 + t0; // position of the block's first query
  const jEnd = (p0 + nq - 1) / BT;
  const lanes = i32x4(0, 1, 2, 3);
  const rowStep = i32x4.mul(lanes, i32x4.splat(Tq)); // the dropout row index (bh·T + t)·T steps T per query
  for (let j = 0; j <= jEnd; j++) {
    const u0 = j * BT, lag = p0 + MR - u0; // query group r sees keys [0, r + lag) of this block
    product(BT, BT, hsp, KT + <usize>(j * hsp * BT) * 4, BT * 4, QT, BT * 4, S, BT, false, p0 - u0 + NR - 1, ALL, -ALL, ALL); // Sᵀ
    const diag = u0 + BT - 1 > p0; // some key of this block comes after some query of the block
    for (let r = 0; r < BT; r += 4) {
      // 4 queries at once: their scores are a column of Sᵀ, their running max and sum one vector each
      const pos = i32x4.add(i32x4.splat(p0 + r), lanes);
      const col = S + (<usize>r << 2), kn = seen(r, lag); // keys past kn: masked for all 4, never read
      // four running maxima: one chain of dependent max would wait on each; max is exact in any order
      let mx = f32x4.splat(-Infinity), m1 = mx, m2 = mx, m3 = mx;
      let u = 0;
      if (!diag) {
        for (; u + 4 <= kn; u += 4) {
          const at = col + <usize>(u * BT) * 4;
          mx = f32x4.max(mx, v128.load(at));
          m1 = f32x4.max(m1, v128.load(at, BT * 4));
          m2 = f32x4.max(m2, v128.load(at, BT * 8));
          m3 = f32x4.max(m3, v128.load(at, BT * 12));
        }
        mx = f32x4.max(f32x4.max(mx, m1), f32x4.max(m2, m3));
      }
      for (; u < kn; u++) {
        let x = v128.load(col + <usize>(u * BT) * 4);
        if (diag) x = v128.bitselect(x, f32x4.splat(-Infinity), i32x4.le_s(i32x4.splat(u0 + u), pos));
        mx = f32x4.max(mx, x);
      }
      const mOld = v128.load(M + (<usize>r << 2)), mNew = f32x4.max(mOld, mx);
      const alpha = expv(f32x4.sub(mOld, mNew));
      let sum = f32x4.splat(0);
      const dropBase = i32x4.add(i32x4.splat(<i32>(key + rowBase + <u32>(t0 + r) * <u32>Tq + <u32>u0)), rowStep);
      for (let u = 0; u < kn; u++) {
        const at = col + <usize>(u * BT) * 4;
        let p = expv(f32x4.sub(v128.load(at), mNew));
        if (diag) p = v128.and(p, i32x4.le_s(i32x4.splat(u0 + u), pos));
        sum = f32x4.add(sum, p);
        if (drop) p = v128.and(f32x4.mul(p, f32x4.splat(inv)), i32x4.ge_u(mix32v(i32x4.add(dropBase, i32x4.splat(u))), i32x4.splat(<i32>thr)));
        v128.store(at, p);
      }
      v128.store(M + (<usize>r << 2), mNew);
      v128.store(L + (<usize>r << 2), f32x4.add(f32x4.mul(v128.load(L + (<usize>r << 2)), alpha), sum));
      // alpha is exactly 1 where the running max did not move: scaling by it would change nothing
      if (j > 0 && !i32x4.all_true(f32x4.eq(alpha, f32x4.splat(1)))) {
        const o = O + <usize>(r * hsp) * 4, row = <usize>hsp << 2;
        scaleRow(o, hsp, f32x4.extract_lane(alpha, 0));
        scaleRow(o + row, hsp, f32x4.extract_lane(alpha, 1));
        scaleRow(o + 2 * row, hsp, f32x4.extract_lane(alpha, 2));
        scaleRow(o + 3 * row, hsp, f32x4.extract_lane(alpha, 3));
      }
    }
    product(BT, hsp, BT, S, BT * 4, VN + <usize>(u0 * hsp) * 4, <usize>hsp << 2, O, hsp, true, ALL, ALL, -ALL, lag); // O += P·V
  }
  for (let r = 0; r < nq; r++) {
    const l = load<f32>(L + (<usize>r << 2));
    const il = f32x4.splat(1 / l), o = O + <usize>(r * hsp) * 4, y = out + <usize>(t0 + r) * ldo;
    let d = 0;
    for (; d + 4 <= hs; d += 4) v128.store(y + (<usize>d << 2), f32x4.mul(v128.load(o + (<usize>d << 2)), il));
    for (; d < hs; d++) store<f32>(y + (<usize>d << 2), load<f32>(o + (<usize>d << 2)) / l);
    if (lse) store<f32>(lse + (<usize>(t0 + r) << 2), load<f32>(M + (<usize>r << 2)) + Mathf.log(l));
  }
}

// Work units are (head, pair of query blocks i and nq-1-i): a pair costs the same whatever i (causal
// blocks grow with i), so any equal count of units is an equal share of work. Share tid of nth takes a
// contiguous run of them, so it packs k and v of a head once for all its units of that head (dealt
// round-robin, every thread would pack every head). scratch s: KT [nk][hsp][BT] | VN [nk·BT][hsp] | forwardBlock's.
function forwardHeads(q: usize, ldq: usize, qb: usize, k: usize, v: usize, ldkv: usize, kvb: usize, out: usize, ldo: usize, ob: usize, lse: usize,
  B: i32, NH: i32, hs: i32, Tq: i32, pos0: i32, drop: bool, key: u32, thr: u32, inv: f32, s: usize, tid: i32, nth: i32): void {
  const hsp = pad8(hs), sc = <f32>(1 / Math.sqrt(<f64>hs)), nKeys = pos0 + Tq;
  const nk = blocks(nKeys), tp = nk * BT;
  const KT = s, VN = KT + <usize>(tp * hsp) * 4, rest = VN + <usize>(tp * hsp) * 4;
  const nq = blocks(Tq), pairs = (nq + 1) >> 1;
  let packed = -1;
  const u1 = part(B * NH * pairs, tid + 1, nth);
  for (let unit = part(B * NH * pairs, tid, nth); unit < u1; unit++) {
    const bh = unit / pairs, pr = unit % pairs, b = bh / NH, h = bh % NH;
    const hc = <usize>(h * hs) << 2;
    if (bh != packed) {
      const kh = k + <usize>b * kvb + hc;
      for (let j = 0; j < nk; j++) packT(KT + <usize>(j * hsp * BT) * 4, kh + <usize>(j * BT) * ldkv, ldkv, min(BT, nKeys - j * BT), BT, hs, hsp, 1);
      packN(VN, v + <usize>b * kvb + hc, ldkv, nKeys, tp, hs, hsp, 1);
      packed = bh;
    }
    const qh = q + <usize>b * qb + hc, oh = out + <usize>b * ob + hc, lh = lse ? lse + (<usize>(bh * Tq) << 2) : 0;
    const rowBase = <u32>bh * <u32>Tq * <u32>Tq;
    forwardBlock(pr, qh, ldq, oh, ldo, lh, Tq, pos0, hs, hsp, sc, drop, key, thr, inv, rowBase, KT, VN, rest);
    if (nq - 1 - pr != pr) forwardBlock(nq - 1 - pr, qh, ldq, oh, ldo, lh, Tq, pos0, hs, hsp, sc, drop, key, thr, inv, rowBase, KT, VN, rest);
  }
}

/**
 * How many shares (the worker pool's call in shares, src/backend/wasm/pool.ts) the tiled attention of B
 * sequences, NH heads and Tq queries may take at nth threads, for threads to take one at a time: a thread
 * the host slows then does fewer, where the even split waited for it. Forward (and a cached prompt): runs
 * of (head, block pair) units, a head each, or finer where there are fewer than 4 heads per thread (each
 * share packs the k and v of the heads it meets); backward: whole heads, since every query of a head adds
 * into its dk and dv. 0 (the even split) below 2 threads, and for decode rows (cached, Tq <= ROW_MAX).
 * Any split gives the same bits: a unit's sums do not depend on who computes it.
 */
export function attentionShares(B: i32, NH: i32, Tq: i32, backward: i32, cached: i32, nth: i32): i32 {
  if (nth < 2 || (cached && Tq <= ROW_MAX)) return 0;
  if (backward) return B * NH;
  return min(B * NH * ((blocks(Tq) + 1) >> 1), max(B * NH, 4 * nth));
}

/**
 * out(B,T,C), lse(B,NH,T) from qkv(B,T,3C). Dropout on the probabilities when drop != 0 (key, thr, inv
 * from src/backend/rng.ts). scratch + tid*scratchStride holds attentionScratchBytes(T, C/NH, 0).
 */
export function attentionForward(out: usize, lse: usize, qkv: usize, B: i32, T: i32, C: i32, NH: i32,
  drop: i32, key: u32, thr: u32, inv: f32, scratch: usize, scratchStride: usize, tid: i32, nth: i32): void {
  const row3 = <usize>(3 * C) << 2, rowC = <usize>C << 2;
  forwardHeads(qkv, row3, <usize>T * row3, qkv + rowC, qkv + 2 * rowC, row3, <usize>T * row3, out, rowC, <usize>T * rowC, lse,
    B, NH, C / NH, T, 0, drop != 0, key, thr, inv, scratch + <usize>tid * scratchStride, tid, nth);
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

/**
 * out(B,Tn,C): each new query attends to cache positions [0, pos0 + i]; scratch: attentionScratchBytes(pos0 + Tn, C/NH, 0).
 * Up to ROW_MAX new queries (decode) take the row path below, more (a prompt) the tiled forward.
 */
export function attentionCached(out: usize, qkv: usize, kCache: usize, vCache: usize, B: i32, Tn: i32, C: i32, NH: i32, pos0: i32, Tmax: i32,
  scratch: usize, scratchStride: usize, tid: i32, nth: i32): void {
  const row3 = <usize>(3 * C) << 2, rowC = <usize>C << 2;
  if (Tn <= ROW_MAX) {
    decodeRows(out, qkv, kCache, vCache, B, Tn, C, NH, pos0, Tmax, scratch + <usize>tid * scratchStride, tid, nth);
    return;
  }
  forwardHeads(qkv, row3, <usize>Tn * row3, kCache, vCache, rowC, <usize>Tmax * rowC, out, rowC, <usize>Tn * rowC, 0,
    B, NH, C / NH, Tn, pos0, false, 0, 0, 1, scratch + <usize>tid * scratchStride, tid, nth);
}

// ---- decode: a few queries against a KV cache ------------------------------------------------------
// A few new queries are matrix-vector work: a block's 32 query columns would be mostly padding, and
// packing a head's keys would cost more than reading them once. So each query row makes one pass over
// the key rows for all its heads at once (scores into scratch), a softmax per head, and one pass over the
// value rows: a cache row holds the heads side by side (C contiguous floats), so the cache streams
// through in order. Taken head by head, each pass read hs-float pieces C floats apart: measured 2.2 ms of
// GPT-1's int8 decode step at 144 cached positions. The ragged decode below (one token per sequence)
// takes the same path; per head the arithmetic is the same, in the same order.
const ROW_MAX = 12; // the measured crossover: from 16 new queries (GPT-1 heads, 128–500 cached) the tiles win

/** bytes of per-thread scratch the decode rows need: every head's scores over nKeys keys, and a sum each */
export function decodeScratchBytes(nKeys: i32, NH: i32): i32 {
  return (NH * (nKeys + 1) + 4) * 4;
}

// For heads [0, nh) from q, k, v, y (each at the first head's columns; k, v rows ld bytes apart, a head
// hs floats after the previous one): y_h(hs) = softmax(q_h·k_hᵀ·sc) · v_h over the keys [0, n).
// s holds nh·(n + 1) floats.
function attendHeads(y: usize, q: usize, k: usize, v: usize, ld: usize, n: i32, hs: i32, nh: i32, sc: f32, s: usize): void {
  const hb = <usize>hs << 2, ns = <usize>n << 2, iz = s + <usize>nh * ns;
  for (let u = 0; u < n; u++) {
    const kr = k + <usize>u * ld, su = s + (<usize>u << 2);
    for (let h = 0; h < nh; h++) store<f32>(su + <usize>h * ns, dot(q + <usize>h * hb, kr + <usize>h * hb, hs) * sc);
  }
  for (let h = 0; h < nh; h++) store<f32>(iz + (<usize>h << 2), 1 / expRow(s + <usize>h * ns, n));
  memory.fill(y, 0, <usize>nh * hb);
  for (let u = 0; u < n; u++) {
    const vr = v + <usize>u * ld, su = s + (<usize>u << 2);
    for (let h = 0; h < nh; h++) axpy(y + <usize>h * hb, load<f32>(su + <usize>h * ns) * load<f32>(iz + (<usize>h << 2)), vr + <usize>h * hb, hs);
  }
}

// (B,Tn) rows × NH heads, each thread a contiguous run of (row, head) pairs; s: decodeScratchBytes(pos0 + Tn, NH)
function decodeRows(out: usize, qkv: usize, kCache: usize, vCache: usize, B: i32, Tn: i32, C: i32, NH: i32, pos0: i32, Tmax: i32,
  s: usize, tid: i32, nth: i32): void {
  const hs = C / NH, sc = <f32>(1 / Math.sqrt(<f64>hs));
  const i1 = part(B * Tn * NH, tid + 1, nth);
  for (let i = part(B * Tn * NH, tid, nth); i < i1; ) {
    const r = i / NH, h0 = i % NH, h1 = min(NH, h0 + i1 - i);
    const t = r % Tn, b = r / Tn;
    const q = qkv + (<usize>r * <usize>(3 * C) + <usize>(h0 * hs)) * 4;
    const kv = (<usize>(b * Tmax) * <usize>C + <usize>(h0 * hs)) * 4;
    attendHeads(out + (<usize>r * <usize>C + <usize>(h0 * hs)) * 4, q, kCache + kv, vCache + kv, <usize>C << 2, pos0 + t + 1, hs, h1 - h0, sc, s);
    i += h1 - h0;
  }
}

// ---- backward --------------------------------------------------------------------------------------
/**
 * dqkv(B,T,3C) overwritten from dout(B,T,C), with out and lse from the forward. Threads own whole
 * (b,h) heads, since every query of a head adds into that head's dk and dv.
 * dS = P ∘ (dP∘M - D) with dP = dO·vᵀ, M the dropout mask (0 or 1/(1-p)) and D = rowsum(dO ∘ O);
 * the scale 1/sqrt(hs) sits in the packed q, so dq takes it once at the end.
 * scratch: attentionScratchBytes(T, C/NH, 1).
 */
export function attentionBackward(dqkv: usize, dout: usize, qkv: usize, out: usize, lse: usize, B: i32, T: i32, C: i32, NH: i32,
  drop: i32, key: u32, thr: u32, inv: f32, scratch: usize, scratchStride: usize, tid: i32, nth: i32): void {
  const hs = C / NH, hsp = pad8(hs), sc = <f32>(1 / Math.sqrt(<f64>hs));
  const nb = blocks(T), tp = nb * BT, blk = <usize>(hsp * BT) * 4, whole = <usize>(tp * hsp) * 4;
  // scratch: QT, dOT, KT, VT [nb][hsp][32] | QN, KN, dON, dQ [tp][hsp] | dK, dV [BT][hsp] | D, L [tp] | P, dS [BT][BT] | dST [BT][BT]
  const QT = scratch + <usize>tid * scratchStride, dOT = QT + whole, KT = dOT + whole, VT = KT + whole;
  const QN = VT + whole, KN = QN + whole, dON = KN + whole, dQ = dON + whole;
  const dK = dQ + whole, dV = dK + blk, D = dV + blk, L = D + (<usize>tp << 2);
  const P = L + (<usize>tp << 2), dS = P + <usize>(BT * BT) * 4, dST = dS + <usize>(BT * BT) * 4;
  const row3 = <usize>(3 * C) << 2, rowC = <usize>C << 2;
  const lanes = i32x4(0, 1, 2, 3), one = f32x4.splat(1);
  for (let bh = tid; bh < B * NH; bh += nth) {
    const h = bh % NH, b = bh / NH;
    const q = qkv + (<usize>(b * T) * <usize>(3 * C) + <usize>(h * hs)) * 4, k = q + (<usize>C << 2), v = k + (<usize>C << 2);
    const dq = dqkv + (q - qkv), dk = dq + (<usize>C << 2), dv = dk + (<usize>C << 2);
    const o = out + (<usize>(b * T) * <usize>C + <usize>(h * hs)) * 4, dO = dout + (o - out);
    for (let j = 0; j < nb; j++) {
      const n = min(BT, T - j * BT), off = <usize>(j * BT);
      packT(QT + <usize>j * blk, q + off * row3, row3, n, BT, hs, hsp, sc);
      packT(dOT + <usize>j * blk, dO + off * rowC, rowC, n, BT, hs, hsp, 1);
      packT(KT + <usize>j * blk, k + off * row3, row3, n, BT, hs, hsp, 1);
      packT(VT + <usize>j * blk, v + off * row3, row3, n, BT, hs, hsp, 1);
    }
    packN(QN, q, row3, T, tp, hs, hsp, sc);
    packN(KN, k, row3, T, tp, hs, hsp, 1);
    packN(dON, dO, rowC, T, tp, hs, hsp, 1);
    memory.fill(dQ, 0, whole);
    memory.fill(D, 0, <usize>(2 * tp) << 2); // D and L: padded rows stay 0 (their dO is 0: they add nothing)
    for (let t = 0; t < T; t++) {
      store<f32>(D + (<usize>t << 2), dot(dO + <usize>t * rowC, o + <usize>t * rowC, hs));
      store<f32>(L + (<usize>t << 2), load<f32>(lse + (<usize>(bh * T + t) << 2)));
    }
    for (let j = 0; j < nb; j++) {
      const u0 = j * BT;
      memory.fill(dK, 0, blk << 1); // dK and dV
      for (let i = u0 / BT; i < nb; i++) {
        const t0 = i * BT;
        const lag = t0 + MR - u0; // query row panel r sees keys [0, r + lag) of this block: a tile of keys from r + lag on is all masked
        product(BT, BT, hsp, QT + <usize>i * blk, BT * 4, KT + <usize>j * blk, BT * 4, P, BT, false, ALL, lag - 1, -ALL, ALL);
        product(BT, BT, hsp, dOT + <usize>i * blk, BT * 4, VT + <usize>j * blk, BT * 4, dS, BT, false, ALL, lag - 1, -ALL, ALL);
        const diag = u0 + BT - 1 > t0;
        for (let r = 0; r < BT; r++) {
          const t = t0 + r, lr = f32x4.splat(load<f32>(L + (<usize>t << 2))), dr = f32x4.splat(load<f32>(D + (<usize>t << 2)));
          const pr = P + <usize>(r * BT) * 4, sr = dS + <usize>(r * BT) * 4;
          const dropBase = i32x4.add(i32x4.splat(<i32>(key + <u32>(bh * T + t) * <u32>T + <u32>u0)), lanes);
          for (let u = 0, un = seen(r & ~3, lag); u < un; u += 4) { // keys past un: masked, never read
            let p = expv(f32x4.sub(v128.load(pr + (<usize>u << 2)), lr));
            if (diag) p = v128.and(p, i32x4.le_s(i32x4.add(i32x4.splat(u0 + u), lanes), i32x4.splat(t)));
            let dp = v128.load(sr + (<usize>u << 2));
            if (drop) {
              const m = v128.and(f32x4.splat(inv), i32x4.ge_u(mix32v(i32x4.add(dropBase, i32x4.splat(u))), i32x4.splat(<i32>thr)));
              dp = f32x4.mul(dp, m);
              v128.store(pr + (<usize>u << 2), f32x4.mul(p, m));
            } else {
              v128.store(pr + (<usize>u << 2), p);
            }
            v128.store(sr + (<usize>u << 2), f32x4.mul(p, f32x4.sub(dp, dr)));
          }
        }
        // dV, dK: key panel i gathers the queries from t0 + k = u0 + i on
        product(BT, hsp, BT, P, BT * 4, dON + <usize>(t0 * hsp) * 4, <usize>hsp * 4, dV, hsp, true, ALL, ALL, u0 - t0, ALL);
        product(BT, hsp, BT, dS, BT * 4, QN + <usize>(t0 * hsp) * 4, <usize>hsp * 4, dK, hsp, true, ALL, ALL, u0 - t0, ALL);
        for (let r = 0; r < BT; r += 4) for (let u = 0; u < BT; u += 4) transpose4(dST + <usize>(u * BT + r) * 4, BT * 4, dS + <usize>(r * BT + u) * 4, BT * 4, one);
        product(BT, hsp, BT, dST, BT * 4, KN + <usize>(u0 * hsp) * 4, <usize>hsp * 4, dQ + <usize>(t0 * hsp) * 4, hsp, true, ALL, ALL, -ALL, lag);
      }
      for (let u = 0; u < min(BT, T - u0); u++) {
        memory.copy(dk + <usize>(u0 + u) * row3, dK + <usize>(u * hsp) * 4, <usize>hs << 2);
        memory.copy(dv + <usize>(u0 + u) * row3, dV + <usize>(u * hsp) * 4, <usize>hs << 2);
      }
    }
    const scv = f32x4.splat(sc);
    for (let t = 0; t < T; t++) {
      const src = dQ + <usize>(t * hsp) * 4, dst = dq + <usize>t * row3;
      let d = 0;
      for (; d + 4 <= hs; d += 4) v128.store(dst + (<usize>d << 2), f32x4.mul(v128.load(src + (<usize>d << 2)), scv));
      for (; d < hs; d++) store<f32>(dst + (<usize>d << 2), load<f32>(src + (<usize>d << 2)) * sc);
    }
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

/** out(N,C): each token attends to its slot's positions [0, pos]; (token, head) pairs in a contiguous run per thread; scratch holds Tmax floats */
export function attentionRagged(out: usize, qkv: usize, kCache: usize, vCache: usize, slotPos: usize, N: i32, C: i32, NH: i32, Tmax: i32,
  scratch: usize, scratchStride: usize, tid: i32, nth: i32): void {
  const hs = C / NH, sc = <f32>(1 / Math.sqrt(<f64>hs));
  const s = scratch + <usize>tid * scratchStride;
  const rowC = <usize>C << 2;
  // each thread a contiguous run of (token, head) pairs, as decodeRows
  const i1 = part(N * NH, tid + 1, nth);
  for (let i = part(N * NH, tid, nth); i < i1; ) {
    const n = i / NH, h0 = i % NH, h1 = min(NH, h0 + i1 - i);
    const slot = load<i32>(slotPos + (<usize>(2 * n) << 2)), pos = load<i32>(slotPos + (<usize>(2 * n + 1) << 2));
    const q = qkv + (<usize>n * <usize>(3 * C) + <usize>(h0 * hs)) * 4;
    const koff = (<usize>(slot * Tmax) * <usize>C + <usize>(h0 * hs)) * 4;
    attendHeads(out + (<usize>n * <usize>C + <usize>(h0 * hs)) * 4, q, kCache + koff, vCache + koff, rowC, pos + 1, hs, h1 - h0, sc, s);
    i += h1 - h0;
  }
}
