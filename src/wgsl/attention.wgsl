// Causal multi-head attention with a fused, online softmax (flash-style: the (T,T) matrix is never stored;
// the forward saves only the logsumexp per query row). Attention-probability dropout regenerates its mask
// from the counter-based RNG (common.wgsl), index ((b*NH + h)*T + t)*T + u as in the reference backend.
//
// Two sets of kernels; each output element has exactly one owner (no atomics, deterministic):
// - flash_* (head size up to 64; training and prefill): a workgroup takes a block of 16 queries (or, in
//   dK/dV, 16 keys) of one (b, h) and walks the keys (queries) in tiles kept in workgroup memory, so each
//   k, v (q, dout) row read from global memory serves 16 rows instead of one. Four invocations share a
//   row: each computes the scores of every fourth key of a tile and owns every fourth vec4 of the head's
//   dimensions. Tile rows are padded to 68 floats so the four rows read at once fall in distinct banks.
//   The backward is FlashAttention-2's: probabilities recomputed from the saved logsumexp, dQ by query
//   blocks and dK, dV by key blocks (two kernels instead of atomics).
// - attention_* (any head size up to HS_MAX; decoding, where a block would hold one query): one workgroup
//   of 64 invocations per row (one query, or one key in dK/dV): the invocations split the keys (queries)
//   of a 64-wide chunk for the dot products, then split the head dimensions for the weighted sums.
// Every kernel takes a range [first, first + count) of its rows or blocks, so the host can split long work
// into dispatches within the budget of src/backend/webgpu/cost.ts.
const WG: u32 = 64u;
const HS_MAX: u32 = 256u;
const NEG_BIG: f32 = -3.0e38;

var<workgroup> pa: array<f32, 64>;
var<workgroup> pb: array<f32, 64>;
var<workgroup> xs: array<f32, 256>;  // the row's own q (or k)
var<workgroup> ys: array<f32, 256>;  // the row's own dout (or v)
var<workgroup> acc: array<f32, 256>;
var<workgroup> acc2: array<f32, 256>;


// ---- forward (training: q, k, v all in qkv; inference: k, v from the KV cache) ------------------------
// Rows are (b, h, t) for t < Tq. Row r of q lives at o_q + b*q_bs + t*q_rs + h*hs (likewise k, v with their
// own strides), so the same kernel reads qkv (B,T,3C) or a cache (B,Tmax,C). Query t attends to keys
// 0..=pos0+t.
struct FwdParams {
  first: u32, count: u32, Tq: u32, NH: u32, hs: u32,
  o_q: u32, q_bs: u32, q_rs: u32,
  o_k: u32, k_bs: u32, k_rs: u32,
  o_v: u32, v_bs: u32, v_rs: u32,
  o_out: u32, o_lse: u32, pos0: u32,
  write_lse: u32, drop: u32, key: u32, thr: u32,
  inv_keep: f32, scale: f32, kv_in_q: u32,
}
@group(0) @binding(0) var<uniform> pf: FwdParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;
@group(0) @binding(3) var<storage, read_write> qb: array<f32>;
@group(0) @binding(4) var<storage, read_write> kb: array<f32>;
@group(0) @binding(5) var<storage, read_write> vb: array<f32>;

// Training reads k and v out of the same qkv binding as q (kv_in_q = 1): one buffer range may not be bound
// twice read_write. The KV-cache path binds the caches at 4 and 5.
fn ldk(i: u32) -> f32 {
  if (pf.kv_in_q != 0u) { return qb[i]; }
  return kb[i];
}
fn ldv(i: u32) -> f32 {
  if (pf.kv_in_q != 0u) { return qb[i]; }
  return vb[i];
}

