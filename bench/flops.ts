// Model FLOPs of GPT work, the numerator of every "share of peak" in the benches. Convention: a matmul is
// 2·M·K·N; attention counts the full T×T scores (4·T²·C per layer forward, as if not causal — the usual
// model-FLOPs convention, under which the ≈ 129 GFLOP of a GPT-1 prefill is quoted); a training step is
// 3× the forward (the backward's two matmuls per forward one). Elementwise ops and the softmax count 0.
import type { GPTConfig } from '../src/model/config.ts';

/** forward FLOPs of B sequences of T tokens, LM head logits of every position included */
export function forwardFlops(cfg: GPTConfig, B: number, T: number): number {
  const { nEmbd: C, nLayer: L, nInner: F, vocabSize: V } = cfg;
  return 2 * B * T * (L * (3 * C * C + C * C + 2 * C * F) + C * V) + L * 4 * B * T * T * C;
}

/** forward + backward + nothing for the optimizer */
export const trainFlops = (cfg: GPTConfig, B: number, T: number) => 3 * forwardFlops(cfg, B, T);
