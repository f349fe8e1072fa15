// AdamW (decoupled weight decay) with optional global-norm clipping read on the device, and the
// sum of squares that feeds it (two deterministic passes: per-workgroup partials, then one workgroup).
struct AdamParams {
  n: u32, o_param: u32, o_grad: u32, o_m: u32,
  o_v: u32, o_norm: u32, clip: u32,
  lr: f32, beta1: f32, beta2: f32, eps: f32,
  wd: f32, bc1: f32, bc2: f32, max_norm: f32,
}
@group(0) @binding(0) var<uniform> pa: AdamParams;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> normsq: array<f32>;

// w -= lr * (m̂ / (sqrt(v̂) + eps) + wd * w), the gradient first scaled by min(1, maxNorm/(‖g‖ + 1e-6)).
@compute @workgroup_size(256)
fn adamw(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg) * 256u + lid;
  if (i >= pa.n) { return; }
  var gs = 1.0;
  if (pa.clip != 0u) { gs = min(1.0, pa.max_norm / (sqrt(normsq[pa.o_norm]) + 1e-6)); }
  let g = grad[pa.o_grad + i] * gs;
  let mi = pa.beta1 * m[pa.o_m + i] + (1.0 - pa.beta1) * g;
  let vi = pa.beta2 * v[pa.o_v + i] + (1.0 - pa.beta2) * g * g;
  m[pa.o_m + i] = mi;
  v[pa.o_v + i] = vi;
  let w = param[pa.o_param + i];
  param[pa.o_param + i] = w - pa.lr * ((mi / pa.bc1) / (sqrt(vi / pa.bc2) + pa.eps) + pa.wd * w);
}

struct SumParams { n: u32, o_x: u32, o_part: u32 }
@group(0) @binding(0) var<uniform> ps: SumParams;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;

const WG: u32 = 256u;
const CHUNK: u32 = 4096u; // elements per workgroup in sumsq_partial (16 per invocation)


// partials[o_part + wg] = Σ x² over the workgroup's CHUNK of x(n).
@compute @workgroup_size(256)
fn sumsq_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = linear_id(wid, nwg);
  let base = g * CHUNK;
  if (base >= ps.n) { return; } // padding workgroups of a 2-D grid must not write past this tensor's slots
  var s = 0.0;
  for (var k = lid; k < CHUNK; k += WG) {
    let i = base + k;
    if (i < ps.n) {
      let e = x[ps.o_x + i];
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
