// matmul: out(M,N) = beta*out + op(a)(M,K) · op(b)(K,N) [+ bias(N)], every transpose; and bias backward.
//
// Three kernels share one Params struct; the host picks one per call (src/backend/webgpu/webgpu.ts):
// - matmul_tiled, for large outputs: a 16×16 workgroup computes a 128×128 tile, each invocation an 8×8
//   register block (rows ty*4+i and 64+ty*4+i, columns likewise, so operand reads from workgroup memory are
//   vec4s). K advances 8 at a time through two k-major tiles As[k][m], Bs[k][n] whose rows are padded to
//   132 floats, so the transposing stores of a row-major operand hit 32 distinct banks. The next k-tile
//   is fetched from global memory into registers while the current one is multiplied (register double
//   buffering; two 4 KiB tiles keep the kernel within the 16 KiB every WebGPU device offers). Global
//   loads are vec4s along the operand's contiguous axis when its offset and row length are multiples of 4
//   (vec_a, vec_b), else element by element. Per k-step an invocation does 64 FMAs for 4 vec4 reads of
//   workgroup memory.
// - matmul_small, for small or odd outputs (and many workgroups where the 128 tiles would be few): a
//   64×64 tile, 4×4 per invocation, K in steps of 16, scalar loads.
// - matvec, for outputs of at most 8 rows (decoding): each workgroup computes a block of columns for all
//   rows, invocations splitting K; b is read once, coalesced, whichever way it is stored.
// The transpose is a pipeline constant (TRANS_A, TRANS_B): one pipeline per case, no per-element branch.
// Out-of-range rows/cols/k are loaded as 0 and never stored: any M, K, N works. Leading dimensions (lda,
// ldb, ldo: the stored row lengths) let the host run a block of a larger matrix (a split operand, or
// work split to the dispatch budget).
struct MatmulParams {
  M: u32, K: u32, N: u32,
  o_out: u32, o_a: u32, o_b: u32, o_bias: u32,
  beta: u32, has_bias: u32,
  lda: u32, ldb: u32, ldo: u32,
  vec_a: u32, vec_b: u32,
}
@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> a: array<f32>;
@group(0) @binding(3) var<storage, read_write> b: array<WT>; // f16 in the f16-weights variant
@group(0) @binding(4) var<storage, read_write> bias: array<f32>;

override TRANS_A: bool = false;
override TRANS_B: bool = false;

// out[gm, gn] = acc (+ bias) (+ out when accumulating)
fn store_out(gm: u32, gn: u32, acc: f32) {
  if (gm >= p.M || gn >= p.N) { return; }
  var v = acc;
  if (p.has_bias != 0u) { v += bias[p.o_bias + gn]; }
  let o = p.o_out + gm * p.ldo + gn;
  if (p.beta != 0u) { v += out[o]; }
  out[o] = v;
}

// ---- matmul_tiled ----------------------------------------------------------------------------------------
@group(0) @binding(2) var<storage, read_write> a4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> b4: array<vec4<WT>>;

const BT: u32 = 128u; // tile rows and columns
const BK: u32 = 8u;   // k per step
const SR: u32 = 33u;  // padded tile row, in vec4s (132 floats)
var<workgroup> As: array<vec4<f32>, 264>; // [BK][SR]: As[k][m/4][m%4]
var<workgroup> Bs: array<vec4<f32>, 264>; // [BK][SR]

// 4 consecutive elements of a (flat index e), 0 past `valid` of them; one vec4 load when `vec`
fn load4_a(e: u32, valid: u32, vec: bool) -> vec4<f32> {
  if (vec && valid >= 4u) { return a4[e / 4u]; }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < min(valid, 4u); j++) { v[j] = a4[(e + j) / 4u][(e + j) % 4u]; }
  return v;
}
fn load4_b(e: u32, valid: u32, vec: bool) -> vec4<f32> {
  if (vec && valid >= 4u) { return vec4<f32>(b4[e / 4u]); }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < min(valid, 4u); j++) { v[j] = f32(b4[(e + j) / 4u][(e + j) % 4u]); }
  return v;
}
// elements of a line of `len` starting at `start` that exist (0..4)
fn avail(start: u32, len: u32) -> u32 {
  return select(0u, min(4u, len - start), start < len);
}