// out (B,Tq,C) = softmax(q·kᵀ/sqrt(hs), causal) [∘ dropout] · v;  lse (B,NH,Tq) = logsumexp of each row.
@compute @workgroup_size(64)
fn attention_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = linear_id(wid, nwg);
  if (g >= pf.count) { return; }
  let row = pf.first + g;
  let t = row % pf.Tq;
  let bh = row / pf.Tq;
  let h = bh % pf.NH;
  let b = bh / pf.NH;
  let hs = pf.hs;
  let q0 = pf.o_q + b * pf.q_bs + t * pf.q_rs + h * hs;
  let k0 = pf.o_k + b * pf.k_bs + h * hs;
  let v0 = pf.o_v + b * pf.v_bs + h * hs;
  for (var i = lid; i < hs; i += WG) {
    xs[i] = qb[q0 + i] * pf.scale;
    acc[i] = 0.0;
  }
  workgroupBarrier();
  let last = pf.pos0 + t;
  let drow = row * pf.Tq; // dropout index base: ((b*NH + h)*T + t)*T (training: Tq = T, pos0 = 0)
  var m = NEG_BIG;
  var l = 0.0;
  for (var u0 = 0u; u0 <= last; u0 += WG) {
    let u = u0 + lid;
    var s = NEG_BIG;
    if (u <= last) {
      let kr = k0 + u * pf.k_rs;
      var d = 0.0;
      for (var i = 0u; i < hs; i++) { d = fma(xs[i], ldk(kr + i), d); }
      s = d;
    }
    let m_new = max(m, wg_max(s, lid));
    var e = 0.0;
    if (u <= last) { e = exp(s - m_new); }
    let corr = exp(m - m_new);
    l = l * corr + wg_sum(e, lid);
    if (pf.drop != 0u && u <= last) {
      e = select(0.0, e * pf.inv_keep, keep(pf.key, drow + u, pf.thr));
    }
    pa[lid] = e;
    workgroupBarrier();
    let n = min(WG, last + 1u - u0);
    for (var i = lid; i < hs; i += WG) {
      var a = acc[i] * corr;
      for (var j = 0u; j < n; j++) { a = fma(pa[j], ldv(v0 + (u0 + j) * pf.v_rs + i), a); }
      acc[i] = a;
    }
    m = m_new;
    workgroupBarrier();
  }
  let o0 = pf.o_out + (b * pf.Tq + t) * pf.NH * hs + h * hs;
  for (var i = lid; i < hs; i += WG) { out[o0 + i] = acc[i] / l; }
  if (lid == 0u && pf.write_lse != 0u) { lse[pf.o_lse + row] = m + log(l); }
}

// ---- KV cache write: kCache, vCache (B,Tmax,C) at pos0.. = k, v of qkv (B,Tn,3C) ---------------------
struct CacheParams { n: u32, Tn: u32, C: u32, Tmax: u32, pos0: u32, o_qkv: u32, o_k: u32, o_v: u32 }
@group(0) @binding(0) var<uniform> pc: CacheParams;
@group(0) @binding(1) var<storage, read_write> kc: array<f32>;
@group(0) @binding(2) var<storage, read_write> vc: array<f32>;
@group(0) @binding(3) var<storage, read_write> qkv_c: array<f32>;

@compute @workgroup_size(256)
fn kv_cache_write(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg) * 256u + lid;
  if (i >= pc.n) { return; }
  let c = i % pc.C;
  let bt = i / pc.C;
  let t = bt % pc.Tn;
  let b = bt / pc.Tn;
  let dst = (b * pc.Tmax + pc.pos0 + t) * pc.C + c;
  kc[pc.o_k + dst] = qkv_c[pc.o_qkv + bt * 3u * pc.C + pc.C + c];
  vc[pc.o_v + dst] = qkv_c[pc.o_qkv + bt * 3u * pc.C + 2u * pc.C + c];
}

// ---- backward ----------------------------------------------------------------------------------------
// With P = softmax(S), Pd = P ∘ mask/(1-p), out = Pd·v and D = dout·out per query row (= Σ_u Pd·dPd):
//   dv_u += Pd_tu dout_t;  dS_tu = P_tu (mask_tu/(1-p) · dout_t·v_u − D_t) · scale;
//   dq_t = Σ_u dS_tu k_u;  dk_u = Σ_t dS_tu q_t.
// dq is computed per query row, dk and dv per key row, so each is written once (dqkv is overwritten).
struct BwdParams {
  first: u32, count: u32, T: u32, NH: u32, hs: u32,
  o_dqkv: u32, o_lse: u32, o_qkv: u32, o_dout: u32,
  o_out: u32, o_D: u32, drop: u32, key: u32,
  thr: u32, inv_keep: f32, scale: f32,
}
@group(0) @binding(0) var<uniform> pg: BwdParams;
@group(0) @binding(1) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> lse_g: array<f32>;
@group(0) @binding(3) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(4) var<storage, read_write> dout: array<f32>;
@group(0) @binding(5) var<storage, read_write> dsum: array<f32>;  // D (B,NH,T), backend scratch
@group(0) @binding(6) var<storage, read_write> outf: array<f32>;

