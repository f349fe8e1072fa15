// Shared settings and small helpers of the transfer study (scripts/transfer/run.ts): where results
// live, the model's configuration, the cached tokenizer and logging. Everything a part writes goes
// under OUT, one JSON file per finished unit of work, written atomically, so a killed run resumes.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { preset, type GPTConfig } from '../../src/model/config.ts';
import { GPTTokenizer } from '../../src/tokenizer/tokenizer.ts';

export const OUT = process.env.TRANSFER_OUT ?? 'runs/transfer';
/** the seed of every data split (cloze chapters, Bible books, spam, entailment pairs) */
export const DATA_SEED = 1;
/** BPE merges learned on the pretraining text (vocabulary = 256 bytes + merges + 4 specials) */
export const MERGES = 3000;

/** The study's model: pre-LN, 4 layers × 128, context 128, the paper's dropout 0.1 (sized in docs/transfer.md). */
export function modelConfig(vocabSize: number): GPTConfig {
  return preset('demo', { vocabSize, nLayer: 4, nEmbd: 128, nHead: 4, nInner: 512, nCtx: 128, embdPdrop: 0.1, attnPdrop: 0.1, residPdrop: 0.1 });
}

export const PRETRAIN = { steps: 2000, batch: 16, seq: 128, lr: 2e-3, warmup: 100, evalEvery: 100, evalBatches: 8, ckptEvery: 250, initSeed: 1000, seed: 1 };

const t0 = Date.now();
export function log(s: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)} +${((Date.now() - t0) / 1000).toFixed(0)}s] ${s}`);
}

export function readJSON<T>(file: string): T | null {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : null;
}

export function writeJSON(file: string, value: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 1) + '\n');
  renameSync(tmp, file);
}

export function writeAtomicBytes(file: string, bytes: Uint8Array): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, file);
}

export const TOKENIZER_FILE = `${OUT}/tokenizer.json`;
export function loadTokenizer(): GPTTokenizer {
  if (!existsSync(TOKENIZER_FILE)) throw new Error(`${TOKENIZER_FILE} is missing: run the corpus part first`);
  return GPTTokenizer.fromJSON(readFileSync(TOKENIZER_FILE, 'utf8'), TOKENIZER_FILE);
}

/** A unit of work done once: its result is cached in `file`; `force` recomputes. */
export async function once<T>(file: string, what: string, fn: () => Promise<T>): Promise<T> {
  const got = readJSON<T>(file);
  if (got !== null) return got;
  const t = Date.now();
  log(`${what}: start`);
  const r = await fn();
  writeJSON(file, r);
  log(`${what}: done in ${((Date.now() - t) / 1000).toFixed(0)} s → ${file}`);
  return r;
}
