// Training jobs: fine-tuning in OpenAI's shape and gptedge's own pretraining, run in the background one
// at a time on the server's backend, persisted in a folder (src/jobs/store.ts) so that a restarted
// server reports them and picks them up again. Portable: files come through FileSystem; knows nothing
// of HTTP (src/serve/routes/jobs.ts and files.ts are its routes).
//
// Bounds (src/jobs/bounds.ts), checked when a job is created, before anything is queued: jobs queued
// or running, the memory one job needs by estimate, the jobs folder's disk quota, the data's size.
// Every job trains its own copy of the base model and frees it (and anything else it allocated) when it
// ends, fails or is cancelled; its result is published to the server's models, which load it on use.
//
// A job that was running when the server stopped is resumed when a new JobManager opens the folder:
// pretraining from its latest checkpoint (weights, Adam moments, step, history — exact), fine-tuning from
// step 0 (src/finetune has no resume point yet; the event log says so).
import type { Backend } from '../backend/backend.ts';
import { GPT } from '../model/gpt.ts';
import type { GPTConfig } from '../model/config.ts';
import { finetuneDefaults, pretrainDefaults } from '../model/config.ts';
import type { FileSystem } from '../io/fs.ts';
import { saveCheckpoint, type OptimizerState } from '../io/checkpoint.ts';
import { loadModel } from '../model/load.ts';
import { GPTTokenizer } from '../tokenizer/tokenizer.ts';
import { TokenDataset } from '../train/data.ts';
import { pretrain } from '../train/pretrain.ts';
import { modelOptimizer } from '../train/optim.ts';
import {
  checkFamily,
  encodeAll,
  finetune,
  headOutputs,
  loadFinetuned,
  prepareFinetune,
  readDataset,
  saveFinetuned,
  seqsPerExample,
  type TaskFamily,
  type TaskSpec,
} from '../finetune/index.ts';
import { RequestError } from '../util/request-error.ts';
import { DEFAULT_JOB_BOUNDS, finetuneBytes, finetuneDiskBytes, formatBytes, pretrainBytes, pretrainDiskBytes, type JobBounds } from './bounds.ts';
import { JobStore, type JobRecord } from './store.ts';
import { TERMINAL, type FileObject, type JobEvent, type JobKind, type JobModels, type JobObject, type JobService, type ServedModel } from './service.ts';

export interface JobManagerOptions {
  fs: FileSystem;
  /** the folder jobs live in (created if missing) */
  dir: string;
  /** base models come from here; finished jobs publish their result here */
  models: JobModels;
  /** where jobs compute and results load */
  backend: Backend;
  /** training yields to the event loop at least this often (ms; default 10), so the thread keeps answering */
  yieldEveryMs?: number;
  bounds?: Partial<JobBounds>;
}

class Stopped extends Error {}
class Cancelled extends Error {}

/** pretraining checkpoints kept per job */
const KEEP_CHECKPOINTS = 2;

const now = () => Math.floor(Date.now() / 1000);
const rid = (p: string) => p + Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => (b % 36).toString(36)).join('');
const macrotask = () => new Promise<void>((r) => setTimeout(r, 0));
const invalid = (message: string, param: string | null = null, code: string | null = 'invalid_value') => new RequestError('invalid', message, param, code);