// D(B,NH,T) = Σ_i dout·out over the head's dims. One invocation per row.
@compute @workgroup_size(64)
fn attention_backward_d(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = linear_id(wid, nwg) * 64u + lid;
  if (g >= pg.count) { return; }
  let row = pg.first + g;
  let t = row % pg.T;
  let bh = row / pg.T;
  let h = bh % pg.NH;
  let b = bh / pg.NH;
  let y0 = (b * pg.T + t) * pg.NH * pg.hs + h * pg.hs;
  var d = 0.0;
  for (var i = 0u; i < pg.hs; i++) { d = fma(dout[pg.o_dout + y0 + i], outf[pg.o_out + y0 + i], d); }
  dsum[pg.o_D + row] = d;
}

// Element offsets of q, k, v of position (b, t), head h, inside qkv (B,T,3C) (add o_qkv or o_dqkv).
fn qkv_at(b: u32, t: u32, h: u32, which: u32) -> u32 {
  let C = pg.NH * pg.hs;
  return (b * pg.T + t) * 3u * C + which * C + h * pg.hs;
}

fn drop_scale(row: u32, u: u32) -> f32 {
  if (pg.drop == 0u) { return 1.0; }
  return select(0.0, pg.inv_keep, keep(pg.key, row * pg.T + u, pg.thr));
}

// dq of one query row (b,h,t): loops over keys u <= t in chunks of 64.
@compute @workgroup_size(64)
fn attention_backward_dq(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = linear_id(wid, nwg);
  if (g >= pg.count) { return; }
  let row = pg.first + g;
  let t = row % pg.T;
  let bh = row / pg.T;
  let h = bh % pg.NH;
  let b = bh / pg.NH;
  let hs = pg.hs;
  let q0 = pg.o_qkv + qkv_at(b, t, h, 0u);
  let y0 = pg.o_dout + (b * pg.T + t) * pg.NH * hs + h * hs;
  for (var i = lid; i < hs; i += WG) {
    xs[i] = qkv[q0 + i];
    ys[i] = dout[y0 + i];
    acc[i] = 0.0;
  }
  workgroupBarrier();
  let L = lse_g[pg.o_lse + row];
  let D = dsum[pg.o_D + row];
  for (var u0 = 0u; u0 <= t; u0 += WG) {
    let u = u0 + lid;
    var ds = 0.0;
    if (u <= t) {
      let k0 = pg.o_qkv + qkv_at(b, u, h, 1u);
      let v0 = pg.o_qkv + qkv_at(b, u, h, 2u);
      var s = 0.0;
      var dpd = 0.0;
      for (var i = 0u; i < hs; i++) {
        s = fma(xs[i], qkv[k0 + i], s);
        dpd = fma(ys[i], qkv[v0 + i], dpd);
      }
      let pr = exp(s * pg.scale - L);
      ds = pr * (dpd * drop_scale(row, u) - D) * pg.scale;
    }
    pa[lid] = ds;
    workgroupBarrier();
    let n = min(WG, t + 1u - u0);
    for (var i = lid; i < hs; i += WG) {
      var a = acc[i];
      for (var j = 0u; j < n; j++) { a = fma(pa[j], qkv[pg.o_qkv + qkv_at(b, u0 + j, h, 1u) + i], a); }
      acc[i] = a;
    }
    workgroupBarrier();
  }
  let dq0 = pg.o_dqkv + qkv_at(b, t, h, 0u);
  for (var i = lid; i < hs; i += WG) { dqkv[dq0 + i] = acc[i]; }
}

