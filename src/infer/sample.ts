// Choosing the next token from logits on the host: greedy, temperature, top-k, top-p (nucleus).
//
// The draw walks the tokens from the most to the least likely (ties: lower id first): top-k keeps the
// first k, top-p the shortest prefix whose probability reaches p, and a uniform r in [0, 1) picks the
// first token whose cumulative probability exceeds r. Sorting the vocabulary for that costs 46 ms per
// token at V = 50,257 (measured), more than a decoding step; the same walk is done here with weighted
// selection (quickselect on (logit, id) keys that carries probability mass), O(V) per token.
import type { Rng } from '../util/random.ts';
import { argmax, softmaxWeights } from '../util/softmax.ts';

export interface SamplingOptions {
  /** 0 = greedy (argmax) */
  temperature?: number;
  /** keep the k most likely tokens (0 = all) */
  topK?: number;
  /** keep the smallest set whose probability reaches p (1 = all) */
  topP?: number;
}

export function validateSampling(o: SamplingOptions): void {
  const t = o.temperature ?? 1,
    k = o.topK ?? 0,
    p = o.topP ?? 1;
  if (!(t >= 0 && Number.isFinite(t))) throw new RangeError(`temperature must be a finite number >= 0, got ${t}`);
  if (!(Number.isInteger(k) && k >= 0)) throw new RangeError(`topK must be an integer >= 0, got ${k}`);
  if (!(p > 0 && p <= 1)) throw new RangeError(`topP must be in (0, 1], got ${p}`);
}

/** One token id from logits; an id whose logit is -Infinity (masked) is never chosen. */
export function sampleToken(logits: Float32Array, o: SamplingOptions, rng: Rng): number {
  const t = o.temperature ?? 1,
    V = logits.length;
  const best = argmax(logits);
  if (t === 0) return best;
  if (scratch.ids.length < V) scratch = { ids: new Int32Array(V), w: new Float64Array(V) };
  const w = scratch.w;
  let n = 0;
  for (let i = 0; i < V; i++) if (logits[i] !== -Infinity) scratch.ids[n++] = i;
  let cand = scratch.ids.subarray(0, n);
  const k = o.topK && o.topK > 0 ? Math.min(o.topK, n) : n;
  if (k < n) cand = cand.subarray(0, selectFirst(cand, k, logits));
  let z = softmaxWeights(logits, cand, logits[best], t, w);
  const topP = o.topP ?? 1;
  if (topP < 1) {
    // the shortest prefix whose probability reaches topP (the token that reaches it included)
    const { index, mass } = weightedSelect(cand, w, topP * z, true, logits);
    cand = cand.subarray(0, index + 1);
    z = mass;
  }
  return cand[weightedSelect(cand, w, rng.next() * z, false, logits).index];
}

/** reused between calls: ids and weights of the vocabulary */
let scratch = { ids: new Int32Array(0), w: new Float64Array(0) };

/** Reorders `c` so that its first `k` elements are the first k in key order (in any order); returns k. Quickselect by count. */
function selectFirst(c: Int32Array, k: number, l: Float32Array): number {
  let lo = 0,
    hi = c.length;
  while (hi - lo > 1) {
    const m = partition(c, lo, hi, l);
    if (m === k || m + 1 === k) return k;
    if (m > k) hi = m;
    else lo = m + 1;
  }
  return k;
}

/**
 * The first element of `c` in key order whose cumulative weight exceeds `target` (reaches it, with
 * `inclusive`). Reorders `c` so that the elements up to it in key order come first, and returns its
 * position there and the cumulative weight up to it. When rounding leaves the target out of reach, the
 * last element in key order.
 */
function weightedSelect(c: Int32Array, w: Float64Array, target: number, inclusive: boolean, l: Float32Array): { index: number; mass: number } {
  let lo = 0,
    hi = c.length,
    acc = 0;
  const passes = (m: number) => (inclusive ? m >= target : m > target);
  while (hi - lo > 1) {
    const m = partition(c, lo, hi, l);
    let left = 0;
    for (let i = lo; i < m; i++) left += w[c[i]];
    if (m > lo && passes(acc + left)) hi = m;
    else if (passes(acc + left + w[c[m]]) || m + 1 === hi) return { index: m, mass: acc + left + w[c[m]] };
    else {
      acc += left + w[c[m]];
      lo = m + 1;
    }
  }
  return { index: lo, mass: acc + w[c[lo]] };
}

/**
 * Lomuto partition of c[lo, hi) around its middle element by key (higher logit first, then lower id):
 * keys before the pivot first; returns the pivot's position.
 */
function partition(c: Int32Array, lo: number, hi: number, l: Float32Array): number {
  const mid = (lo + hi) >> 1,
    p = c[mid],
    lp = l[p];
  c[mid] = c[hi - 1];
  c[hi - 1] = p;
  let s = lo;
  for (let i = lo; i < hi - 1; i++) {
    const x = c[i],
      lx = l[x];
    if (lx > lp || (lx === lp && x < p)) {
      c[i] = c[s];
      c[s++] = x;
    }
  }
  c[hi - 1] = c[s];
  c[s] = p;
  return s;
}
