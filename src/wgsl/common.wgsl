// Shared helpers, prepended to every module by the WebGPU backend (src/backend/webgpu/).
//
// Conventions of every kernel in src/wgsl/:
// - Binding 0 is a uniform `Params` struct (a 256-byte slot of one uniform buffer, dynamic offset); bindings
//   1.. are storage buffers, ALL declared read_write: WebGPU forbids a buffer bound read-only and writable in
//   one dispatch, and our tensors are views into shared arena buffers, so two operands often live in the same
//   GPUBuffer. Binding offsets would have to be 256-byte aligned, so tensors are addressed by element offsets
//   (`o_*` fields of Params) into whole-buffer bindings instead.
// - Large 1-D grids are dispatched as 2-D (x ≤ 65535) and linearised with `linear_id`.

// lowbias32, as mix32 in src/backend/rng.ts: u32 multiply wraps in WGSL exactly as Math.imul(...)>>>0 does.
fn mix32(x0: u32) -> u32 {
  var x = x0;
  x = x ^ (x >> 16u);
  x = x * 0x7feb352du;
  x = x ^ (x >> 15u);
  x = x * 0x846ca68bu;
  return x ^ (x >> 16u);
}

// keep(key, index, threshold) of src/backend/rng.ts; key = streamKey(seed, stream) is computed on the host.
fn keep(key: u32, index: u32, thr: u32) -> bool {
  return mix32(key + index) >= thr;
}

// WT: the element type of weight operands that may be stored in half precision (matmul's b, the token
// embedding). Loads convert with f32(...), so arithmetic is f32 in both variants.
//#if f16
alias WT = f16;
//#else
alias WT = f32;
//#endif

fn linear_id(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
}