// This invocation's share of the A tile at k0: 4 consecutive elements along a's contiguous axis.
fn fetch_a(row0: u32, k0: u32, lid: u32) -> vec4<f32> {
  if (TRANS_A) { // a stored (K,M): k = lid/32, m = 4*(lid%32)..+3
    let k = k0 + lid / 32u;
    let m = row0 + 4u * (lid % 32u);
    if (k >= p.K) { return vec4<f32>(0.0); }
    return load4_a(p.o_a + k * p.lda + m, avail(m, p.M), p.vec_a != 0u);
  }
  // a stored (M,K): m = lid/2, k = 4*(lid%2)..+3
  let m = row0 + lid / 2u;
  let k = k0 + 4u * (lid % 2u);
  if (m >= p.M) { return vec4<f32>(0.0); }
  return load4_a(p.o_a + m * p.lda + k, avail(k, p.K), p.vec_a != 0u);
}
fn fetch_b(col0: u32, k0: u32, lid: u32) -> vec4<f32> {
  if (!TRANS_B) { // b stored (K,N): k = lid/32, n = 4*(lid%32)..+3
    let k = k0 + lid / 32u;
    let n = col0 + 4u * (lid % 32u);
    if (k >= p.K) { return vec4<f32>(0.0); }
    return load4_b(p.o_b + k * p.ldb + n, avail(n, p.N), p.vec_b != 0u);
  }
  // b stored (N,K): n = lid/2, k = 4*(lid%2)..+3
  let n = col0 + lid / 2u;
  let k = k0 + 4u * (lid % 2u);
  if (n >= p.N) { return vec4<f32>(0.0); }
  return load4_b(p.o_b + n * p.ldb + k, avail(k, p.K), p.vec_b != 0u);
}
// Place fetched elements into the k-major tiles. Along m (n) they are one vec4; along k, four rows of the
// same column: with the 132-float row stride those four stores of 32 invocations fall in 32 banks.
fn stash_a(v: vec4<f32>, lid: u32) {
  if (TRANS_A) {
    As[(lid / 32u) * SR + lid % 32u] = v;
  } else {
    let m = lid / 2u;
    let k = 4u * (lid % 2u);
    for (var j = 0u; j < 4u; j++) { As[(k + j) * SR + m / 4u][m % 4u] = v[j]; }
  }
}
fn stash_b(v: vec4<f32>, lid: u32) {
  if (!TRANS_B) {
    Bs[(lid / 32u) * SR + lid % 32u] = v;
  } else {
    let n = lid / 2u;
    let k = 4u * (lid % 2u);
    for (var j = 0u; j < 4u; j++) { Bs[(k + j) * SR + n / 4u][n % 4u] = v[j]; }
  }
}

@compute @workgroup_size(256)
fn matmul_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tx = lid % 16u;
  let ty = lid / 16u;
  let row0 = wid.y * BT;
  let col0 = wid.x * BT;
  // acc[2i + h]: row (i < 4 ? ty*4 + i : 64 + ty*4 + i-4), columns tx*4..+3 (h = 0) or 64 + tx*4..+3 (h = 1)
  var acc: array<vec4<f32>, 16>;
  var ra = fetch_a(row0, 0u, lid);
  var rb = fetch_b(col0, 0u, lid);
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    stash_a(ra, lid);
    stash_b(rb, lid);
    workgroupBarrier();
    if (k0 + BK < p.K) { // the next tile's loads are in flight while this one is multiplied
      ra = fetch_a(row0, k0 + BK, lid);
      rb = fetch_b(col0, k0 + BK, lid);
    }
    for (var k = 0u; k < BK; k++) {
      let a0 = As[k * SR + ty];
      let a1 = As[k * SR + 16u + ty];
      let b0 = Bs[k * SR + tx];
      let b1 = Bs[k * SR + 16u + tx];
      for (var i = 0u; i < 4u; i++) {
        acc[2u * i] = fma(vec4<f32>(a0[i]), b0, acc[2u * i]);
        acc[2u * i + 1u] = fma(vec4<f32>(a0[i]), b1, acc[2u * i + 1u]);
        acc[8u + 2u * i] = fma(vec4<f32>(a1[i]), b0, acc[8u + 2u * i]);
        acc[8u + 2u * i + 1u] = fma(vec4<f32>(a1[i]), b1, acc[8u + 2u * i + 1u]);
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 8u; i++) {
    let gm = row0 + select(ty * 4u + i, 64u + ty * 4u + i - 4u, i >= 4u);
    for (var h = 0u; h < 2u; h++) {
      let gn = col0 + h * 64u + tx * 4u;
      let v = acc[2u * i + h];
      for (var j = 0u; j < 4u; j++) { store_out(gm, gn + j, v[j]); }
    }
  }
}

