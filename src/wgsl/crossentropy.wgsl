// Fused softmax + cross-entropy (forward: per-row loss, then a weighted sum into loss[0]; backward:
// (softmax - onehot) * weight * dscale), and plain softmax with temperature for sampling.
// One workgroup of 256 invocations per row of V logits: max, then Σ exp(z - max), tree-reduced.
// inplace != 0: the output also holds the input logits (bound once: overlapping writable bindings are invalid)
struct Params { N: u32, V: u32, o_a: u32, o_b: u32, o_c: u32, o_d: u32, s: f32, inplace: u32 }
@group(0) @binding(0) var<uniform> p: Params;

const WG: u32 = 256u;


@group(0) @binding(1) var<storage, read_write> losses: array<f32>;
@group(0) @binding(2) var<storage, read_write> logits: array<f32>;
@group(0) @binding(3) var<storage, read_write> targets: array<i32>;

// losses(N) = logsumexp(z_n) - z_n[target]  (0 where target < 0).  o_a: losses, o_b: logits, o_c: targets.
@compute @workgroup_size(256)
fn crossentropy_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = linear_id(wid, nwg);
  if (n >= p.N) { return; }
  let z0 = p.o_b + n * p.V;
  var mx = -3.0e38;
  for (var v = lid; v < p.V; v += WG) { mx = max(mx, logits[z0 + v]); }
  mx = wg_max(mx, lid);
  var s = 0.0;
  for (var v = lid; v < p.V; v += WG) { s += exp(logits[z0 + v] - mx); }
  s = wg_sum(s, lid);
  if (lid == 0u) {
    let tgt = targets[p.o_c + n];
    var loss = 0.0;
    if (tgt >= 0 && u32(tgt) < p.V) { loss = mx + log(s) - logits[z0 + u32(tgt)]; }
    losses[p.o_a + n] = loss;
  }
}

@group(0) @binding(1) var<storage, read_write> loss_total: array<f32>;
@group(0) @binding(2) var<storage, read_write> losses_in: array<f32>;
@group(0) @binding(3) var<storage, read_write> weights_in: array<f32>;

// loss[0] += Σ_n losses[n] * weights[n]: a single workgroup, so the sum has a fixed order.
// o_a: loss, o_b: losses, o_c: weights.
@compute @workgroup_size(256)
fn crossentropy_sum(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var n = lid; n < p.N; n += WG) { s += losses_in[p.o_b + n] * weights_in[p.o_c + n]; }
  s = wg_sum(s, lid);
  if (lid == 0u) { loss_total[p.o_a] = loss_total[p.o_a] + s; }
}

@group(0) @binding(1) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(4) var<storage, read_write> weights: array<f32>;

fn ldz_ce(i: u32) -> f32 {
  if (p.inplace != 0u) { return dlogits[i]; }
  return logits[i];
}

// dlogits(N,V) = (softmax(z) - onehot(target)) * weights[n] * dscale; 0 for ignored rows.
// In place (dlogits = logits): each invocation reads z[v] only before it writes d[v], after the reductions.
// o_a: dlogits, o_b: logits, o_c: targets, o_d: weights, s: dscale.
@compute @workgroup_size(256)
fn crossentropy_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = linear_id(wid, nwg);
  if (n >= p.N) { return; }
  let z0 = p.o_b + n * p.V;
  let d0 = p.o_a + n * p.V;
  var mx = -3.0e38;
  for (var v = lid; v < p.V; v += WG) { mx = max(mx, ldz_ce(z0 + v)); }
  mx = wg_max(mx, lid);
  var s = 0.0;
  for (var v = lid; v < p.V; v += WG) { s += exp(ldz_ce(z0 + v) - mx); }
  s = wg_sum(s, lid);
  let tgt = targets[p.o_c + n];
  var g = 0.0;
  if (tgt >= 0) { g = weights[p.o_d + n] * p.s / s; }
  let hot = weights[p.o_d + n] * p.s;
  for (var v = lid; v < p.V; v += WG) {
    let e = exp(ldz_ce(z0 + v) - mx) * g;
    dlogits[d0 + v] = select(e, e - hot, i32(v) == tgt);
  }
}

@group(0) @binding(1) var<storage, read_write> probs: array<f32>;

fn ldz_sm(i: u32) -> f32 {
  if (p.inplace != 0u) { return probs[i]; }
  return logits[i];
}

// probs(N,V) = softmax(z / temperature); may alias logits. o_a: probs, o_b: logits, s: 1/temperature.
@compute @workgroup_size(256)
fn softmax_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = linear_id(wid, nwg);
  if (n >= p.N) { return; }
  let z0 = p.o_b + n * p.V;
  let y0 = p.o_a + n * p.V;
  var mx = -3.0e38;
  for (var v = lid; v < p.V; v += WG) { mx = max(mx, ldz_sm(z0 + v) * p.s); }
  mx = wg_max(mx, lid);
  var s = 0.0;
  for (var v = lid; v < p.V; v += WG) { s += exp(ldz_sm(z0 + v) * p.s - mx); }
  s = wg_sum(s, lid);
  let inv = 1.0 / s;
  for (var v = lid; v < p.V; v += WG) { probs[y0 + v] = exp(ldz_sm(z0 + v) * p.s - mx) * inv; }
}
