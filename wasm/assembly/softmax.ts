// Fused softmax + cross-entropy over rows of V logits (forward, backward). Threads split rows. The weighted loss sum is a separate one-thread pass (crossEntropyReduce)
// so that loss[0] is added exactly once, without atomics.
import { expv, hmax } from './common';

// max and Σ exp(z - max) of one row. The max runs on pmax (one instruction on x64; f32x4.max's NaN rules
// cost six) in four independent chains: a NaN logit may then be skipped by the max, but not by the sum,
// whose exp(NaN) makes the loss NaN all the same.
@inline function rowMax(z: usize, V: i32): f32 {
  let m0 = f32x4.splat(-Infinity), m1 = m0, m2 = m0, m3 = m0;
  let v = 0;
  for (; v + 16 <= V; v += 16) {
    const p = z + (<usize>v << 2);
    m0 = f32x4.pmax(m0, v128.load(p)); m1 = f32x4.pmax(m1, v128.load(p, 16));
    m2 = f32x4.pmax(m2, v128.load(p, 32)); m3 = f32x4.pmax(m3, v128.load(p, 48));
  }
  let mv = f32x4.max(f32x4.max(m0, m1), f32x4.max(m2, m3));
  for (; v + 4 <= V; v += 4) mv = f32x4.max(mv, v128.load(z + (<usize>v << 2)));
  let mx = hmax(mv);
  for (; v < V; v++) mx = max(mx, load<f32>(z + (<usize>v << 2)));
  return mx;
}

@inline function rowSumExp(z: usize, V: i32, mx: f32): f32 {
  const m = f32x4.splat(mx);
  let sv = f32x4.splat(0);
  let v = 0;
  for (; v + 4 <= V; v += 4) sv = f32x4.add(sv, expv(f32x4.sub(v128.load(z + (<usize>v << 2)), m)));
  let s: f64 = <f64>f32x4.extract_lane(sv, 0) + <f64>f32x4.extract_lane(sv, 1) + <f64>f32x4.extract_lane(sv, 2) + <f64>f32x4.extract_lane(sv, 3);
  for (; v < V; v++) s += <f64>Mathf.exp(load<f32>(z + (<usize>v << 2)) - mx);
  return <f32>s;
}

/** losses(N) = logsumexp(z) - z[target] (0 where target < 0) */
export function crossEntropyForward(losses: usize, logits: usize, targets: usize, N: i32, V: i32, tid: i32, nth: i32): void {
  for (let n = tid; n < N; n += nth) {
    const tg = load<i32>(targets + (<usize>n << 2));
    if (tg < 0) {
      store<f32>(losses + (<usize>n << 2), 0);
      continue;
    }
    const z = logits + (<usize>n * <usize>V) * 4;
    const mx = rowMax(z, V);
    const s = rowSumExp(z, V, mx);
    store<f32>(losses + (<usize>n << 2), mx + Mathf.log(s) - load<f32>(z + (<usize>tg << 2)));
  }
}

/** loss[0] += Σ losses·weights over rows with a target (one thread) */
export function crossEntropyReduce(loss: usize, losses: usize, targets: usize, weights: usize, N: i32): void {
  let t: f64 = 0;
  for (let n = 0; n < N; n++) {
    if (load<i32>(targets + (<usize>n << 2)) < 0) continue;
    t += <f64>load<f32>(losses + (<usize>n << 2)) * <f64>load<f32>(weights + (<usize>n << 2));
  }
  store<f32>(loss, <f32>(<f64>load<f32>(loss) + t));
}

/** dlogits(N,V) = (softmax(z) - onehot(target))·weights[n]·dscale; 0 rows where ignored; may alias logits */
export function crossEntropyBackward(dlogits: usize, logits: usize, targets: usize, weights: usize, N: i32, V: i32, dscale: f32, tid: i32, nth: i32): void {
  for (let n = tid; n < N; n += nth) {
    const off = (<usize>n * <usize>V) * 4;
    const z = logits + off, d = dlogits + off;
    const tg = load<i32>(targets + (<usize>n << 2));
    if (tg < 0) {
      memory.fill(d, 0, <usize>V << 2);
      continue;
    }
    const mx = rowMax(z, V);
    const s = rowSumExp(z, V, mx);
    const g = load<f32>(weights + (<usize>n << 2)) * dscale;
    const zt = load<f32>(z + (<usize>tg << 2));
    const m = f32x4.splat(mx), gs = f32x4.splat(g / s);
    let v = 0;
    for (; v + 4 <= V; v += 4) v128.store(d + (<usize>v << 2), f32x4.mul(expv(f32x4.sub(v128.load(z + (<usize>v << 2)), m)), gs));
    for (; v < V; v++) store<f32>(d + (<usize>v << 2), Mathf.exp(load<f32>(z + (<usize>v << 2)) - mx) * (g / s));
    // the one-hot term, from the logit read before the row was overwritten
    store<f32>(d + (<usize>tg << 2), Mathf.exp(zt - mx) / s * g - g);
  }
}
