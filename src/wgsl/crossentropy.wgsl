// Fused softmax + cross-entropy (forward: per-row loss, then a weighted sum into loss[0]; backward:
// (softmax - onehot) * weight * dscale).
// One workgroup of 256 invocations per row of V logits: max, then Σ exp(z - max), tree-reduced.
// inplace != 0: the output also holds the input logits (bound once: overlapping writable bindings are invalid)

const WG: u32 = 256u;


struct CeParams { N: u32, V: u32, o_losses: u32, o_logits: u32, o_targets: u32 }
@group(0) @binding(0) var<uniform> p: CeParams;
@group(0) @binding(1) var<storage, read_write> losses: array<f32>;
@group(0) @binding(2) var<storage, read_write> logits: array<f32>;
@group(0) @binding(3) var<storage, read_write> targets: array<i32>;

// losses(N) = logsumexp(z_n) - z_n[target]  (0 where target < 0).
@compute @workgroup_size(256)
fn crossentropy_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = linear_id(wid, nwg);
  if (n >= p.N) { return; }
  let z0 = p.o_logits + n * p.V;
  var mx = -3.0e38;
  for (var v = lid; v < p.V; v += WG) { mx = max(mx, logits[z0 + v]); }
  mx = wg_max(mx, lid);
  var s = 0.0;
  for (var v = lid; v < p.V; v += WG) { s += exp(logits[z0 + v] - mx); }
  s = wg_sum(s, lid);
  if (lid == 0u) {
    let tgt = targets[p.o_targets + n];
    var loss = 0.0;
    if (tgt >= 0 && u32(tgt) < p.V) { loss = mx + log(s) - logits[z0 + u32(tgt)]; }
    losses[p.o_losses + n] = loss;
  }
}

struct CeSumParams { N: u32, o_loss: u32, o_losses: u32, o_weights: u32 }
@group(0) @binding(0) var<uniform> pn: CeSumParams;
@group(0) @binding(1) var<storage, read_write> loss_total: array<f32>;
@group(0) @binding(2) var<storage, read_write> losses_in: array<f32>;
@group(0) @binding(3) var<storage, read_write> weights_in: array<f32>;

// loss[0] += Σ_n losses[n] * weights[n]: a single workgroup, so the sum has a fixed order.
@compute @workgroup_size(256)
fn crossentropy_sum(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var n = lid; n < pn.N; n += WG) { s += losses_in[pn.o_losses + n] * weights_in[pn.o_weights + n]; }
  s = wg_sum(s, lid);
  if (lid == 0u) { loss_total[pn.o_loss] = loss_total[pn.o_loss] + s; }
}

struct CeBackParams { N: u32, V: u32, o_dlogits: u32, o_logits: u32, o_targets: u32, o_weights: u32, dscale: f32, inplace: u32 }
@group(0) @binding(0) var<uniform> pc: CeBackParams;
@group(0) @binding(1) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(4) var<storage, read_write> weights: array<f32>;

fn ldz_ce(i: u32) -> f32 {
  if (pc.inplace != 0u) { return dlogits[i]; }
  return logits[i];
}

// dlogits(N,V) = (softmax(z) - onehot(target)) * weights[n] * dscale; 0 for ignored rows.
// In place (dlogits = logits): each invocation reads z[v] only before it writes d[v], after the reductions.
@compute @workgroup_size(256)
fn crossentropy_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = linear_id(wid, nwg);
  if (n >= pc.N) { return; }
  let z0 = pc.o_logits + n * pc.V;
  let d0 = pc.o_dlogits + n * pc.V;
  var mx = -3.0e38;
  for (var v = lid; v < pc.V; v += WG) { mx = max(mx, ldz_ce(z0 + v)); }
  mx = wg_max(mx, lid);
  var s = 0.0;
  for (var v = lid; v < pc.V; v += WG) { s += exp(ldz_ce(z0 + v) - mx); }
  s = wg_sum(s, lid);
  let tgt = targets[pc.o_targets + n];
  var g = 0.0;
  if (tgt >= 0) { g = weights[pc.o_weights + n] * pc.dscale / s; }
  let hot = weights[pc.o_weights + n] * pc.dscale;
  for (var v = lid; v < pc.V; v += WG) {
    let e = exp(ldz_ce(z0 + v) - mx) * g;
    dlogits[d0 + v] = select(e, e - hot, i32(v) == tgt);
  }
}
