// Counter-based RNG for dropout: a keep/drop decision is a pure function of (seed, stream, index), so
// every backend (TS, WASM, WGSL) draws the same mask for the same step without sharing any state, and the
// backward pass regenerates the mask instead of storing it. Only u32 add, xor, shift and multiply are
// used, which all three languages do identically.

/** lowbias32 (C. Wellons' hash-prospector): a fast, well-mixed u32 -> u32 permutation. */
export function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** The per-(seed, stream) key; the element's draw is mix32((key + index) mod 2^32). */
export function streamKey(seed: number, stream: number): number {
  return mix32((mix32(seed >>> 0) + (stream >>> 0)) >>> 0);
}

/**
 * The key of a DropoutRng: its stream's key moved on by `offset` draws, so that an op over rows
 * [r0, r1) of a batch (a micro-batch) draws the masks the whole batch would draw for those rows.
 */
export function rngKey(rng: { seed: number; stream: number; offset?: number }): number {
  return (streamKey(rng.seed, rng.stream) + (rng.offset ?? 0)) >>> 0;
}

/** An element is kept when its u32 draw is >= this threshold (p = drop probability). */
export function dropThreshold(p: number): number {
  if (!(p >= 0 && p < 1)) throw new RangeError(`dropout probability must be in [0, 1), got ${p}`);
  return Math.min(Math.floor(p * 4294967296), 4294967295) >>> 0;
}

export function keep(key: number, index: number, threshold: number): boolean {
  return mix32((key + index) >>> 0) >= threshold;
}