/** The backend, with `read` (the one asynchronous call) yielding to the event loop every few ms. */
function yielding(be: Backend, everyMs: number): Backend {
  let last = Date.now();
  return new Proxy(be, {
    get(t, p) {
      if (p === 'read') {
        return async (x: Parameters<Backend['read']>[0]) => {
          if (Date.now() - last >= everyMs) {
            await macrotask();
            last = Date.now();
          }
          return t.read(x);
        };
      }
      const v = Reflect.get(t, p, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
}

/** A private copy of a served model's transformer on `be` (training must not touch what is being served). */
async function copyModel(src: GPT, be: Backend): Promise<GPT> {
  const m = new GPT(be, src.cfg);
  m.writeParams(await src.readParams());
  return m;
}

export class JobManager implements JobService {
  readonly bounds: JobBounds;
  private readonly jobs = new Map<string, JobRecord>();
  private readonly listeners = new Map<string, Set<() => void>>();
  private readonly queue: string[] = [];
  private readonly store: JobStore;
  private runningId: string | null = null;
  private cancelRequested = new Set<string>();
  private stopping = false;
  private idle: Promise<void> = Promise.resolve();
  private fileBytes = 0;

  private constructor(private readonly o: JobManagerOptions) {
    this.bounds = { ...DEFAULT_JOB_BOUNDS, ...o.bounds };
    for (const [k, v] of Object.entries(this.bounds))
      if (!(Number.isInteger(v) && v >= 1)) throw new Error(`job bounds: ${k} must be a positive integer, got ${v}`);
    this.store = new JobStore(o.fs, o.dir);
  }

  /** Opens (or creates) the jobs folder: finished results are published again, interrupted jobs resume. */
  static async open(o: JobManagerOptions): Promise<JobManager> {
    const m = new JobManager(o);
    const { records, files } = await m.store.open();
    m.fileBytes = files.reduce((n, f) => n + (Number(f.bytes) || 0), 0);
    for (const rec of records) {
      m.jobs.set(rec.job.id, rec);
      if (rec.job.status === 'succeeded') m.publish(rec);
      else if (!TERMINAL.includes(rec.job.status)) {
        m.event(
          rec,
          'warn',
          `the server restarted while the job was ${rec.job.status}; ${rec.kind === 'pretraining' ? 'resuming from its latest checkpoint' : 'fine-tuning starts again from step 0'}`,
        );
        rec.job.status = 'queued';
        await m.store.save(rec);
        m.queue.push(rec.job.id);
      }
    }
    m.pump();
    return m;
  }

  /** bytes the jobs folder holds or has reserved */
  diskUsed(): number {
    let n = this.fileBytes;
    for (const r of this.jobs.values()) n += r.diskBytes;
    return n;
  }

  // ---- JobService ----
  async list(kind: JobKind): Promise<JobObject[]> {
    return [...this.jobs.values()]
      .filter((r) => r.kind === kind)
      .map((r) => r.job)
      .sort((a, b) => Number(b.created_at) - Number(a.created_at));
  }

  async get(kind: JobKind, id: string): Promise<JobObject> {
    return this.find(kind, id).job;
  }

  /** The record of a job (tests, diagnostics). */
  record(id: string): JobRecord | undefined {
    return this.jobs.get(id);
  }

  async events(kind: JobKind, id: string, limit: number): Promise<{ data: JobEvent[]; has_more: boolean }> {
    const rec = this.find(kind, id);
    return { data: rec.events.slice(-limit).reverse(), has_more: rec.events.length > limit };
  }

  async *follow(kind: JobKind, id: string, signal: AbortSignal): AsyncIterable<JobEvent> {
    const rec = this.find(kind, id);
    let sent = 0,
      wake: (() => void) | null = null;
    const unsubscribe = this.subscribe(id, () => {
      const w = wake;
      wake = null;
      w?.();
    });
    const onAbort = () => wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      let last: JobEvent | undefined;
      for (;;) {
        // the store may drop old metrics events (MAX_EVENTS): find our place again by identity
        if (last && rec.events[sent - 1] !== last) sent = rec.events.indexOf(last) + 1;
        while (sent < rec.events.length) yield (last = rec.events[sent++]);
        if (TERMINAL.includes(rec.job.status) || signal.aborted) return;
        await new Promise<void>((r) => (wake = r));
      }
    } finally {
      unsubscribe();
      signal.removeEventListener('abort', onAbort);
    }
  }

  async upload(f: { filename: string; purpose: string; content: string }): Promise<FileObject> {
    const bytes = new TextEncoder().encode(f.content).length;
    if (bytes > this.bounds.maxDataBytes)
      throw new RequestError('too_large', `the file has ${bytes} bytes; the limit is ${this.bounds.maxDataBytes}`, 'file', 'file_too_large');
    this.checkDisk(bytes, 'this file');
    const meta: FileObject = {
      id: rid('file-'),
      object: 'file',
      bytes,
      created_at: now(),
      filename: String(f.filename).slice(0, 256),
      purpose: String(f.purpose).slice(0, 64),
      status: 'processed',
    };
    this.fileBytes += bytes;
    try {
      await this.store.putFile(meta, f.content);
    } catch (err) {
      this.fileBytes -= bytes;
      throw err;
    }
    return meta;
  }

  async create(kind: JobKind, b: Record<string, unknown>): Promise<JobObject> {
    const active = this.queue.length + (this.runningId ? 1 : 0);
    if (active >= this.bounds.maxQueued)
      throw new RequestError('busy', `${active} jobs are queued or running, the server's limit; retry when one has ended`, null, 'too_many_jobs');
    if (typeof b.model !== 'string') throw invalid(`'model' (the base model id) must be a string`, 'model', 'invalid_type');
    const base = b.model;
    const lease = await this.o.models.acquire(base);
    try {
      return await this.validateAndQueue(kind, b, base, lease.served);
    } finally {
      lease.release();
    }
  }

  private async validateAndQueue(kind: JobKind, b: Record<string, unknown>, base: string, m: ServedModel): Promise<JobObject> {
    const { text, file } = await this.trainingData(b);
    const dataParam = file ? 'training_file' : 'training_data';
    const suffix = b.suffix === undefined || b.suffix === null ? null : String(b.suffix).slice(0, 64);
    if (suffix !== null && !/^[\w.-]*$/.test(suffix)) throw invalid(`'suffix' may hold letters, digits, '_', '.', '-' only`, 'suffix');
    const seed = b.seed === undefined ? 1 : Number(b.seed);
    if (!(Number.isInteger(seed) && seed >= 0)) throw invalid(`'seed' must be a non-negative integer`, 'seed');
    const cfg = m.model.cfg,
      tokenizerBytes = m.tokenizer.toJSON().length,
      dataBytes = new TextEncoder().encode(text).length;
    const id = rid(kind === 'fine_tuning' ? 'ftjob-' : 'ptjob-');
    let request: Record<string, unknown>, memory: number, disk: number, hpOut: Record<string, unknown>;
    if (kind === 'fine_tuning') {
      const hp = this.hyper(b, {
        n_epochs: [1, 100, true],
        batch_size: [1, 256, true],
        learning_rate_multiplier: [1e-6, 1000, false],
        learning_rate: [1e-8, 1, false],
        steps: [1, 1e6, true],
        lambda: [0, 10, false],
        max_len: [4, 1e6, true],
      });
      if (typeof b.task !== 'string')
        throw invalid(
          `'task' must be one of classification, entailment, similarity, multiple-choice (the task family; gptedge's addition to OpenAI's request)`,
          'task',
          'missing_required_parameter',
        );
      let family: TaskFamily;
      try {
        family = checkFamily(b.task);
      } catch (err) {
        throw invalid((err as Error).message, 'task');
      }
      const labels = b.labels === undefined ? undefined : b.labels;
      if (labels !== undefined && !(Array.isArray(labels) && labels.every((l) => typeof l === 'string')))
        throw invalid(`'labels' must be an array of strings`, 'labels', 'invalid_type');
      // validate the data now: the client learns about a bad line in its answer, not in a failed job
      let spec: TaskSpec, n: number;
      try {
        const ds = readDataset(text, family, file ? `${file}.jsonl` : 'training_data.jsonl', { labels: labels as string[] | undefined });
        spec = ds.spec;
        n = ds.examples.length;
      } catch (err) {
        throw invalid(`training data: ${(err as Error).message}`, dataParam, 'invalid_training_data');
      }
      if (cfg.nCtx < 4) throw invalid(`the base model's context window is too small to fine-tune`, 'model');
      const batch = hp.batch_size ?? Math.max(1, Math.min(finetuneDefaults.batchSize, Math.ceil(n / 8)));
      const T = Math.min(hp.max_len ?? cfg.nCtx, cfg.nCtx);
      const rows = seqsPerExample(spec);
      memory = finetuneBytes(cfg, batch, rows, T, headOutputs(spec));
      this.checkMemory(
        memory,
        `${batch} examples${rows > 1 ? ` × ${rows} sequences` : ''} × ${T} tokens`,
        hp.batch_size !== undefined ? 'hyperparameters.batch_size' : 'hyperparameters.max_len',
      );
      disk = finetuneDiskBytes(cfg, tokenizerBytes, dataBytes);
      request = { base, family, labels: labels ?? null, hp: { ...hp, batch_size: batch }, seed };
      hpOut = { n_epochs: hp.n_epochs ?? finetuneDefaults.epochs, batch_size: batch, learning_rate_multiplier: hp.learning_rate_multiplier ?? 1, ...hp };
    } else {
      const hp = this.hyper(b, {
        steps: [1, 1e7, true],
        batch_size: [1, 4096, true],
        learning_rate: [1e-8, 1, false],
        seq_len: [2, 1e6, true],
        warmup_steps: [0, 1e7, true],
        checkpoint_every: [1, 1e7, true],
      });
      const seqLen = hp.seq_len ?? cfg.nCtx;
      if (seqLen > cfg.nCtx)
        throw invalid(
          `'hyperparameters.seq_len' ${seqLen} exceeds the model's context window of ${cfg.nCtx}`,
          'hyperparameters.seq_len',
          'context_length_exceeded',
        );
      let tokens: number;
      try {
        tokens = new TokenDataset(Int32Array.from(m.tokenizer.encode(text)), seqLen, 0.1).tokens.length;
      } catch (err) {
        throw invalid(`training data: ${(err as Error).message}`, dataParam, 'invalid_training_data');
      }
      if (b.from_scratch !== undefined && typeof b.from_scratch !== 'boolean')
        throw invalid(`'from_scratch' must be a boolean`, 'from_scratch', 'invalid_type');
      const batch = hp.batch_size ?? 8;
      memory = pretrainBytes(cfg, batch, seqLen, tokens);
      this.checkMemory(memory, `${batch} sequences × ${seqLen} tokens`, hp.batch_size !== undefined ? 'hyperparameters.batch_size' : 'hyperparameters.seq_len');
      disk = pretrainDiskBytes(cfg, tokenizerBytes, dataBytes, KEEP_CHECKPOINTS);
      request = { base, hp, seed, fromScratch: b.from_scratch === true };
      hpOut = { ...hp };
    }
    this.checkDisk(disk, 'this job');
    const rec: JobRecord = {
      kind,
      request,
      events: [],
      diskBytes: disk,
      job: {
        object: kind === 'fine_tuning' ? 'fine_tuning.job' : 'pretraining.job',
        id,
        model: base,
        created_at: now(),
        finished_at: null,
        fine_tuned_model: null,
        organization_id: 'gptedge',
        result_files: [],
        status: 'queued',
        validation_file: null,
        training_file: file,
        hyperparameters: hpOut,
        trained_tokens: null,
        error: null,
        seed,
        estimated_finish: null,
        integrations: [],
        user_provided_suffix: suffix,
        estimated_memory_bytes: memory,
        ...(kind === 'fine_tuning' ? { method: { type: 'supervised', supervised: { hyperparameters: hpOut } }, task: request.family } : {}),
      },
    };
    this.jobs.set(id, rec);
    try {
      await this.store.writeData(id, text);
      this.event(
        rec,
        'info',
        `created ${rec.job.object} ${id} on base model ${base} (estimated memory ${formatBytes(memory)}, disk reserved ${formatBytes(disk)})`,
      );
      await this.store.save(rec);
    } catch (err) {
      this.jobs.delete(id);
      await this.o.fs.remove(this.store.jobDir(id)).catch(() => undefined);
      throw err;
    }
    this.queue.push(id);
    this.pump();
    return rec.job;
  }

  async cancel(kind: JobKind, id: string): Promise<JobObject> {
    const rec = this.find(kind, id);
    if (TERMINAL.includes(rec.job.status)) {
      await this.store.settled(id); // an ending that is still being saved: answer once it is on disk
      return rec.job;
    }
    const qi = this.queue.indexOf(id);
    if (qi >= 0) {
      this.queue.splice(qi, 1);
      await this.setStatus(rec, 'cancelled');
    } else {
      this.cancelRequested.add(id); // the running loop sees it at its next step
      while (!TERMINAL.includes(rec.job.status)) await new Promise<void>((r) => this.subscribe(id, r, true));
    }
    return rec.job;
  }

  /** Resolves when no job is running or queued (tests, shutdown). */
  async drain(): Promise<void> {
    while (this.runningId || this.queue.length) await this.idle;
  }

  /** Stops the running job at its next step without ending it (as a crash would): it resumes on the next open(). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.queue.length = 0;
    await this.idle;
    await this.store.settled();
  }

  /** Calls `cb` on every new event of a job; returns the unsubscribe function. */
  subscribe(id: string, cb: () => void, once = false): () => void {
    let set = this.listeners.get(id);
    if (!set) this.listeners.set(id, (set = new Set()));
    const f = once ? () => (set!.delete(f), cb()) : cb;
    set.add(f);
    return () => set!.delete(f);
  }

  // ---- checks ----
  private find(kind: JobKind, id: string): JobRecord {
    const r = this.jobs.get(id);
    if (!r || r.kind !== kind) throw new RequestError('not_found', `no ${kind.replace('_', '-')} job '${id}'`, 'id', 'job_not_found');
    return r;
  }

  private checkMemory(bytes: number, shape: string, param: string): void {
    const limit = this.bounds.maxJobBytes;
    if (bytes > limit) {
      throw invalid(
        `this job needs an estimated ${formatBytes(bytes)} of memory (a copy of the model, its gradients and Adam moments, and the activations of ${shape}); the server allows ${formatBytes(limit)} per job. Lower the batch size or the sequence length.`,
        param,
        'job_too_large',
      );
    }
  }

  private checkDisk(bytes: number, what: string): void {
    const used = this.diskUsed(),
      quota = this.bounds.diskQuotaBytes;
    if (used + bytes > quota)
      throw new RequestError(
        'quota',
        `${what} needs ${formatBytes(bytes)} in the jobs folder, which holds ${formatBytes(used)} of its ${formatBytes(quota)} quota`,
        null,
        'insufficient_storage',
      );
  }

  private async trainingData(b: Record<string, unknown>): Promise<{ text: string; file: string | null }> {
    if (b.training_data !== undefined) {
      if (typeof b.training_data !== 'string')
        throw invalid(`'training_data' must be a string (JSONL for fine-tuning, plain text for pretraining)`, 'training_data', 'invalid_type');
      const bytes = new TextEncoder().encode(b.training_data).length;
      if (bytes > this.bounds.maxDataBytes)
        throw new RequestError(
          'too_large',
          `'training_data' has ${bytes} bytes; the limit is ${this.bounds.maxDataBytes}`,
          'training_data',
          'request_too_large',
        );
      return { text: b.training_data, file: null };
    }
    const id = b.training_file;
    if (typeof id !== 'string')
      throw invalid(`give 'training_file' (an id from POST /v1/files) or 'training_data'`, 'training_file', 'missing_required_parameter');
    const text = await this.store.fileText(id);
    if (text === null) throw new RequestError('not_found', `no file '${id}'`, 'training_file', 'file_not_found');
    return { text, file: id };
  }

  private hyper(b: Record<string, unknown>, allowed: Record<string, [number, number, boolean]>): Record<string, number> {
    const h = b.hyperparameters ?? {};
    if (!h || typeof h !== 'object' || Array.isArray(h)) throw invalid(`'hyperparameters' must be an object`, 'hyperparameters', 'invalid_type');
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(h as Record<string, unknown>)) {
      const spec = allowed[k];
      if (!spec) throw invalid(`unknown hyperparameter '${k}'; known: ${Object.keys(allowed).join(', ')}`, `hyperparameters.${k}`, 'unknown_parameter');
      if (v === 'auto' || v === null) continue;
      const [lo, hi, int] = spec;
      if (typeof v !== 'number' || !Number.isFinite(v) || (int && !Number.isInteger(v)) || v < lo || v > hi) {
        throw invalid(
          `'hyperparameters.${k}' must be ${int ? 'an integer' : 'a number'} in [${lo}, ${hi}] or "auto", got ${JSON.stringify(v)}`,
          `hyperparameters.${k}`,
        );
      }
      out[k] = v;
    }
    return out;
  }

  // ---- events and status ----
  private event(rec: JobRecord, level: JobEvent['level'], message: string, data?: Record<string, unknown>): void {
    this.appendEvent(rec, level, message, data);
    this.notify(rec);
  }
  private appendEvent(rec: JobRecord, level: JobEvent['level'], message: string, data?: Record<string, unknown>): void {
    rec.events.push({
      object: `${rec.kind}.job.event`,
      id: rid(rec.kind === 'fine_tuning' ? 'ftevent-' : 'ptevent-'),
      created_at: now(),
      level,
      message,
      type: data ? 'metrics' : 'message',
      ...(data ? { data } : {}),
    });
  }
  private notify(rec: JobRecord): void {
    for (const l of this.listeners.get(rec.job.id) ?? []) l();
  }

  /** Listeners (a waiting cancel, the event stream) hear of a new status once it is on disk. */
  private async setStatus(rec: JobRecord, status: JobObject['status'], extra: Record<string, unknown> = {}): Promise<void> {
    Object.assign(rec.job, { status, ...extra });
    if (TERMINAL.includes(status)) rec.job.finished_at = now();
    this.appendEvent(rec, status === 'failed' ? 'error' : 'info', `job ${status}${extra.error ? `: ${(extra.error as { message: string }).message}` : ''}`);
    try {
      await this.store.save(rec);
    } finally {
      this.notify(rec);
    }
  }

  // ---- running ----
  private pump(): void {
    if (this.runningId || this.stopping) return;
    const id = this.queue.shift();
    if (!id) return;
    this.runningId = id;
    this.idle = this.run(this.jobs.get(id)!).finally(() => {
      this.runningId = null;
      this.pump();
    });
  }

  private async run(rec: JobRecord): Promise<void> {
    const id = rec.job.id;
    const check = () => {
      if (this.stopping) throw new Stopped();
      if (this.cancelRequested.has(id)) throw new Cancelled();
    };
    // everything the job allocates, freed whatever way it ends
    const owned = new Set<{ free(): void }>();
    let lease: Awaited<ReturnType<JobModels['acquire']>> | null = null;
    try {
      await macrotask(); // the creating request is answered first
      check();
      lease = await this.o.models.acquire(rec.request.base as string).catch(() => {
        throw new Error(`the base model '${rec.request.base}' is no longer served`);
      });
      const be = yielding(this.o.backend, this.o.yieldEveryMs ?? 10);
      await this.setStatus(rec, 'running');
      const text = await this.store.readData(id);
      if (rec.kind === 'fine_tuning') await this.runFinetune(rec, lease.served, be, text, check, owned);
      else await this.runPretrain(rec, lease.served, be, text, check, owned);
    } catch (err) {
      if (err instanceof Stopped) return; // stays "running" on disk: resumed by the next open()
      if (err instanceof Cancelled) await this.setStatus(rec, 'cancelled');
      else await this.setStatus(rec, 'failed', { error: { code: 'training_failed', message: err instanceof Error ? err.message : String(err), param: null } });
    } finally {
      this.cancelRequested.delete(id);
      for (const x of owned) x.free();
      lease?.release();
    }
  }

  private async runFinetune(rec: JobRecord, base: ServedModel, be: Backend, text: string, check: () => void, owned: Set<{ free(): void }>): Promise<void> {
    const r = rec.request as { base: string; family: TaskFamily; labels: string[] | null; hp: Record<string, number>; seed: number };
    const data = readDataset(text, r.family, 'training_data.jsonl', { labels: r.labels ?? undefined });
    const copy = await copyModel(base.model, be);
    owned.add(copy);
    const ft = await prepareFinetune(copy, GPTTokenizer.fromJSON(base.tokenizer.toJSON()), data.spec, {
      seed: r.seed,
      maxLen: r.hp.max_len ? Math.min(r.hp.max_len, copy.cfg.nCtx) : undefined,
    });
    owned.add(ft.head);
    if (ft.model !== copy) {
      // the vocabulary grew: the copy was replaced by a larger model
      owned.delete(copy);
      copy.free();
      owned.add(ft.model);
    }
    const enc = encodeAll(ft, data.examples, (i) => `training data line ${data.lines[i]}`);
    const batchSize = r.hp.batch_size;
    const lr = r.hp.learning_rate ?? finetuneDefaults.lr * (r.hp.learning_rate_multiplier ?? 1);
    let tokens = 0;
    for (const e of enc) for (const s of e.seqs) tokens += s.length;
    let lastSave = Date.now();
    const res = await finetune(ft, enc, {
      epochs: r.hp.n_epochs ?? finetuneDefaults.epochs,
      batchSize,
      steps: r.hp.steps,
      lr,
      lmCoef: r.hp.lambda,
      seed: r.seed,
      onStep: (e) => {
        check();
        this.event(rec, 'info', `Step ${e.step}/${e.steps}: training loss=${e.l3.toFixed(4)}`, {
          step: e.step,
          total_steps: e.steps,
          train_loss: e.l3,
          l2: e.l2,
          l1: e.l1,
          lr: e.lr,
          epoch: e.epoch,
        });
        if (Date.now() - lastSave > 1000) {
          lastSave = Date.now();
          void this.store.save(rec).catch(() => undefined);
        }
      },
    });
    check();
    await saveFinetuned(this.o.fs, this.store.modelDir(rec.job.id), ft, { base: r.base, job: rec.job.id, steps: res.steps });
    rec.request.result = { cfg: ft.model.cfg, task: ft.spec };
    const name = `ft:${r.base}:${(rec.job.user_provided_suffix as string | null) || 'gptedge'}:${rec.job.id}`;
    await this.setStatus(rec, 'succeeded', { fine_tuned_model: name, trained_tokens: tokens * (r.hp.n_epochs ?? finetuneDefaults.epochs), result_files: [] });
    this.publish(rec);
  }

  private async runPretrain(rec: JobRecord, base: ServedModel, be: Backend, text: string, check: () => void, owned: Set<{ free(): void }>): Promise<void> {
    const r = rec.request as { base: string; hp: Record<string, number>; seed: number; fromScratch: boolean };
    const runDir = this.store.runDir(rec.job.id);
    const tokenizerJSON = base.tokenizer.toJSON();
    let model: GPT,
      startStep = 0,
      history: { step: number; loss?: number; valLoss?: number }[] = [],
      saved: OptimizerState | null = null;
    if (await this.o.fs.exists(`${runDir}/latest.json`)) {
      const ck = await loadModel(this.o.fs, runDir, be, { withOptimizer: true });
      model = ck.model;
      owned.add(model);
      saved = ck.checkpoint.optimizer;
      startStep = Number(ck.checkpoint.trainState?.step ?? 0);
      history = (ck.checkpoint.trainState?.history as typeof history) ?? [];
      this.event(rec, 'info', `resumed from the checkpoint at step ${startStep}`, { step: startStep, resumed: true });
    } else {
      model = r.fromScratch ? new GPT(be, base.model.cfg).init(r.seed) : await copyModel(base.model, be);
      owned.add(model);
    }
    const T = r.hp.seq_len ?? model.cfg.nCtx,
      steps = r.hp.steps ?? 100,
      B = r.hp.batch_size ?? 8;
    const data = new TokenDataset(Int32Array.from(base.tokenizer.encode(text)), T, 0.1);
    const every = r.hp.checkpoint_every ?? Math.max(1, Math.floor(steps / 10));
    let tokens = 0;
    const optimizer = modelOptimizer(model, saved);
    owned.add(optimizer);
    await pretrain(model, data, {
      steps,
      batchSize: B,
      lr: r.hp.learning_rate ?? pretrainDefaults.lr,
      warmupSteps: r.hp.warmup_steps ?? Math.min(pretrainDefaults.warmupSteps, Math.ceil(steps / 10)),
      seed: r.seed,
      startStep,
      history,
      checkpointEvery: every,
      evalEvery: every,
      evalBatches: 2,
      optimizer,
      onStep: (e) => {
        check();
        tokens = e.step * B * T;
        this.event(rec, 'info', `Step ${e.step}/${e.steps}: training loss=${e.loss.toFixed(4)}`, {
          step: e.step,
          total_steps: e.steps,
          train_loss: e.loss,
          lr: e.lr,
        });
      },
      onEval: (e) => this.event(rec, 'info', `Step ${e.step}: validation loss=${e.valLoss.toFixed(4)}`, { step: e.step, valid_loss: e.valLoss }),
      checkpoint: async (state, opt) => {
        await saveCheckpoint(this.o.fs, runDir, model, tokenizerJSON, { ...state }, { keep: KEEP_CHECKPOINTS, optimizer: opt });
        this.event(rec, 'info', `checkpoint at step ${state.step}`, { step: state.step, checkpoint: true });
        await this.store.save(rec);
      },
    });
    check();
    rec.request.result = { cfg: model.cfg, task: null };
    const name = `pt:${r.base}:${(rec.job.user_provided_suffix as string | null) || 'gptedge'}:${rec.job.id}`;
    await this.setStatus(rec, 'succeeded', { fine_tuned_model: name, trained_tokens: tokens, result_files: [] });
    this.publish(rec);
  }

  /** Offers a succeeded job's result to the server's models; they load it from its folder when first asked. */
  private publish(rec: JobRecord): void {
    const name = rec.job.fine_tuned_model,
      result = rec.request.result as { cfg: GPTConfig; task: TaskSpec | null } | undefined;
    if (typeof name !== 'string' || !result) return;
    const fs = this.o.fs,
      be = this.o.backend;
    const dir = rec.kind === 'fine_tuning' ? this.store.modelDir(rec.job.id) : this.store.runDir(rec.job.id);
    this.o.models.publish(name, result, async (): Promise<ServedModel> => {
      if (rec.kind === 'fine_tuning') return loadFinetuned(fs, dir, be);
      const { model, tokenizer } = await loadModel(fs, dir, be);
      return { model, tokenizer };
    });
  }
}
