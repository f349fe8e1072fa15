// What a GPT holds in memory, from its config alone: the activation arena (the one list GPT allocates
// from, so the estimate and the allocation cannot drift apart) and the training totals that decide how
// large a micro-batch fits a backend's limit.
import type { ArenaSpec, Backend } from '../backend/backend.ts';
import type { GPTConfig } from './config.ts';
import { countParams } from './params.ts';

/** Logit elements computed at once by the LM head unless the backend says (Backend.logitChunkElements). */
const LOGIT_CHUNK_ELEMS = 1 << 22;
/** rows of (rows, V) logits per chunk: as few chunks as fit, of equal size (at least one row, at most BT) */
export const logitRows = (BT: number, V: number, be?: Pick<Backend, 'logitChunkElements'>) => {
  const most = Math.max(1, Math.min(BT, Math.floor((be?.logitChunkElements ?? LOGIT_CHUNK_ELEMS) / V)));
  return Math.ceil(BT / Math.ceil(BT / most));
};

/** how the activations are held: with recomputation, for inference only, and the backend's logit chunk */
export interface ActivationOptions {
  recompute?: boolean;
  /**
   * a model that cannot train (f16 or quantized weights): one layer's set `0.${name}` that every layer
   * overwrites, no backward scratch, and no LM-head chunk (lmLoss allocates it when a loss is asked for)
   */
  inference?: boolean;
  be?: Pick<Backend, 'logitChunkElements'>;
}

/** a block's saved activations; the same names serve both LN layouts */
export const LAYER_ACTS = [
  'ln1',
  'ln1Mean',
  'ln1Rstd',
  'qkv',
  'atty',
  'lse',
  'attproj',
  'res2',
  'ln2',
  'ln2Mean',
  'ln2Rstd',
  'fch',
  'fchGelu',
  'fcproj',
  'res3',
] as const;
export type LayerActName = (typeof LAYER_ACTS)[number];

/** the activation a block hands to the next: what recomputation keeps of each block */
export const blockOutput = (cfg: GPTConfig): LayerActName => (cfg.layout === 'post-ln' ? 'ln2' : 'res3');

/** floats of one layer activation for BT positions */
function layerActLength(cfg: GPTConfig, name: LayerActName, BT: number): number {
  const { nEmbd: C, nHead: NH, nInner: F } = cfg;
  if (name === 'qkv') return BT * 3 * C;
  if (name === 'fch' || name === 'fchGelu') return BT * F;
  if (name === 'lse') return BT * NH;
  if (name.endsWith('Mean') || name.endsWith('Rstd')) return BT;
  return BT * C;
}

/**
 * The activation arena of a forward + backward pass over BT positions: what one training step holds
 * besides the parameters, gradients and moments. Per layer `${l}.${name}`; with `recompute`, one shared
 * set `w.${name}` that every layer overwrites, and per layer only its output `${l}.${blockOutput}`.
 */
export function activationSpecs(cfg: GPTConfig, BT: number, o: ActivationOptions = {}): ArenaSpec[] {
  const { nEmbd: C, nLayer: L, nInner: F, vocabSize: V } = cfg,
    recompute = !!o.recompute;
  const specs: ArenaSpec[] = [];
  const add = (name: string, length: number, dtype?: 'i32') => specs.push({ name, length, dtype });
  add('encoded', BT * C);
  const out = blockOutput(cfg);
  if (recompute && !o.inference) for (const n of LAYER_ACTS) if (n !== out) add(`w.${n}`, layerActLength(cfg, n, BT));
  for (let l = 0; l < (o.inference ? 1 : L); l++)
    for (const n of LAYER_ACTS) if (o.inference || !recompute || n === out) add(`${l}.${n}`, layerActLength(cfg, n, BT));
  add('lnf', BT * C);
  add('lnfMean', BT);
  add('lnfRstd', BT);
  add('ids', BT, 'i32');
  add('targets', BT, 'i32');
  add('weights', BT);
  add('losses', BT);
  add('loss', 1);
  if (o.inference) return specs;
  add('logits', logitRows(BT, V, o.be) * V);
  // backward scratch
  for (const n of ['dh', 'gA', 'gB', 'gC']) add(n, BT * C);
  add('gQKV', BT * 3 * C);
  add('gF1', BT * F);
  add('gF2', BT * F);
  return specs;
}

export interface TrainingMemory {
  /** bytes of each part, and their sum */
  parameters: number;
  gradients: number;
  moments: number;
  activations: number;
  total: number;
}

/** Bytes one training step holds for micro-batches of BT positions (f32; AdamW's two moments). */
export function trainingMemory(cfg: GPTConfig, BT: number, o: ActivationOptions = {}): TrainingMemory {
  const p = countParams(cfg) * 4;
  const activations = activationSpecs(cfg, BT, o).reduce((n, s) => n + s.length, 0) * 4;
  return { parameters: p, gradients: p, moments: 2 * p, activations, total: 4 * p + activations };
}

export const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
