// Shared by the gradient tests (test/portable/model-gradcheck.test.ts, test/node/tfjs-autodiff.test.ts):
// a tiny GPT with odd sizes, random weights large enough that every path carries gradient, and a
// batch with ignored targets.
import type { GPTConfig, LayerNormLayout } from '../../src/model/config.ts';
import type { ParamSpec } from '../../src/model/params.ts';
import { numel } from '../../src/model/params.ts';
import { rand, randn } from './harness.ts';

/** vocab 37, context 9, C 12, 3 heads of 4, 2 layers, FFN 20 — odd on purpose; dropout off. */
export function gradConfig(layout: LayerNormLayout): GPTConfig {
  return {
    vocabSize: 37,
    nCtx: 9,
    nEmbd: 12,
    nLayer: 2,
    nHead: 3,
    nInner: 20,
    layout,
    lnEps: 1e-5,
    embdPdrop: 0,
    attnPdrop: 0,
    residPdrop: 0,
    initStd: 0.02,
  };
}

/**
 * Weights of O(1) effect: embeddings N(0, 0.5²), linear weights N(0, 1/fan_in), biases N(0, 0.1²),
 * LN gains 1 + N(0, 0.2²), LN biases N(0, 0.1²). (The paper's N(0, 0.02²) would make the attention
 * nearly uniform and most gradients tiny, which checks less.)
 */
export function randomParams(specs: ParamSpec[], seed: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  let s = seed;
  for (const p of specs) {
    const n = numel(p.shape);
    let v: Float32Array;
    if (p.name === 'wte.weight' || p.name === 'wpe.weight') v = randn(n, s++, 0.5);
    else if (p.name.endsWith('ln_1.weight') || p.name.endsWith('ln_2.weight') || p.name === 'ln_f.weight') v = randn(n, s++, 0.2).map((x) => x + 1);
    else if (p.shape.length === 2) v = randn(n, s++, 1 / Math.sqrt(p.shape[0]));
    else v = randn(n, s++, 0.1);
    out.set(p.name, v);
  }
  return out;
}

/** ids (B,T), next-token targets with two ignored (-1), weights 1/(real targets) for a mean loss. */
export function gradBatch(cfg: GPTConfig, B: number, T: number, seed: number) {
  const r = rand(seed);
  const ids = Int32Array.from({ length: B * T }, () => Math.floor(r() * cfg.vocabSize));
  const targets = Int32Array.from({ length: B * T }, () => Math.floor(r() * cfg.vocabSize));
  targets[2] = -1;
  targets[B * T - 1] = -1;
  const count = targets.filter((t) => t >= 0).length;
  const weights = Float32Array.from(targets, (t) => (t >= 0 ? 1 / count : 0));
  return { ids, targets, weights };
}

/** Up to k distinct indices in [0, n), sorted (all of them when n <= k). */
export function sampleIndices(n: number, k: number, seed: number): number[] {
  if (n <= k) return Array.from({ length: n }, (_, i) => i);
  const r = rand(seed),
    set = new Set<number>();
  while (set.size < k) set.add(Math.floor(r() * n));
  return [...set].sort((a, b) => a - b);
}
