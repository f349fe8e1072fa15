// Which pretrained weights a fine-tuned model starts from: all of them (the paper's transfer), none (a
// random init), or the embeddings and only the first k transformer blocks (the paper's Figure 2,
// left: "layers transferred"), the rest from a random init.
import type { GPTConfig } from '../model/config.ts';

/** True when parameter `name` belongs to the token/position embeddings or to block l < k (and ln_f when every block is transferred). */
export function isTransferred(name: string, k: number, nLayer: number): boolean {
  if (name === 'wte.weight' || name === 'wpe.weight') return true;
  const m = /^h\.(\d+)\./.exec(name);
  if (m) return Number(m[1]) < k;
  return k >= nLayer; // ln_f sits on top of the last block
}

/**
 * The parameters of a model that takes the embeddings and the first `k` blocks (0 ≤ k ≤ nLayer) from
 * `pretrained` and everything else from `initial` (a random init of the same config). Both maps must
 * hold every parameter of the config, with equal sizes.
 */
export function transferBlocks(
  pretrained: Map<string, Float32Array>,
  initial: Map<string, Float32Array>,
  cfg: GPTConfig,
  k: number,
): Map<string, Float32Array> {
  if (!(Number.isInteger(k) && k >= 0 && k <= cfg.nLayer)) throw new RangeError(`layers transferred must be an integer in 0..${cfg.nLayer}, got ${k}`);
  const out = new Map<string, Float32Array>();
  for (const [name, init] of initial) {
    if (!isTransferred(name, k, cfg.nLayer)) {
      out.set(name, init);
      continue;
    }
    const p = pretrained.get(name);
    if (!p) throw new Error(`transferBlocks: the pretrained weights lack ${name}`);
    if (p.length !== init.length) throw new Error(`transferBlocks: ${name} has ${p.length} values pretrained, ${init.length} in the model`);
    out.set(name, p);
  }
  return out;
}
