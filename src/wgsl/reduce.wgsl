// Workgroup reductions, prepended by the WebGPU backend to every module that calls them. Each module
// declares its own `const WG: u32` (its workgroup size), which sizes the scratch array here. Callers are in
// workgroup-uniform control flow with every invocation active (the functions contain barriers).

var<workgroup> red: array<f32, WG>;

//#if subgroups
// Subgroup variant (adapters offering `subgroups`): each subgroup reduces in registers, its leader (lowest
// local index) leaves the partial in `red`, the other slots hold the identity; then every subgroup sums the
// WG slots, each lane taking every n-th one. Two barriers, whatever the subgroup size n (4 on SwiftShader,
// 8-16 on lavapipe, 32 on NVIDIA). Lane numbers come from a prefix count, so no entry point needs the
// subgroup builtins, and nothing assumes how local indices map onto subgroups.
fn sg_partials(s: f32, identity: f32, lid: u32) -> vec2<u32> {
  red[lid] = select(identity, s, lid == subgroupMin(lid));
  workgroupBarrier();
  return vec2<u32>(subgroupExclusiveAdd(1u), subgroupAdd(1u)); // (lane, subgroup size)
}

fn wg_max(v: f32, lid: u32) -> f32 {
  let ln = sg_partials(subgroupMax(v), -3.0e38, lid);
  var m = -3.0e38;
  for (var j = ln.x; j < WG; j += ln.y) { m = max(m, red[j]); }
  let r = subgroupMax(m);
  workgroupBarrier();
  return r;
}

fn wg_sum(v: f32, lid: u32) -> f32 {
  let ln = sg_partials(subgroupAdd(v), 0.0, lid);
  var s = 0.0;
  for (var j = ln.x; j < WG; j += ln.y) { s += red[j]; }
  let r = subgroupAdd(s);
  workgroupBarrier();
  return r;
}
//#else
// Tree reductions over the workgroup in a fixed order, so results are reproducible run to run.
fn wg_max(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn wg_sum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
//#endif
