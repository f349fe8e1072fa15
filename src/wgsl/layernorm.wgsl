// LayerNorm over the last axis: forward saves mean and rstd (N); backward: dinp per row here, dw and db by
// matmul.wgsl's column sums (normalised for dw), so every sum has one owner (deterministic, no atomics).

const WG: u32 = 64u;

//#if subgroups
// (mean, mean of squares) at once: the vector form of reduce.wgsl's subgroup wg_sum.
fn wg_sum2(v: vec2<f32>, lid: u32) -> vec2<f32> {
  let x = wg_sum(v.x, lid);
  return vec2<f32>(x, wg_sum(v.y, lid));
}
//#else
var<workgroup> red2: array<f32, 64>;

// (mean, mean of squares) in one tree: half the barriers of two wg_sum calls.
fn wg_sum2(v: vec2<f32>, lid: u32) -> vec2<f32> {
  red[lid] = v.x;
  red2[lid] = v.y;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red[lid] += red[lid + s];
      red2[lid] += red2[lid + s];
    }
    workgroupBarrier();
  }
  let r = vec2<f32>(red[0], red2[0]);
  workgroupBarrier();
  return r;
}
//#endif

struct LnParams { N: u32, C: u32, o_out: u32, o_mean: u32, o_rstd: u32, o_inp: u32, o_w: u32, o_bias: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: LnParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> inp: array<f32>;
@group(0) @binding(5) var<storage, read_write> w: array<f32>;
@group(0) @binding(6) var<storage, read_write> bias: array<f32>;

// out(N,C) = (x - mean) * rstd * w + b. One workgroup per row; mean and variance in two passes (the
// variance from centred values, as the reference does, rather than E[x²] - E[x]²).
@compute @workgroup_size(64)
fn layernorm_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = linear_id(wid, nwg);
  if (n >= p.N) { return; }
  let x0 = p.o_inp + n * p.C;
  var s = 0.0;
  for (var c = lid; c < p.C; c += WG) { s += inp[x0 + c]; }
  let m = wg_sum(s, lid) / f32(p.C);
  var v = 0.0;
  for (var c = lid; c < p.C; c += WG) {
    let d = inp[x0 + c] - m;
    v += d * d;
  }
  let rs = inverseSqrt(wg_sum(v, lid) / f32(p.C) + p.eps);
  let y0 = p.o_out + n * p.C;
  for (var c = lid; c < p.C; c += WG) {
    out[y0 + c] = (inp[x0 + c] - m) * rs * w[p.o_w + c] + bias[p.o_bias + c];
  }
  if (lid == 0u) {
    mean[p.o_mean + n] = m;
    rstd[p.o_rstd + n] = rs;
  }
}

struct LnBackParams { N: u32, C: u32, o_dinp: u32, o_mean: u32, o_rstd: u32, o_inp: u32, o_w: u32, o_dout: u32 }
@group(0) @binding(0) var<uniform> pd: LnBackParams;
@group(0) @binding(1) var<storage, read_write> dinp: array<f32>;
@group(0) @binding(6) var<storage, read_write> dout: array<f32>;

// dinp(N,C) += rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)), dnorm = dout * w. A row per workgroup.
@compute @workgroup_size(64)
fn layernorm_backward_dx(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = linear_id(wid, nwg);
  if (n >= pd.N) { return; }
  let row = n * pd.C;
  let mu = mean[pd.o_mean + n];
  let rs = rstd[pd.o_rstd + n];
  var acc = vec2<f32>(0.0, 0.0);
  for (var c = lid; c < pd.C; c += WG) {
    let norm = (inp[pd.o_inp + row + c] - mu) * rs;
    let dn = dout[pd.o_dout + row + c] * w[pd.o_w + c];
    acc += vec2<f32>(dn, dn * norm);
  }
  let sums = wg_sum2(acc, lid) / f32(pd.C);
  for (var c = lid; c < pd.C; c += WG) {
    let norm = (inp[pd.o_inp + row + c] - mu) * rs;
    let dn = dout[pd.o_dout + row + c] * w[pd.o_w + c];
    dinp[pd.o_dinp + row + c] = dinp[pd.o_dinp + row + c] + (dn - sums.x - norm * sums.y) * rs;
  }
}
