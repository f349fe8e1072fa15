// What the job manager offers (JobService) and what it needs from whoever serves models (JobModels).
// Nothing here knows of HTTP: problems are RequestErrors (src/util/request-error.ts), which the routes
// in src/serve/routes/ map to statuses.
import type { GPT } from '../model/gpt.ts';
import type { GPTTokenizer } from '../tokenizer/tokenizer.ts';
import type { FinetuneModel } from '../finetune/finetune.ts';
import type { GPTConfig } from '../model/config.ts';

export type JobKind = 'fine_tuning' | 'pretraining';
export type JobStatus = 'validating_files' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const TERMINAL: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled'];

/** OpenAI's fine_tuning.job object (pretraining.job has the same fields). */
export type JobObject = Record<string, unknown> & { id: string; status: JobStatus; object: string };

export interface JobEvent {
  object: string;
  id: string;
  created_at: number;
  level: 'info' | 'warn' | 'error';
  message: string;
  type: 'message' | 'metrics';
  data?: Record<string, unknown>;
}

export interface FileObject {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  status: 'processed';
}

export interface JobService {
  upload(f: { filename: string; purpose: string; content: string }): Promise<FileObject>;
  /** validates the request and the data, checks the bounds, queues the job */
  create(kind: JobKind, body: Record<string, unknown>): Promise<JobObject>;
  /** newest first */
  list(kind: JobKind): Promise<JobObject[]>;
  get(kind: JobKind, id: string): Promise<JobObject>;
  cancel(kind: JobKind, id: string): Promise<JobObject>;
  /** the newest `limit` events, newest first */
  events(kind: JobKind, id: string, limit: number): Promise<{ data: JobEvent[]; has_more: boolean }>;
  /** every event so far, then new ones as they come; ends when the job has ended or `signal` aborts */
  follow(kind: JobKind, id: string, signal: AbortSignal): AsyncIterable<JobEvent>;
}

/** A model the server answers with: a language model, or a fine-tuned one with its task head. */
export type ServedModel = { model: GPT; tokenizer: GPTTokenizer } | FinetuneModel;

export const isFinetuned = (m: ServedModel): m is FinetuneModel => 'head' in m && 'spec' in m;

/** Releases a served model's buffers (its GPT, and a task head); the model is unusable afterwards. */
export function freeModel(m: ServedModel): void {
  m.model.free();
  if (isFinetuned(m)) m.head.free();
}

/** A served model in use: `release` it when done (a registry may unload models nobody holds). */
export interface ModelLease {
  served: ServedModel;
  release(): void;
}

/** Where jobs find their base models and leave their results. */
export interface JobModels {
  /** a served model (loaded if need be); throws RequestError 'not_found' for an unknown id */
  acquire(id: string): Promise<ModelLease>;
  /** a job's result, now on disk: served under `id` from now on, loaded by `load` when first used */
  publish(id: string, info: { cfg: GPTConfig; task: FinetuneModel['spec'] | null }, load: () => Promise<ServedModel>): void;
}