// dk and dv of one key row (b,h,u): loops over queries t >= u in chunks of 64.
@compute @workgroup_size(64)
fn attention_backward_dkv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = linear_id(wid, nwg);
  if (g >= pg.count) { return; }
  let krow = pg.first + g;
  let u = krow % pg.T;
  let bh = krow / pg.T;
  let h = bh % pg.NH;
  let b = bh / pg.NH;
  let hs = pg.hs;
  let k0 = pg.o_qkv + qkv_at(b, u, h, 1u);
  let v0 = pg.o_qkv + qkv_at(b, u, h, 2u);
  for (var i = lid; i < hs; i += WG) {
    xs[i] = qkv[k0 + i];
    ys[i] = qkv[v0 + i];
    acc[i] = 0.0;
    acc2[i] = 0.0;
  }
  workgroupBarrier();
  for (var t0 = u; t0 < pg.T; t0 += WG) {
    let t = t0 + lid;
    var pdv = 0.0;
    var ds = 0.0;
    if (t < pg.T) {
      let qrow = bh * pg.T + t;
      let q0 = pg.o_qkv + qkv_at(b, t, h, 0u);
      let y0 = pg.o_dout + (b * pg.T + t) * pg.NH * hs + h * hs;
      var s = 0.0;
      var dpd = 0.0;
      for (var i = 0u; i < hs; i++) {
        s = fma(qkv[q0 + i], xs[i], s);
        dpd = fma(dout[y0 + i], ys[i], dpd);
      }
      let pr = exp(s * pg.scale - lse_g[pg.o_lse + qrow]);
      let mk = drop_scale(qrow, u);
      pdv = pr * mk;
      ds = pr * (dpd * mk - dsum[pg.o_D + qrow]) * pg.scale;
    }
    pa[lid] = pdv;
    pb[lid] = ds;
    workgroupBarrier();
    let n = min(WG, pg.T - t0);
    for (var i = lid; i < hs; i += WG) {
      var dv = acc[i];
      var dk = acc2[i];
      for (var j = 0u; j < n; j++) {
        let tj = t0 + j;
        dv = fma(pa[j], dout[pg.o_dout + (b * pg.T + tj) * pg.NH * hs + h * hs + i], dv);
        dk = fma(pb[j], qkv[pg.o_qkv + qkv_at(b, tj, h, 0u) + i], dk);
      }
      acc[i] = dv;
      acc2[i] = dk;
    }
    workgroupBarrier();
  }
  let dk0 = pg.o_dqkv + qkv_at(b, u, h, 1u);
  let dv0 = pg.o_dqkv + qkv_at(b, u, h, 2u);
  for (var i = lid; i < hs; i += WG) {
    dqkv[dk0 + i] = acc2[i];
    dqkv[dv0 + i] = acc[i];
  }
}

// ---- flash forward: 16 queries of one (b, h) per workgroup, keys in tiles of 16 ----------------------
const FQ: u32 = 16u;  // queries per block
const FR: u32 = 17u;  // padded tile row, in vec4s (68 floats: rows read together start 4 banks apart)
var<workgroup> f_k: array<vec4<f32>, 272>;  // [16][FR] keys of the tile
var<workgroup> f_v: array<vec4<f32>, 272>;  // [16][FR]
var<workgroup> f_p: array<f32, 256>;        // [FQ][16] probabilities (after dropout) of the tile
var<workgroup> f_red: array<f32, 64>;       // one value per invocation, combined by quads

/** Block `blk` of 16 rows in the (b, h)-major order of rows of T positions: its (b, h), and first position */
struct Block { bh: u32, p0: u32, h: u32, b: u32 }
fn block_at(blk: u32, T: u32, NH: u32) -> Block {
  let nb = (T + FQ - 1u) / FQ;
  let bh = blk / nb;
  return Block(bh, (blk % nb) * FQ, bh % NH, bh / NH);
}

/** the sum (or max) of a value over the four invocations of a quad (workgroup-uniform control flow) */
fn quad_combine(x: f32, lid: u32, take_max: bool) -> f32 {
  workgroupBarrier();
  f_red[lid] = x;
  workgroupBarrier();
  let q = lid & ~3u;
  if (take_max) { return max(max(f_red[q], f_red[q + 1u]), max(f_red[q + 2u], f_red[q + 3u])); }
  return (f_red[q] + f_red[q + 1u]) + (f_red[q + 2u] + f_red[q + 3u]);
}

