// The unsupervised corpus U = {u_1, ..., u_n} as one token stream, split into a training and a
// validation region, served as batches of B windows of k+1 tokens (k = the context window of L1).
// Batch positions are a pure function of (seed, step), so a resumed run sees exactly the batches an
// uninterrupted one would.
import { mix32 } from '../backend/rng.ts';
import { Rng } from '../util/random.ts';

export interface Batch {
  inputs: Int32Array; // (B,T)
  targets: Int32Array; // (B,T)
  B: number;
  T: number;
}

export class TokenDataset {
  readonly train: Int32Array;
  readonly val: Int32Array;

  /** `valFraction` of the stream (its end) is held out for validation. */
  constructor(
    readonly tokens: Int32Array,
    readonly T: number,
    valFraction = 0.1,
  ) {
    if (tokens.length === 0) throw new Error('the corpus is empty: no tokens to train on');
    if (!(valFraction >= 0 && valFraction < 1)) throw new Error(`validation fraction must be in [0, 1), got ${valFraction}`);
    const need = T + 1;
    const nVal = valFraction > 0 ? Math.max(need, Math.floor(tokens.length * valFraction)) : 0;
    if (tokens.length - nVal < need) {
      throw new Error(
        `the corpus has ${tokens.length} tokens: too short for one training sequence of ${need} tokens (context ${T} + 1)` +
          (nVal ? ` plus a validation split of ${nVal}` : ''),
      );
    }
    this.train = tokens.subarray(0, tokens.length - nVal);
    this.val = tokens.subarray(tokens.length - nVal);
  }

  /** Training batch number `step`: B windows at positions drawn from (seed, step). */
  batch(step: number, B: number, seed: number): Batch {
    const T = this.T,
      rng = new Rng(mix32((mix32(seed >>> 0) + step) >>> 0));
    const inputs = new Int32Array(B * T),
      targets = new Int32Array(B * T);
    const maxStart = this.train.length - T - 1;
    for (let b = 0; b < B; b++) {
      const s = rng.int(maxStart + 1);
      inputs.set(this.train.subarray(s, s + T), b * T);
      targets.set(this.train.subarray(s + 1, s + T + 1), b * T);
    }
    return { inputs, targets, B, T };
  }

  /** The validation set as consecutive non-overlapping windows, at most `maxBatches` batches of B. */
  *valBatches(B: number, maxBatches: number): Generator<Batch> {
    const T = this.T,
      windows = Math.floor((this.val.length - 1) / T);
    let w = 0;
    for (let nb = 0; nb < maxBatches && w < windows; nb++) {
      const n = Math.min(B, windows - w);
      const inputs = new Int32Array(n * T),
        targets = new Int32Array(n * T);
      for (let b = 0; b < n; b++, w++) {
        inputs.set(this.val.subarray(w * T, w * T + T), b * T);
        targets.set(this.val.subarray(w * T + 1, w * T + T + 1), b * T);
      }
      yield { inputs, targets, B: n, T };
    }
  }
}

/** Unigram entropy of a token stream, in nats: the loss of the best model that ignores context. */
export function unigramEntropy(tokens: Int32Array): number {
  const counts = new Map<number, number>();
  for (const t of tokens) counts.set(t, (counts.get(t) ?? 0) + 1);
  let h = 0;
  for (const c of counts.values()) {
    const p = c / tokens.length;
    h -= p * Math.log(p);
  }
  return h;
}

/** FNV-1a (64-bit, as two 32-bit halves) of strings: names the token cache of a corpus + tokenizer. */
export function fingerprint(parts: string[]): string {
  let h1 = 0x811c9dc5,
    h2 = 0xcbf29ce4;
  for (const p of parts) {
    for (let i = 0; i < p.length; i++) {
      const c = p.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
      h2 = Math.imul(h2 ^ (c + 0x9e37), 0x01000193) >>> 0;
    }
    h1 = Math.imul(h1 ^ 0xff, 0x01000193) >>> 0;
  }
  return h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0');
}
