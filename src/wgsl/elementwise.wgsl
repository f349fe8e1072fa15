// Elementwise ops: GELU (tanh form) forward/backward, residual, accumulate, dropout.
// One invocation per element; 256 per workgroup (SwiftShader's maximum).
struct ElementwiseParams { n: u32, o_out: u32, o_a: u32, o_b: u32, s: f32, key: u32, thr: u32, inplace: u32 }
@group(0) @binding(0) var<uniform> p: ElementwiseParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> a: array<f32>;
@group(0) @binding(3) var<storage, read_write> b: array<f32>;

// Input `a`, or `out` itself for the op documented as in-place (dropout): a buffer range may not be
// bound twice writable (Dawn rejects overlapping read_write bindings), so in place binds `out` alone.
fn lda(i: u32) -> f32 {
  if (p.inplace != 0u) { return out[p.o_out + i]; }
  return a[p.o_a + i];
}

const GELU_K: f32 = 0.7978845608028654; // sqrt(2/pi)

// tanh of a clamped argument: some implementations compute tanh through exp and return NaN for large |u|;
// tanh(±10) is already ±1 in f32.
fn tanh_safe(u: f32) -> f32 {
  return tanh(clamp(u, -10.0, 10.0));
}

// out(N) = gelu(a)
@compute @workgroup_size(256)
fn gelu_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg) * 256u + lid;
  if (i >= p.n) { return; }
  let x = a[p.o_a + i];
  out[p.o_out + i] = 0.5 * x * (1.0 + tanh_safe(GELU_K * (x + 0.044715 * x * x * x)));
}

// out(N) += gelu'(a) * b   (a = the forward's input, b = dout; accumulate)
@compute @workgroup_size(256)
fn gelu_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg) * 256u + lid;
  if (i >= p.n) { return; }
  let x = a[p.o_a + i];
  let th = tanh_safe(GELU_K * (x + 0.044715 * x * x * x));
  let du = GELU_K * (1.0 + 3.0 * 0.044715 * x * x);
  let g = 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * du;
  out[p.o_out + i] = out[p.o_out + i] + b[p.o_b + i] * g;
}

// out(N) = a + b
@compute @workgroup_size(256)
fn residual_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg) * 256u + lid;
  if (i >= p.n) { return; }
  out[p.o_out + i] = a[p.o_a + i] + b[p.o_b + i];
}

// out(N) += a   (the residual's backward; gradient accumulation)
@compute @workgroup_size(256)
fn accumulate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg) * 256u + lid;
  if (i >= p.n) { return; }
  out[p.o_out + i] = out[p.o_out + i] + a[p.o_a + i];
}

// out(N) = keep(i) ? a * s : 0, s = 1/(1-p). Forward and backward alike (the mask is regenerated, not stored).
@compute @workgroup_size(256)
fn dropout(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg) * 256u + lid;
  if (i >= p.n) { return; }
  let x = lda(i);
  out[p.o_out + i] = select(0.0, x * p.s, keep(p.key, i, p.thr));
}