// As attention_forward, for blocks [first, first + count) of 16 queries: block g of (b, h) covers queries
// 16g'.. with g' = g % ceil(Tq/16). Invocation lid serves query lid/4 of the block.
@compute @workgroup_size(64)
fn flash_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = linear_id(wid, nwg);
  if (g >= pf.count) { return; }
  let blk = block_at(pf.first + g, pf.Tq, pf.NH);
  let bh = blk.bh;
  let t0 = blk.p0;
  let h = blk.h;
  let b = blk.b;
  let hs = pf.hs;
  let n4 = (hs + 3u) / 4u;
  let qi = lid / 4u;
  let s = lid % 4u;
  let t = t0 + qi;
  let live = t < pf.Tq;
  let row = bh * pf.Tq + t;
  var q: array<vec4<f32>, 16>;
  if (live) {
    let q0 = pf.o_q + b * pf.q_bs + t * pf.q_rs + h * hs;
    for (var i = 0u; i < hs; i++) { q[i / 4u][i % 4u] = qb[q0 + i] * pf.scale; }
  }
  let k0 = pf.o_k + b * pf.k_bs + h * hs;
  let v0 = pf.o_v + b * pf.v_bs + h * hs;
  let last_key = pf.pos0 + min(t0 + FQ, pf.Tq) - 1u; // the block's last query sees keys 0..=last_key
  var o: array<vec4<f32>, 4>; // dims 4(s + 4c)..+3
  var m = NEG_BIG;
  var l = 0.0; // this invocation's part of the row sum (its keys), combined at the end
  for (var u0 = 0u; u0 <= last_key; u0 += 16u) {
    for (var e = lid; e < 1024u; e += 64u) {
      let j = e / 64u;
      let d = e % 64u;
      let u = u0 + j;
      var kx = 0.0;
      var vx = 0.0;
      if (d < hs && u <= last_key) {
        kx = ldk(k0 + u * pf.k_rs + d);
        vx = ldv(v0 + u * pf.v_rs + d);
      }
      f_k[j * FR + d / 4u][d % 4u] = kx;
      f_v[j * FR + d / 4u][d % 4u] = vx;
    }
    workgroupBarrier();
    var sc: array<f32, 4>;
    var mx = NEG_BIG;
    for (var r = 0u; r < 4u; r++) {
      let j = s + 4u * r;
      var x = NEG_BIG;
      if (live && u0 + j <= pf.pos0 + t) {
        var d4 = vec4<f32>(0.0);
        for (var i = 0u; i < n4; i++) { d4 = fma(q[i], f_k[j * FR + i], d4); }
        x = (d4.x + d4.y) + (d4.z + d4.w);
      }
      sc[r] = x;
      mx = max(mx, x);
    }
    let m_new = max(m, quad_combine(mx, lid, true));
    let corr = exp(m - m_new);
    l *= corr;
    for (var r = 0u; r < 4u; r++) {
      let j = s + 4u * r;
      var e = 0.0;
      if (sc[r] > NEG_BIG) { e = exp(sc[r] - m_new); }
      l += e;
      if (pf.drop != 0u && e > 0.0) { e = select(0.0, e * pf.inv_keep, keep(pf.key, row * pf.Tq + u0 + j, pf.thr)); }
      f_p[qi * 16u + j] = e;
    }
    m = m_new;
    for (var c = 0u; c < 4u; c++) { o[c] *= corr; }
    workgroupBarrier();
    for (var j = 0u; j < 16u; j++) {
      let pj = vec4<f32>(f_p[qi * 16u + j]);
      for (var c = 0u; c < 4u; c++) { o[c] = fma(pj, f_v[j * FR + s + 4u * c], o[c]); }
    }
    workgroupBarrier();
  }
  let lt = quad_combine(l, lid, false);
  if (!live) { return; }
  let o0 = pf.o_out + (b * pf.Tq + t) * pf.NH * hs + h * hs;
  for (var c = 0u; c < 4u; c++) {
    for (var k = 0u; k < 4u; k++) {
      let d = 4u * (s + 4u * c) + k;
      if (d < hs) { out[o0 + d] = o[c][k] / lt; }
    }
  }
  if (s == 0u && pf.write_lse != 0u) { lse[pf.o_lse + row] = m + log(lt); }
}

// ---- flash backward ------------------------------------------------------------------------------------
// One (query t, key u) pair: P = exp(q·k·scale - lse_t), the dropout factor, Pd = P·mask/(1-p), and
// dS = P (mask/(1-p) · dout·v - D_t) · scale; zero where the pair is masked (u > t) or t is past T.
fn pair_grads(qk: f32, dv: f32, lse_t: f32, d_t: f32, qrow: u32, u: u32, valid: bool) -> vec2<f32> {
  if (!valid) { return vec2<f32>(0.0); }
  let pr = exp(qk * pg.scale - lse_t);
  let mk = drop_scale(qrow, u);
  return vec2<f32>(pr * mk, pr * (dv * mk - d_t) * pg.scale);
}

