// Causal multi-head attention with a fused, online softmax (flash-style: the (T,T) matrix is never stored;
// the forward saves only the logsumexp per query row). Attention-probability dropout regenerates its mask
// from the counter-based RNG (common.wgsl), index ((b*NH + h)*T + t)*T + u as in the reference backend.
//
// Every kernel gives one workgroup of 64 invocations one row (one query, or one key in dK/dV): the
// invocations split the keys (queries) of a 64-wide chunk for the dot products, then split the head
// dimensions for the weighted sums. Each output element has exactly one owner: no atomics, deterministic.
// Head size up to HS_MAX.
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
  rows: u32, Tq: u32, NH: u32, hs: u32,
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
  let row = linear_id(wid, nwg);
  if (row >= pf.rows) { return; }
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
  rows: u32, T: u32, NH: u32, hs: u32,
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
  let row = linear_id(wid, nwg) * 64u + lid;
  if (row >= pg.rows) { return; }
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
  let row = linear_id(wid, nwg);
  if (row >= pg.rows) { return; }
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
  let krow = linear_id(wid, nwg);
  if (krow >= pg.rows) { return; }
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
