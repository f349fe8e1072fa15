// AdamW (decoupled weight decay) with optional global-norm clipping read on the device, and the sum of
// squares that feeds it (two deterministic passes: per-chunk partials, then one workgroup).
//
// Both are multi-tensor: one dispatch updates (sums) every tensor of a batch whose operands live in the
// same buffers. A table in storage lists the batch's tensors, each as two vec4<u32>:
//   [first chunk, length, param, grad] [m, v, weight decay (f32 bits), 0]   (adamw)
//   [first chunk, length, x, 0]                                            (sumsq_partial)
// with element offsets relative to the operand's own offset (o_param, ...). A workgroup takes one chunk
// of CHUNK elements and finds its tensor by binary search over the first chunks.
const WG: u32 = 256u;
const CHUNK: u32 = 4096u; // elements per workgroup (16 per invocation)

@group(0) @binding(6) var<storage, read_write> table: array<vec4<u32>>;

// the entry (index into the table, in units of `stride` vec4s) of the tensor holding chunk c
fn tensor_of(c: u32, tensors: u32, o_table: u32, stride: u32) -> u32 {
  var lo = 0u;
  var hi = tensors - 1u;
  while (lo < hi) {
    let mid = (lo + hi + 1u) / 2u;
    if (table[o_table / 4u + mid * stride].x <= c) { lo = mid; } else { hi = mid - 1u; }
  }
  return o_table / 4u + lo * stride;
}

struct AdamParams {
  tensors: u32, first: u32, count: u32,
  o_param: u32, o_grad: u32, o_m: u32, o_v: u32, o_norm: u32, o_table: u32, clip: u32,
  lr: f32, beta1: f32, beta2: f32, eps: f32, bc1: f32, bc2: f32, max_norm: f32,
}
@group(0) @binding(0) var<uniform> pa: AdamParams;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> normsq: array<f32>;

// w -= lr * (m̂ / (sqrt(v̂) + eps) + wd * w), the gradient first scaled by min(1, maxNorm/(‖g‖ + 1e-6)),
// for chunks [first, first + count) of the batch.
@compute @workgroup_size(256)
fn adamw(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = linear_id(wid, nwg);
  if (g >= pa.count) { return; }
  let c = pa.first + g;
  let e = tensor_of(c, pa.tensors, pa.o_table, 2u);
  let head = table[e];
  let tail = table[e + 1u];
  let wd = bitcast<f32>(tail.z);
  var gs = 1.0;
  if (pa.clip != 0u) { gs = min(1.0, pa.max_norm / (sqrt(normsq[pa.o_norm]) + 1e-6)); }
  let base = (c - head.x) * CHUNK;
  for (var k = lid; k < CHUNK; k += WG) {
    let i = base + k;
    if (i >= head.y) { break; }
    let gi = grad[pa.o_grad + head.w + i] * gs;
    let mo = pa.o_m + tail.x + i;
    let vo = pa.o_v + tail.y + i;
    let mi = pa.beta1 * m[mo] + (1.0 - pa.beta1) * gi;
    let vi = pa.beta2 * v[vo] + (1.0 - pa.beta2) * gi * gi;
    m[mo] = mi;
    v[vo] = vi;
    let po = pa.o_param + head.z + i;
    let w = param[po];
    param[po] = w - pa.lr * ((mi / pa.bc1) / (sqrt(vi / pa.bc2) + pa.eps) + wd * w);
  }
}

struct SumParams { tensors: u32, first: u32, count: u32, o_x: u32, o_part: u32, o_table: u32 }
@group(0) @binding(0) var<uniform> ps: SumParams;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;

// partials[o_part + c - first] = Σ x² over chunk c of the batch, for chunks [first, first + count).
@compute @workgroup_size(256)
fn sumsq_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = linear_id(wid, nwg);
  if (g >= ps.count) { return; } // padding workgroups of a 2-D grid must not write past this batch's slots
  let c = ps.first + g;
  let head = table[tensor_of(c, ps.tensors, ps.o_table, 1u)];
  let base = (c - head.x) * CHUNK;
  var s = 0.0;
  for (var k = lid; k < CHUNK; k += WG) {
    let i = base + k;
    if (i < head.y) {
      let e = x[ps.o_x + head.z + i];
      s = fma(e, e, s);
    }
  }
  s = wg_sum(s, lid);
  if (lid == 0u) { partials[ps.o_part + g] = s; }
}

struct SumFinalParams { count: u32, o_total: u32, o_part: u32 }
@group(0) @binding(0) var<uniform> pt: SumFinalParams;
@group(0) @binding(1) var<storage, read_write> total: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials_in: array<f32>;

// total[o_total] = Σ partials_in[o_part ..+ count) (overwrite), one workgroup.
@compute @workgroup_size(256)
fn sumsq_final(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var k = lid; k < pt.count; k += WG) { s += partials_in[pt.o_part + k]; }
  s = wg_sum(s, lid);
  if (lid == 0u) { total[pt.o_total] = s; }
}
