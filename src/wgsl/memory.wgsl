// fill and copy on raw 32-bit words, so one kernel serves f32 and i32 tensors alike; in the f16 variant,
// the moves in and out of half-precision tensors.
struct FillParams { n: u32, o_dst: u32, bits: u32 }
@group(0) @binding(0) var<uniform> pf: FillParams;
struct CopyParams { n: u32, o_dst: u32, o_src: u32 }
@group(0) @binding(0) var<uniform> p: CopyParams;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<storage, read_write> src: array<u32>;

// dst(n) = bits
@compute @workgroup_size(256)
fn fill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg) * 256u + lid;
  if (i < pf.n) { dst[pf.o_dst + i] = pf.bits; }
}

// dst(n) = src(n); a kernel rather than copyBufferToBuffer so it stays inside the open compute pass and works
// when dst and src are views into the same GPUBuffer.
@compute @workgroup_size(256)
fn copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg) * 256u + lid;
  if (i < p.n) { dst[p.o_dst + i] = src[p.o_src + i]; }
}

//#if f16
@group(0) @binding(1) var<storage, read_write> dst_h: array<f16>;
@group(0) @binding(2) var<storage, read_write> src_h: array<f16>;

// dst(n) = src(n) between f16 views at any element offset: write() uploads half bits rounded on the host
// into a scratch buffer (queue writes move whole 32-bit words), and this places them.
@compute @workgroup_size(256)
fn copy_f16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg) * 256u + lid;
  if (i < p.n) { dst_h[p.o_dst + i] = src_h[p.o_src + i]; }
}

@group(0) @binding(1) var<storage, read_write> dst_f: array<f32>;

// dst(n) f32 = src(n) f16, exactly: read() of an f16 tensor.
@compute @workgroup_size(256)
fn widen_f16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg) * 256u + lid;
  if (i < p.n) { dst_f[p.o_dst + i] = f32(src_h[p.o_src + i]); }
}
//#endif