// ---- matmul_small ----------------------------------------------------------------------------------------
const TILE: u32 = 64u;
const TK: u32 = 16u;
var<workgroup> As1: array<f32, 1024>; // [TK][TILE]
var<workgroup> Bs1: array<f32, 1024>; // [TK][TILE]

@compute @workgroup_size(16, 16)
fn matmul_small(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let tx = lid3.x;
  let ty = lid3.y;
  let lid = ty * 16u + tx;
  let row0 = wid.y * TILE;
  let col0 = wid.x * TILE;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < p.K; k0 += TK) {
    // loads map the linear invocation index so consecutive invocations read consecutive addresses
    for (var r = 0u; r < 4u; r++) {
      let idx = lid + r * 256u;
      var m: u32;
      var ka: u32;
      if (TRANS_A) { ka = idx / TILE; m = idx % TILE; } else { m = idx / TK; ka = idx % TK; }
      let gm = row0 + m;
      let gka = k0 + ka;
      var va = 0.0;
      if (gm < p.M && gka < p.K) {
        if (TRANS_A) { va = a[p.o_a + gka * p.lda + gm]; } else { va = a[p.o_a + gm * p.lda + gka]; }
      }
      As1[ka * TILE + m] = va;
      var n: u32;
      var kb: u32;
      if (TRANS_B) { n = idx / TK; kb = idx % TK; } else { kb = idx / TILE; n = idx % TILE; }
      let gn = col0 + n;
      let gkb = k0 + kb;
      var vb = 0.0;
      if (gn < p.N && gkb < p.K) {
        if (TRANS_B) { vb = f32(b[p.o_b + gn * p.ldb + gkb]); } else { vb = f32(b[p.o_b + gkb * p.ldb + gn]); }
      }
      Bs1[kb * TILE + n] = vb;
    }
    workgroupBarrier();
    for (var k = 0u; k < TK; k++) {
      var ar: array<f32, 4>;
      var br: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        ar[i] = As1[k * TILE + ty + 16u * i];
        br[i] = Bs1[k * TILE + tx + 16u * i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
          acc[i * 4u + j] = fma(ar[i], br[j], acc[i * 4u + j]);
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) { store_out(row0 + ty + 16u * i, col0 + tx + 16u * j, acc[i * 4u + j]); }
  }
}

// ---- matvec: M ≤ 8 rows (a not transposed) -----------------------------------------------------------
const MV_ROWS: u32 = 8u;
var<workgroup> red_mv: array<f32, 2048>; // [MV_ROWS][256] partial sums

// b stored (K,N): 64 columns per workgroup, 4 slices of K; b stored (N,K): 8 columns, 32 invocations
// each along K. Either way consecutive invocations read consecutive elements of b.
@compute @workgroup_size(256)
fn matvec(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let blk = linear_id(wid, nwg);
  var n: u32;
  var k_first: u32;
  var k_step: u32;
  if (TRANS_B) { n = blk * 8u + lid / 32u; k_first = lid % 32u; k_step = 32u; } else { n = blk * 64u + lid % 64u; k_first = lid / 64u; k_step = 4u; }
  var acc: array<f32, 8>;
  if (n < p.N) {
    for (var k = k_first; k < p.K; k += k_step) {
      var w: f32;
      if (TRANS_B) { w = f32(b[p.o_b + n * p.ldb + k]); } else { w = f32(b[p.o_b + k * p.ldb + n]); }
      for (var m = 0u; m < min(p.M, MV_ROWS); m++) { acc[m] = fma(a[p.o_a + m * p.lda + k], w, acc[m]); }
    }
  }
  for (var m = 0u; m < MV_ROWS; m++) { red_mv[m * 256u + lid] = acc[m]; }
  workgroupBarrier();
  // the k-slices of one column sum in a fixed order: invocation lid < (columns per workgroup) owns a column
  let cols = select(64u, 8u, TRANS_B);
  if (lid >= cols) { return; }
  let col = select(blk * 64u + lid, blk * 8u + lid, TRANS_B);
  for (var m = 0u; m < min(p.M, MV_ROWS); m++) {
    var s = 0.0;
    for (var j = 0u; j < k_step; j++) {
      if (TRANS_B) { s += red_mv[m * 256u + lid * 32u + j]; } else { s += red_mv[m * 256u + j * 64u + lid]; }
    }
    store_out(m, col, s);
  }
}