var<workgroup> b_x: array<vec4<f32>, 272>;  // [16][FR] the block's own rows: q (dQ) or k (dK, dV)
var<workgroup> b_y: array<vec4<f32>, 272>;  // [16][FR] dout (dQ) or v (dK, dV)
var<workgroup> b_tx: array<vec4<f32>, 136>; // [8][FR] tile: k (dQ) or q (dK, dV)
var<workgroup> b_ty: array<vec4<f32>, 136>; // [8][FR] tile: v (dQ) or dout (dK, dV)
var<workgroup> b_pd: array<f32, 128>;       // [16][8] Pd of the block's rows × the tile's
var<workgroup> b_ds: array<f32, 128>;       // [16][8] dS
var<workgroup> b_ld: array<f32, 16>;        // lse (0..7) and D (8..15) of the tile's queries (dK, dV)

// row xi of b_x · row yi of b_tx, and likewise b_y · b_ty (first n4 vec4s)
fn dot_x(xi: u32, yi: u32, n4: u32) -> f32 {
  var d4 = vec4<f32>(0.0);
  for (var i = 0u; i < n4; i++) { d4 = fma(b_x[xi * FR + i], b_tx[yi * FR + i], d4); }
  return (d4.x + d4.y) + (d4.z + d4.w);
}
fn dot_y(xi: u32, yi: u32, n4: u32) -> f32 {
  var d4 = vec4<f32>(0.0);
  for (var i = 0u; i < n4; i++) { d4 = fma(b_y[xi * FR + i], b_ty[yi * FR + i], d4); }
  return (d4.x + d4.y) + (d4.z + d4.w);
}

// dimension d of position t, head h of qkv part `which` (0 q, 1 k, 2 v) or of dout (3); 0 past hs or T
fn row_elem(b: u32, h: u32, t: u32, d: u32, which: u32) -> f32 {
  if (d >= pg.hs || t >= pg.T) { return 0.0; }
  if (which == 3u) { return dout[pg.o_dout + (b * pg.T + t) * pg.NH * pg.hs + h * pg.hs + d]; }
  return qkv[pg.o_qkv + qkv_at(b, t, h, which) + d];
}

// The block's 16 rows into b_x, b_y (parts wx, wy of row_elem) and a tile's 8 rows into b_tx, b_ty,
// from position p0 of (b, h)
fn load_block(b: u32, h: u32, p0: u32, wx: u32, wy: u32, lid: u32) {
  for (var e = lid; e < 1024u; e += 64u) {
    b_x[(e / 64u) * FR + (e % 64u) / 4u][e % 4u] = row_elem(b, h, p0 + e / 64u, e % 64u, wx);
    b_y[(e / 64u) * FR + (e % 64u) / 4u][e % 4u] = row_elem(b, h, p0 + e / 64u, e % 64u, wy);
  }
}
fn load_tile(b: u32, h: u32, p0: u32, wx: u32, wy: u32, lid: u32) {
  for (var e = lid; e < 512u; e += 64u) {
    b_tx[(e / 64u) * FR + (e % 64u) / 4u][e % 4u] = row_elem(b, h, p0 + e / 64u, e % 64u, wx);
    b_ty[(e / 64u) * FR + (e % 64u) / 4u][e % 4u] = row_elem(b, h, p0 + e / 64u, e % 64u, wy);
  }
}

