// Embedding and row ops: encoder (token + position) gather, its backward, and the task-head row
// gather/scatter-add. WGSL has no f32 atomics, so scatter-adds are made deterministic with a linking pass:
// rows_link gives every source row r the next r' > r with the same destination (or -1) and marks the first
// one; rows_scatter_add lets that first row own the destination and sum its chain in index order.
// A table split across buffers (a token embedding larger than one storage binding) is passed one part at a
// time: rows [lo, hi) of the table are in this part; rows outside it are left to the other parts' dispatches.
struct EncoderParams { n: u32, C: u32, T: u32, o_out: u32, o_ids: u32, o_wte: u32, o_wpe: u32, pos0: u32, lo: u32, hi: u32 }
@group(0) @binding(0) var<uniform> pe: EncoderParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> ids: array<i32>;
@group(0) @binding(3) var<storage, read_write> wte: array<WT>; // f16 in the f16-weights variant
@group(0) @binding(4) var<storage, read_write> wpe: array<f32>;

// out(B,T,C) = wte[ids[b,t]] + wpe[pos0 + t]. n = B*T*C.
@compute @workgroup_size(256)
fn encoder_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg) * 256u + lid;
  if (i >= pe.n) { return; }
  let c = i % pe.C;
  let bt = i / pe.C;
  let tok = u32(ids[pe.o_ids + bt]);
  if (tok < pe.lo || tok >= pe.hi) { return; }
  let pos = pe.pos0 + bt % pe.T;
  out[pe.o_out + i] = f32(wte[pe.o_wte + (tok - pe.lo) * pe.C + c]) + wpe[pe.o_wpe + pos * pe.C + c];
}

struct WpeParams { n: u32, C: u32, T: u32, B: u32, o_dwpe: u32, o_dout: u32 }
@group(0) @binding(0) var<uniform> pw: WpeParams;
@group(0) @binding(1) var<storage, read_write> dwpe: array<f32>;
@group(0) @binding(2) var<storage, read_write> dout: array<f32>;

// dwpe(T,C) += Σ_b dout[b,t]. One invocation per (t, c). n = T*C.
@compute @workgroup_size(256)
fn encoder_backward_wpe(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg) * 256u + lid;
  if (i >= pw.n) { return; }
  var s = 0.0;
  for (var b = 0u; b < pw.B; b++) { s += dout[pw.o_dout + b * pw.T * pw.C + i]; }
  dwpe[pw.o_dwpe + i] = dwpe[pw.o_dwpe + i] + s;
}

struct LinkParams { R: u32, o_link: u32, o_idx: u32 }
@group(0) @binding(0) var<uniform> pl: LinkParams;
@group(0) @binding(1) var<storage, read_write> link: array<i32>;
@group(0) @binding(2) var<storage, read_write> idx: array<i32>;

// link[r] = next r' > r with idx[r'] == idx[r], or -1; link[R + r] = 1 if r is the first with its idx.
// O(R) per invocation: R is B*T tokens (or a few task-head rows), fine at these sizes. link: scratch (2R).
@compute @workgroup_size(64)
fn rows_link(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = linear_id(wid, nwg) * 64u + lid;
  if (r >= pl.R) { return; }
  let me = idx[pl.o_idx + r];
  var first = 1;
  for (var j = 0u; j < r; j++) {
    if (idx[pl.o_idx + j] == me) { first = 0; break; }
  }
  var next = -1;
  for (var j = r + 1u; j < pl.R; j++) {
    if (idx[pl.o_idx + j] == me) { next = i32(j); break; }
  }
  link[pl.o_link + r] = next;
  link[pl.o_link + pl.R + r] = first;
}

struct ScatterParams { n: u32, R: u32, C: u32, o_dinp: u32, o_src: u32, o_idx: u32, o_link: u32, lo: u32, hi: u32 }
@group(0) @binding(0) var<uniform> psc: ScatterParams;
@group(0) @binding(1) var<storage, read_write> dinp: array<f32>;
@group(0) @binding(2) var<storage, read_write> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> sidx: array<i32>;
@group(0) @binding(4) var<storage, read_write> slink: array<i32>;

// dinp[idx[r]] += src[r] for rows of C, one owner per destination row (see rows_link). n = R*C.
@compute @workgroup_size(256)
fn rows_scatter_add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg) * 256u + lid;
  if (i >= psc.n) { return; }
  let c = i % psc.C;
  let r = i / psc.C;
  if (slink[psc.o_link + psc.R + r] == 0) { return; }
  let row = u32(sidx[psc.o_idx + r]);
  if (row < psc.lo || row >= psc.hi) { return; }
  var s = 0.0;
  var j = i32(r);
  loop {
    s += src[psc.o_src + u32(j) * psc.C + c];
    j = slink[psc.o_link + u32(j)];
    if (j < 0) { break; }
  }
  let d = psc.o_dinp + (row - psc.lo) * psc.C + c;
  dinp[d] = dinp[d] + s;
}

struct GatherParams { n: u32, C: u32, o_out: u32, o_inp: u32, o_idx: u32, lo: u32, hi: u32 }
@group(0) @binding(0) var<uniform> pg: GatherParams;
@group(0) @binding(1) var<storage, read_write> gout: array<f32>;
@group(0) @binding(2) var<storage, read_write> ginp: array<f32>;
@group(0) @binding(3) var<storage, read_write> gidx: array<i32>;

// out(R,C) = inp[idx[r]] for the rows [lo, hi) of inp. n = R*C.
@compute @workgroup_size(256)
fn gather_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg) * 256u + lid;
  if (i >= pg.n) { return; }
  let c = i % pg.C;
  let r = i / pg.C;
  let row = u32(gidx[pg.o_idx + r]);
  if (row < pg.lo || row >= pg.hi) { return; }
  gout[pg.o_out + i] = ginp[pg.o_inp + (row - pg.lo) * pg.C + c];
}
