// Model configuration: data, not code. The paper's GPT-1 and the GPT-2 124M layout, plus small presets.
import { paramCount } from './params.ts';
import { quote } from '../io/errors.ts';

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
  demo: {
    vocabSize: 1024,
    nCtx: 64,
    nEmbd: 128,
    nLayer: 4,
    nHead: 4,
    nInner: 512,
    layout: 'pre-ln',
    lnEps: 1e-5,
    embdPdrop: 0,
    attnPdrop: 0,
    residPdrop: 0,
    initStd: 0.02,
  },
  /** tests: the fixtures' sizes, odd vocab on purpose */
  tiny: {
    vocabSize: 67,
    nCtx: 16,
    nEmbd: 32,
    nLayer: 2,
    nHead: 4,
    nInner: 128,
    layout: 'post-ln',
    lnEps: 1e-5,
    embdPdrop: 0,
    attnPdrop: 0,
    residPdrop: 0,
    initStd: 0.02,
  },
};

export function preset(name: string, overrides: Partial<GPTConfig> = {}): GPTConfig {
  const p = presets[name];
  if (!p) throw new Error(`unknown preset "${name}"; known presets: ${Object.keys(presets).join(', ')}`);
  return validateConfig({ ...p, ...overrides });
}

/**
 * Upper bounds of a config, checked before anything is sized by it (a config.json with n_layer 1e8 must
 * be refused at once, not after building 1.2e9 parameter specs). Generous: GPT-3 175B has 96 layers,
 * d 12288, context 2048; the largest vocabularies in use hold ~256k tokens.
 */
export const CONFIG_LIMITS = {
  nLayer: 1024,
  nEmbd: 65536,
  nHead: 4096,
  nInner: 262144,
  nCtx: 1 << 20,
  vocabSize: 1 << 22,
  /** 2^32 parameters: 16 GiB of float32, more than one WebAssembly memory or JS typed array holds */
  params: 2 ** 32,
} as const;

/** Field names for messages: gptedge's own (config.nLayer) by default, a file's keys (n_layer) when reading one. */
export type ConfigNames = Partial<Record<keyof GPTConfig, string>>;

export function validateConfig(c: GPTConfig, names: ConfigNames = {}): GPTConfig {
  const name = (k: keyof GPTConfig) => names[k] ?? `config.${k}`;
  if (!c || typeof c !== 'object') throw new Error(`a config must be an object, got ${quote(c)}`);
  const ints = ['vocabSize', 'nCtx', 'nEmbd', 'nLayer', 'nHead', 'nInner'] as const;
  for (const k of ints) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new Error(`${name(k)} must be a positive integer, got ${quote(v)}`);
    if (v > CONFIG_LIMITS[k]) throw new Error(`${name(k)} ${v} is more than the limit of ${CONFIG_LIMITS[k]}`);
  }
  if (c.nEmbd % c.nHead !== 0) throw new Error(`${name('nEmbd')} (${c.nEmbd}) must be divisible by ${name('nHead')} (${c.nHead})`);
  if (c.layout !== 'post-ln' && c.layout !== 'pre-ln') throw new Error(`${name('layout')} must be "post-ln" or "pre-ln", got ${quote(c.layout)}`);
  if (!(typeof c.lnEps === 'number' && Number.isFinite(c.lnEps) && c.lnEps > 0))
    throw new Error(`${name('lnEps')} must be a finite number > 0, got ${c.lnEps}`);
  for (const k of ['embdPdrop', 'attnPdrop', 'residPdrop'] as const) {
    if (!(typeof c[k] === 'number' && c[k] >= 0 && c[k] < 1)) throw new Error(`${name(k)} must be in [0, 1), got ${c[k]}`);
  }
  if (!(typeof c.initStd === 'number' && Number.isFinite(c.initStd) && c.initStd >= 0))
    throw new Error(`${name('initStd')} must be a finite number >= 0, got ${c.initStd}`);
  const n = paramCount(c);
  if (n > CONFIG_LIMITS.params) throw new Error(`the config makes ${n} parameters, more than the limit of ${CONFIG_LIMITS.params}`);
  return c;
}

/** Paper hyper-parameters (§4.1 pretraining, §4.1 fine-tuning details). */
export const pretrainDefaults = { lr: 2.5e-4, warmupSteps: 2000, weightDecay: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, gradClip: 1.0, batchSize: 64 };
export const finetuneDefaults = { lr: 6.25e-5, batchSize: 32, epochs: 3, warmupFraction: 0.002, clfPdrop: 0.1, lmCoef: 0.5, weightDecay: 0.01 };
