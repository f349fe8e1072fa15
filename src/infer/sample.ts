// Choosing the next token from logits on the host: greedy, temperature, top-k, top-p (nucleus).
import type { Rng } from '../util/random.ts';

export interface SamplingOptions {
  /** 0 = greedy (argmax) */
  temperature?: number;
  /** keep the k most likely tokens (0 = all) */
  topK?: number;
  /** keep the smallest set whose probability reaches p (1 = all) */
  topP?: number;
}

export function validateSampling(o: SamplingOptions): void {
  const t = o.temperature ?? 1, k = o.topK ?? 0, p = o.topP ?? 1;
  if (!(t >= 0 && Number.isFinite(t))) throw new RangeError(`temperature must be a finite number >= 0, got ${t}`);
  if (!(Number.isInteger(k) && k >= 0)) throw new RangeError(`topK must be an integer >= 0, got ${k}`);
  if (!(p > 0 && p <= 1)) throw new RangeError(`topP must be in (0, 1], got ${p}`);
}

/** One token id from logits; an id whose logit is -Infinity (masked) is never chosen. */
export function sampleToken(logits: Float32Array, o: SamplingOptions, rng: Rng): number {
  const t = o.temperature ?? 1;
  if (t === 0) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  let idx = Array.from(logits.keys()).filter((i) => logits[i] !== -Infinity);
  idx.sort((a, b) => logits[b] - logits[a]);
  if (o.topK && o.topK > 0) idx = idx.slice(0, o.topK);
  const mx = logits[idx[0]];
  let probs = idx.map((i) => Math.exp((logits[i] - mx) / t));
  let z = probs.reduce((a, b) => a + b, 0);
  probs = probs.map((p) => p / z);
  const topP = o.topP ?? 1;
  if (topP < 1) {
    let cum = 0, n = 0;
    while (n < probs.length && cum < topP) cum += probs[n++];
    idx = idx.slice(0, n);
    probs = probs.slice(0, n);
    z = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((p) => p / z);
  }
  let r = rng.next();
  for (let i = 0; i < idx.length; i++) {
    r -= probs[i];
    if (r < 0) return idx[i];
  }
  return idx[idx.length - 1];
}
