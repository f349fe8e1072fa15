// Model configuration: data, not code. The paper's GPT-1 and the GPT-2 124M layout, plus small presets.

export type LayerNormLayout = 'post-ln' | 'pre-ln';

export interface GPTConfig {
  vocabSize: number;
  /** context window k (the number of learned positions) */
  nCtx: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  /** FFN inner size (4 * nEmbd in both papers) */
  nInner: number;
  /** GPT-1 is post-LN with no final LN; GPT-2 is pre-LN with a final LN (ln_f) */
  layout: LayerNormLayout;
  lnEps: number;
  embdPdrop: number;
  attnPdrop: number;
  residPdrop: number;
  /** N(0, initStd) for weights */
  initStd: number;
}

const paperDropout = { embdPdrop: 0.1, attnPdrop: 0.1, residPdrop: 0.1 };

export const presets: Record<string, GPTConfig> = {
  gpt1: { vocabSize: 40478, nCtx: 512, nEmbd: 768, nLayer: 12, nHead: 12, nInner: 3072, layout: 'post-ln', lnEps: 1e-5, ...paperDropout, initStd: 0.02 },
  gpt2: { vocabSize: 50257, nCtx: 1024, nEmbd: 768, nLayer: 12, nHead: 12, nInner: 3072, layout: 'pre-ln', lnEps: 1e-5, ...paperDropout, initStd: 0.02 },
  /** the small GPT of the benchmarks: 6 layers, d 384 */
  small: { vocabSize: 8192, nCtx: 256, nEmbd: 384, nLayer: 6, nHead: 6, nInner: 1536, layout: 'post-ln', lnEps: 1e-5, ...paperDropout, initStd: 0.02 },
  /**
   * What `npm start` pretrains in a few minutes on a 2-core CPU. Pre-LN on purpose: measured here,
   * 4-layer post-LN stays at the unigram loss for the few hundred steps a demo affords, while pre-LN
   * breaks through (see README, "Why the demo is pre-LN").
   */
  demo: { vocabSize: 1024, nCtx: 64, nEmbd: 128, nLayer: 4, nHead: 4, nInner: 512, layout: 'pre-ln', lnEps: 1e-5, embdPdrop: 0, attnPdrop: 0, residPdrop: 0, initStd: 0.02 },
  /** tests: the fixtures' sizes, odd vocab on purpose */
  tiny: { vocabSize: 67, nCtx: 16, nEmbd: 32, nLayer: 2, nHead: 4, nInner: 128, layout: 'post-ln', lnEps: 1e-5, embdPdrop: 0, attnPdrop: 0, residPdrop: 0, initStd: 0.02 },
};

export function preset(name: string, overrides: Partial<GPTConfig> = {}): GPTConfig {
  const p = presets[name];
  if (!p) throw new Error(`unknown preset "${name}"; known presets: ${Object.keys(presets).join(', ')}`);
  return validateConfig({ ...p, ...overrides });
}

export function validateConfig(c: GPTConfig): GPTConfig {
  const ints: (keyof GPTConfig)[] = ['vocabSize', 'nCtx', 'nEmbd', 'nLayer', 'nHead', 'nInner'];
  for (const k of ints) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new Error(`config.${k} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  if (c.nEmbd % c.nHead !== 0) throw new Error(`config.nEmbd (${c.nEmbd}) must be divisible by config.nHead (${c.nHead})`);
  if (c.layout !== 'post-ln' && c.layout !== 'pre-ln') throw new Error(`config.layout must be "post-ln" or "pre-ln", got ${JSON.stringify(c.layout)}`);
  for (const k of ['embdPdrop', 'attnPdrop', 'residPdrop'] as const) {
    if (!(c[k] >= 0 && c[k] < 1)) throw new Error(`config.${k} must be in [0, 1), got ${c[k]}`);
  }
  return c;
}

/** Paper hyper-parameters (§4.1 pretraining, §4.1 fine-tuning details). */
export const pretrainDefaults = { lr: 2.5e-4, warmupSteps: 2000, weightDecay: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, gradClip: 1.0, batchSize: 64 };
export const finetuneDefaults = { lr: 6.25e-5, batchSize: 32, epochs: 3, warmupFraction: 0.002, clfPdrop: 0.1, lmCoef: 0.5, weightDecay: 0.01 };