// ---- column sums in two deterministic passes: bias and LayerNorm weight gradients ------------------------
// column_partials: workgroup (x, y) sums rows [256y, 256y + 256) of 64 columns [64x, 64x + 64) of x(M,N),
// four invocations per column each taking every fourth row, then those four in a fixed order, into
// part[y*stride + n]. With `normed`, also the sums of x[m,n] times LayerNorm's normalised input
// (inp[m,n] - mean[m]) * rstd[m] into part[y*stride + N + n] (dw beside db). partial_sums: out(N) +=
// Σ_y part[y*stride + n], in order of y. (One invocation per column walking all M rows, as before, left most
// of a GPU idle: 12 workgroups for GPT-1's 768 columns.)
struct ColumnParams { M: u32, N: u32, stride: u32, o_part: u32, o_x: u32, o_inp: u32, o_mean: u32, o_rstd: u32, normed: u32 }
@group(0) @binding(0) var<uniform> pc: ColumnParams;
@group(0) @binding(1) var<storage, read_write> cpart: array<f32>;
@group(0) @binding(2) var<storage, read_write> cx: array<f32>;
@group(0) @binding(3) var<storage, read_write> cinp: array<f32>;
@group(0) @binding(4) var<storage, read_write> cmean: array<f32>;
@group(0) @binding(5) var<storage, read_write> crstd: array<f32>;
var<workgroup> col_red: array<f32, 512>;

@compute @workgroup_size(256)
fn column_partials(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = wid.x * 64u + lid % 64u;
  let lane = lid / 64u;
  var s = 0.0;
  var sn = 0.0;
  if (n < pc.N) {
    let m1 = min(pc.M, wid.y * 256u + 256u);
    for (var m = wid.y * 256u + lane; m < m1; m += 4u) {
      let v = cx[pc.o_x + m * pc.N + n];
      s += v;
      if (pc.normed != 0u) { sn += v * (cinp[pc.o_inp + m * pc.N + n] - cmean[pc.o_mean + m]) * crstd[pc.o_rstd + m]; }
    }
  }
  col_red[lid] = s;
  col_red[256u + lid] = sn;
  workgroupBarrier();
  if (lane == 0u && n < pc.N) {
    let o = pc.o_part + wid.y * pc.stride + n;
    cpart[o] = (col_red[lid] + col_red[lid + 64u]) + (col_red[lid + 128u] + col_red[lid + 192u]);
    if (pc.normed != 0u) { cpart[o + pc.N] = (col_red[256u + lid] + col_red[320u + lid]) + (col_red[384u + lid] + col_red[448u + lid]); }
  }
}

struct PartialParams { N: u32, chunks: u32, stride: u32, o_out: u32, o_part: u32 }
@group(0) @binding(0) var<uniform> pp: PartialParams;
@group(0) @binding(1) var<storage, read_write> psum_out: array<f32>;
@group(0) @binding(2) var<storage, read_write> psum_part: array<f32>;

@compute @workgroup_size(64)
fn partial_sums(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  if (n >= pp.N) { return; }
  var s = 0.0;
  for (var y = 0u; y < pp.chunks; y++) { s += psum_part[pp.o_part + y * pp.stride + n]; }
  psum_out[pp.o_out + n] = psum_out[pp.o_out + n] + s;
}