// dq for blocks [first, first + count) of 16 queries; keys in tiles of 8.
@compute @workgroup_size(64)
fn flash_backward_dq(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = linear_id(wid, nwg);
  if (g >= pg.count) { return; }
  let blk = block_at(pg.first + g, pg.T, pg.NH);
  let bh = blk.bh;
  let t0 = blk.p0;
  let n4 = (pg.hs + 3u) / 4u;
  let qi = lid / 4u;
  let s = lid % 4u;
  let t = t0 + qi;
  let live = t < pg.T;
  let qrow = bh * pg.T + t;
  var lse_t = 0.0;
  var d_t = 0.0;
  if (live) {
    lse_t = lse_g[pg.o_lse + qrow];
    d_t = dsum[pg.o_D + qrow];
  }
  load_block(blk.b, blk.h, t0, 0u, 3u, lid); // q, dout
  var dq: array<vec4<f32>, 4>;
  let last_key = min(t0 + FQ, pg.T) - 1u;
  for (var u0 = 0u; u0 <= last_key; u0 += 8u) {
    workgroupBarrier();
    load_tile(blk.b, blk.h, u0, 1u, 2u, lid); // k, v
    workgroupBarrier();
    for (var r = 0u; r < 2u; r++) {
      let j = s + 4u * r;
      let u = u0 + j;
      let valid = live && u <= t;
      var qk = 0.0;
      var dv = 0.0;
      if (valid) {
        qk = dot_x(qi, j, n4);
        dv = dot_y(qi, j, n4);
      }
      b_ds[qi * 8u + j] = pair_grads(qk, dv, lse_t, d_t, qrow, u, valid).y;
    }
    workgroupBarrier();
    for (var j = 0u; j < 8u; j++) {
      let ds = vec4<f32>(b_ds[qi * 8u + j]);
      for (var c = 0u; c < 4u; c++) { dq[c] = fma(ds, b_tx[j * FR + s + 4u * c], dq[c]); }
    }
  }
  if (!live) { return; }
  let dq0 = pg.o_dqkv + qkv_at(blk.b, t, blk.h, 0u);
  for (var c = 0u; c < 4u; c++) {
    for (var k = 0u; k < 4u; k++) {
      let d = 4u * (s + 4u * c) + k;
      if (d < pg.hs) { dqkv[dq0 + d] = dq[c][k]; }
    }
  }
}

// dk and dv for blocks [first, first + count) of 16 keys; queries (from the block's first key on) in
// tiles of 8. Invocation lid serves key lid/4 of the block.
@compute @workgroup_size(64)
fn flash_backward_dkv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = linear_id(wid, nwg);
  if (g >= pg.count) { return; }
  let blk = block_at(pg.first + g, pg.T, pg.NH);
  let bh = blk.bh;
  let u0 = blk.p0;
  let n4 = (pg.hs + 3u) / 4u;
  let kj = lid / 4u;
  let s = lid % 4u;
  let u = u0 + kj;
  let live = u < pg.T;
  load_block(blk.b, blk.h, u0, 1u, 2u, lid); // k, v
  var dk: array<vec4<f32>, 4>;
  var dv: array<vec4<f32>, 4>;
  for (var q0 = u0; q0 < pg.T; q0 += 8u) {
    workgroupBarrier();
    load_tile(blk.b, blk.h, q0, 0u, 3u, lid); // q, dout
    if (lid < 16u) {
      let t = q0 + lid % 8u;
      var x = 0.0;
      if (t < pg.T) {
        if (lid < 8u) { x = lse_g[pg.o_lse + bh * pg.T + t]; } else { x = dsum[pg.o_D + bh * pg.T + t]; }
      }
      b_ld[lid] = x;
    }
    workgroupBarrier();
    for (var r = 0u; r < 2u; r++) {
      let i = s + 4u * r;
      let t = q0 + i;
      let valid = live && t < pg.T && u <= t;
      var qk = 0.0;
      var dpd = 0.0;
      if (valid) {
        qk = dot_x(kj, i, n4);
        dpd = dot_y(kj, i, n4);
      }
      let gr = pair_grads(qk, dpd, b_ld[i], b_ld[8u + i], bh * pg.T + t, u, valid);
      b_pd[kj * 8u + i] = gr.x;
      b_ds[kj * 8u + i] = gr.y;
    }
    workgroupBarrier();
    for (var i = 0u; i < 8u; i++) {
      let pd = vec4<f32>(b_pd[kj * 8u + i]);
      let ds = vec4<f32>(b_ds[kj * 8u + i]);
      for (var c = 0u; c < 4u; c++) {
        dv[c] = fma(pd, b_ty[i * FR + s + 4u * c], dv[c]);
        dk[c] = fma(ds, b_tx[i * FR + s + 4u * c], dk[c]);
      }
    }
  }
  if (!live) { return; }
  let dk0 = pg.o_dqkv + qkv_at(blk.b, u, blk.h, 1u);
  let dv0 = pg.o_dqkv + qkv_at(blk.b, u, blk.h, 2u);
  for (var c = 0u; c < 4u; c++) {
    for (var k = 0u; k < 4u; k++) {
      let d = 4u * (s + 4u * c) + k;
      if (d < pg.hs) {
        dqkv[dk0 + d] = dk[c][k];
        dqkv[dv0 + d] = dv[c][k];
      }
    }
  }
}

