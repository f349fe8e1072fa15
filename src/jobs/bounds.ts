// The bounds on training jobs, and the estimates they are checked against before a job is accepted:
// the bytes of memory one job needs (its private copy of the model, gradients, both Adam moments and
// the activations of one batch) and the bytes it may write to the jobs folder.
import type { GPTConfig } from '../model/config.ts';
import { trainingMemory } from '../model/memory.ts';
import { countParams } from '../model/params.ts';

export interface JobBounds {
  /** jobs queued or running; one more is refused as busy (429) (default 8) */
  maxQueued: number;
  /** bytes of memory one job may need, by the estimate below (default 1 GiB) */
  maxJobBytes: number;
  /** bytes the jobs folder may hold: uploads, job data, checkpoints, results (default 4 GiB) */
  diskQuotaBytes: number;
  /** the largest upload or inline training data, in bytes (default 8 MiB) */
  maxDataBytes: number;
}

export const DEFAULT_JOB_BOUNDS: JobBounds = { maxQueued: 8, maxJobBytes: 1 << 30, diskQuotaBytes: 4 * 2 ** 30, maxDataBytes: 8 << 20 };

const F32 = 4;
/** a job's own files besides its weights: job.json (events are capped), config, tokenizer slack */
const JOB_FILES_BYTES = 4 << 20;

/**
 * Memory of training `cfg` on batches of `sequences` rows of T tokens: weights, gradients and the two
 * Adam moments (4 × params) plus the activation arena of a forward + backward pass, in f32.
 */
export function trainingBytes(cfg: GPTConfig, sequences: number, T: number): number {
  return trainingMemory(cfg, sequences * T).total;
}

/**
 * A fine-tuning job: rows per batch are batch × (2 for similarity's two orders, k for k choices), T the
 * longest sequence allowed; plus the base weights' copy alive while the vocabulary grows by the three
 * special tokens, and the task head.
 */
export function finetuneBytes(cfg: GPTConfig, batch: number, rowsPerExample: number, T: number, headOutputs: number): number {
  const grown = { ...cfg, vocabSize: cfg.vocabSize + 3 };
  return trainingBytes(grown, batch * rowsPerExample, T) + F32 * countParams(cfg) + F32 * 4 * cfg.nEmbd * headOutputs;
}

/** A pretraining job: the training state, plus the token stream (i32 per token). */
export function pretrainBytes(cfg: GPTConfig, batch: number, T: number, tokens: number): number {
  return trainingBytes(cfg, batch, T) + F32 * tokens;
}

/** Disk a fine-tuning job may write: the model folder (weights grown by 3 tokens, head, tokenizer). */
export function finetuneDiskBytes(cfg: GPTConfig, tokenizerBytes: number, dataBytes: number): number {
  return F32 * countParams({ ...cfg, vocabSize: cfg.vocabSize + 3 }) + tokenizerBytes + dataBytes + JOB_FILES_BYTES;
}

/**
 * Disk a pretraining job may write: checkpoints of weights + both moments, `keep` kept and one more
 * being written before the oldest goes (src/io/checkpoint.ts), each with its tokenizer.
 */
export function pretrainDiskBytes(cfg: GPTConfig, tokenizerBytes: number, dataBytes: number, keep: number): number {
  return (keep + 1) * (3 * F32 * countParams(cfg) + tokenizerBytes) + dataBytes + JOB_FILES_BYTES;
}

export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${n.toFixed(n < 10 ? 2 : 1)} ${units[i]}`;
}
