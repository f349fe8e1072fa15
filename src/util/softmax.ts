// Softmax on the host, in one place: class probabilities of a task head, the softmax over scored
// continuations, log-probabilities of tokens, and the unnormalised weights the sampler draws from. Each
// subtracts the maximum first (exp never overflows) and sums in f64.

/** Index of the largest value (the first, on ties). */
export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** softmax(x) into `out` (default a new Float32Array: each probability rounded to f32): exp(x - max) / Σ exp(x - max). */
export function softmax<T extends Float32Array | number[] = Float32Array>(x: ArrayLike<number>, out: T = new Float32Array(x.length) as T): T {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) m = Math.max(m, x[i]);
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const e = Math.exp(x[i] - m);
    out[i] = e;
    s += e;
  }
  for (let i = 0; i < x.length; i++) out[i] /= s;
  return out;
}

/** log softmax(logits[row])[id] for logits (rows, V): logits[id] - max - log Σ exp(logits - max). */
export function logSoftmaxAt(logits: Float32Array, row: number, V: number, id: number): number {
  const o = row * V;
  let m = -Infinity;
  for (let i = 0; i < V; i++) m = Math.max(m, logits[o + i]);
  let s = 0;
  for (let i = 0; i < V; i++) s += Math.exp(logits[o + i] - m);
  return logits[o + id] - m - Math.log(s);
}

/**
 * The unnormalised softmax weights of some entries at temperature t: w[i] = exp((logits[i] - max) / t) for
 * each i of `ids` (`max` the largest logit overall); returns their sum (the normaliser).
 */
export function softmaxWeights(logits: Float32Array, ids: ArrayLike<number>, max: number, t: number, w: Float64Array): number {
  let z = 0;
  for (let j = 0; j < ids.length; j++) {
    const i = ids[j];
    z += w[i] = Math.exp((logits[i] - max) / t);
  }
  return z;
}