// ---- continuous batching (Backend.attentionRagged): N tokens of several sequences, each in its own cache
// slot. sp (N,2) i32 holds each token's slot and absolute position; the caches are (S,Tmax,C). First
// kv_cache_write_ragged writes every token's k and v; then attention_ragged gives each (token, head) row a
// workgroup, as attention_forward does, over positions 0..=pos of the token's slot.
struct RaggedParams { N: u32, C: u32, NH: u32, hs: u32, Tmax: u32, o_qkv: u32, o_k: u32, o_v: u32, o_sp: u32, o_out: u32, scale: f32 }
@group(0) @binding(0) var<uniform> pr: RaggedParams;
@group(0) @binding(1) var<storage, read_write> kc_r: array<f32>;
@group(0) @binding(2) var<storage, read_write> vc_r: array<f32>;
@group(0) @binding(3) var<storage, read_write> qkv_r: array<f32>;
@group(0) @binding(4) var<storage, read_write> sp_r: array<i32>;

@compute @workgroup_size(256)
fn kv_cache_write_ragged(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg) * 256u + lid;
  if (i >= pr.N * pr.C) { return; }
  let c = i % pr.C;
  let n = i / pr.C;
  let dst = (u32(sp_r[pr.o_sp + 2u * n]) * pr.Tmax + u32(sp_r[pr.o_sp + 2u * n + 1u])) * pr.C + c;
  kc_r[pr.o_k + dst] = qkv_r[pr.o_qkv + n * 3u * pr.C + pr.C + c];
  vc_r[pr.o_v + dst] = qkv_r[pr.o_qkv + n * 3u * pr.C + 2u * pr.C + c];
}

@group(0) @binding(1) var<storage, read_write> out_r: array<f32>;
@group(0) @binding(2) var<storage, read_write> q_r: array<f32>;
@group(0) @binding(3) var<storage, read_write> k_r: array<f32>;
@group(0) @binding(4) var<storage, read_write> v_r: array<f32>;
@group(0) @binding(5) var<storage, read_write> spa_r: array<i32>;
var<workgroup> ragged_row: vec2<u32>; // the row's slot and position, made uniform for the loop's barriers

@compute @workgroup_size(64)
fn attention_ragged(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = linear_id(wid, nwg);
  if (row >= pr.N * pr.NH) { return; }
  let n = row / pr.NH;
  let h = row % pr.NH;
  let hs = pr.hs;
  if (lid == 0u) { ragged_row = vec2<u32>(u32(spa_r[pr.o_sp + 2u * n]), u32(spa_r[pr.o_sp + 2u * n + 1u])); }
  let sp = workgroupUniformLoad(&ragged_row);
  let last = sp.y;
  let q0 = pr.o_qkv + n * 3u * pr.C + h * hs;
  let k0 = pr.o_k + sp.x * pr.Tmax * pr.C + h * hs;
  let v0 = pr.o_v + sp.x * pr.Tmax * pr.C + h * hs;
  for (var i = lid; i < hs; i += WG) {
    xs[i] = q_r[q0 + i] * pr.scale;
    acc[i] = 0.0;
  }
  workgroupBarrier();
  var m = NEG_BIG;
  var l = 0.0;
  for (var u0 = 0u; u0 <= last; u0 += WG) {
    let u = u0 + lid;
    var s = NEG_BIG;
    if (u <= last) {
      let kr = k0 + u * pr.C;
      var d = 0.0;
      for (var i = 0u; i < hs; i++) { d = fma(xs[i], k_r[kr + i], d); }
      s = d;
    }
    let m_new = max(m, wg_max(s, lid));
    var e = 0.0;
    if (u <= last) { e = exp(s - m_new); }
    let corr = exp(m - m_new);
    l = l * corr + wg_sum(e, lid);
    pa[lid] = e;
    workgroupBarrier();
    let cnt = min(WG, last + 1u - u0);
    for (var i = lid; i < hs; i += WG) {
      var a = acc[i] * corr;
      for (var j = 0u; j < cnt; j++) { a = fma(pa[j], v_r[v0 + (u0 + j) * pr.C + i], a); }
      acc[i] = a;
    }
    m = m_new;
    workgroupBarrier();
  }
  let o0 = pr.o_out + n * pr.C + h * hs;
  for (var i = lid; i < hs; i += WG) { out_r[o0 + i] = acc[i] / l; }
}
