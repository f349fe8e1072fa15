// Embedding and row ops: encoder (token + position) gather, its backward, and the task-head row
// gather/scatter-add. WGSL has no f32 atomics, so scatter-adds are made deterministic with a linking pass:
// rows_link gives every source row r the next r' > r with the same destination (or -1) and marks the first
// one; rows_scatter_add lets that first row own the destination and sum its chain in index order.
// A table split across buffers (a token embedding larger than one storage binding) is passed one part at a
// time: rows [lo, hi) of the table are in this part; rows outside it are left to the other parts' dispatches.
struct Params { n: u32, R: u32, C: u32, T: u32, o_out: u32, o_a: u32, o_b: u32, o_c: u32, pos0: u32, B: u32, lo: u32, hi: u32 }
@group(0) @binding(0) var<uniform> p: Params;

@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> ids: array<i32>;
@group(0) @binding(3) var<storage, read_write> wte: array<WT>; // f16 in the f16-weights variant
@group(0) @binding(4) var<storage, read_write> wpe: array<f32>;

// out(B,T,C) = wte[ids[b,t]] + wpe[pos0 + t]. o_out, o_a: ids, o_b: wte, o_c: wpe. n = B*T*C.
@compute @workgroup_size(256)
fn encoder_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg) * 256u + lid;
  if (i >= p.n) { return; }
  let c = i % p.C;
  let bt = i / p.C;
  let tok = u32(ids[p.o_a + bt]);
  if (tok < p.lo || tok >= p.hi) { return; }
  let pos = p.pos0 + bt % p.T;
  out[p.o_out + i] = f32(wte[p.o_b + (tok - p.lo) * p.C + c]) + wpe[p.o_c + pos * p.C + c];
}

@group(0) @binding(1) var<storage, read_write> dwpe: array<f32>;
@group(0) @binding(2) var<storage, read_write> dout: array<f32>;

// dwpe(T,C) += Σ_b dout[b,t]. One invocation per (t, c). o_out: dwpe, o_a: dout. n = T*C.
@compute @workgroup_size(256)
fn encoder_backward_wpe(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg) * 256u + lid;
  if (i >= p.n) { return; }
  var s = 0.0;
  for (var b = 0u; b < p.B; b++) { s += dout[p.o_a + b * p.T * p.C + i]; }
  dwpe[p.o_out + i] = dwpe[p.o_out + i] + s;
}

@group(0) @binding(1) var<storage, read_write> link: array<i32>;
@group(0) @binding(2) var<storage, read_write> idx: array<i32>;

// link[r] = next r' > r with idx[r'] == idx[r], or -1; link[R + r] = 1 if r is the first with its idx.
// O(R) per invocation: R is B*T tokens (or a few task-head rows), fine at these sizes.
// o_out: link (scratch, 2R), o_a: idx.
@compute @workgroup_size(64)
fn rows_link(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = linear_id(wid, nwg) * 64u + lid;
  if (r >= p.R) { return; }
  let me = idx[p.o_a + r];
  var first = 1;
  for (var j = 0u; j < r; j++) {
    if (idx[p.o_a + j] == me) { first = 0; break; }
  }
  var next = -1;
  for (var j = r + 1u; j < p.R; j++) {
    if (idx[p.o_a + j] == me) { next = i32(j); break; }
  }
  link[p.o_out + r] = next;
  link[p.o_out + p.R + r] = first;
}

@group(0) @binding(1) var<storage, read_write> dinp: array<f32>;
@group(0) @binding(2) var<storage, read_write> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> sidx: array<i32>;
@group(0) @binding(4) var<storage, read_write> slink: array<i32>;

// dinp[idx[r]] += src[r] for rows of C, one owner per destination row (see rows_link).
// o_out: dinp, o_a: src, o_b: idx, o_c: link. n = R*C.
@compute @workgroup_size(256)
fn rows_scatter_add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg) * 256u + lid;
  if (i >= p.n) { return; }
  let c = i % p.C;
  let r = i / p.C;
  if (slink[p.o_c + p.R + r] == 0) { return; }
  let row = u32(sidx[p.o_b + r]);
  if (row < p.lo || row >= p.hi) { return; }
  var s = 0.0;
  var j = i32(r);
  loop {
    s += src[p.o_a + u32(j) * p.C + c];
    j = slink[p.o_c + u32(j)];
    if (j < 0) { break; }
  }
  let d = p.o_out + (row - p.lo) * p.C + c;
  dinp[d] = dinp[d] + s;
}

@group(0) @binding(1) var<storage, read_write> gout: array<f32>;
@group(0) @binding(2) var<storage, read_write> ginp: array<f32>;
@group(0) @binding(3) var<storage, read_write> gidx: array<i32>;

// out(R,C) = inp[idx[r]] for the rows [lo, hi) of inp. o_out, o_a: inp, o_b: idx. n = R*C.
@compute @workgroup_size(256)
fn gather_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg) * 256u + lid;
  if (i >= p.n) { return; }
  let c = i % p.C;
  let r = i / p.C;
  let row = u32(gidx[p.o_b + r]);
  if (row < p.lo || row >= p.hi) { return; }
  gout[p.o_out + i] = ginp[p.o_a + (row - p.lo) * p.C + c];
}
