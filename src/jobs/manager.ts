// Training through the HTTP app: fine-tuning jobs in OpenAI's shape and gptedge's own pretraining jobs,
// run in the background on the server's backend, one at a time, persisted in a folder so that a
// restarted server reports them and picks them up again. Portable: files come through FileSystem.
//
//   POST /v1/files                          upload training data (JSON {filename, purpose, content} or multipart "file")
//   POST /v1/fine_tuning/jobs               {model, training_file | training_data (JSONL), task, labels?, hyperparameters, suffix?, seed?}
//   GET  /v1/fine_tuning/jobs[/{id}]        the job(s), OpenAI's fine_tuning.job object
//   GET  /v1/fine_tuning/jobs/{id}/events   list; with ?stream=true or Accept: text/event-stream, SSE until the job ends
//   POST /v1/fine_tuning/jobs/{id}/cancel
//   …and the same five under /v1/pretraining/jobs: {model, training_file | training_data (plain text),
//   hyperparameters: {steps, batch_size, learning_rate, seq_len, warmup_steps, checkpoint_every}, from_scratch?}
//
// On disk, under `dir`:
//   files/<file-id>.json + files/<file-id>.data            uploaded training data
//   <job-id>/job.json                                       the job object, its events and its request
//   <job-id>/run/step-NNNNNN/…, latest.json                 pretraining checkpoints (src/io/checkpoint.ts)
//   <job-id>/model/                                         the result: a servable (fine-tuned) model folder
// A job that was running when the server stopped is resumed when a new JobManager opens the folder:
// pretraining from its latest checkpoint (weights, Adam moments, step, history — exact), fine-tuning from
// step 0 (src/finetune has no resume point yet; the event log says so).
import type { Context, Hono } from 'hono';
import type { Backend } from '../src/backend/backend.ts';
import { GPT } from '../src/model/gpt.ts';
import { finetuneDefaults, pretrainDefaults } from '../src/model/config.ts';
import { join, readText, writeAtomic, type FileSystem } from '../src/io/fs.ts';
import { saveCheckpoint } from '../src/io/checkpoint.ts';
import { loadModel } from '../src/model/load.ts';
import { GPTTokenizer } from '../src/tokenizer/tokenizer.ts';
import { TokenDataset } from '../src/train/data.ts';
import { pretrain } from '../src/train/pretrain.ts';
import {
  checkFamily, encodeAll, finetune, loadFinetuned, prepareFinetune, readDataset, saveFinetuned, type TaskFamily,
} from '../src/finetune/index.ts';
import { ApiError, type JobRoutes, type ServedModel } from './hono.ts';

type Kind = 'fine_tuning' | 'pretraining';
type Status = 'validating_files' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
const TERMINAL: Status[] = ['succeeded', 'failed', 'cancelled'];

export interface JobEvent {
  object: string;
  id: string;
  created_at: number;
  level: 'info' | 'warn' | 'error';
  message: string;
  type: 'message' | 'metrics';
  data?: Record<string, unknown>;
}

interface JobRecord {
  job: Record<string, unknown> & { id: string; status: Status; object: string };
  kind: Kind;
  request: Record<string, unknown>;
  events: JobEvent[];
}

export interface JobManagerOptions {
  fs: FileSystem;
  /** the folder jobs live in (created if missing) */
  dir: string;
  /** base models come from here; finished jobs add their result */
  models: Map<string, ServedModel>;
  /** where jobs compute (default: the base model's backend) */
  backend?: Backend;
  /** training yields to the event loop at least this often (ms; default 10), so the server keeps answering */
  yieldEveryMs?: number;
  /** largest upload / inline training data in bytes (default 8 MiB) */
  maxDataBytes?: number;
}

class Stopped extends Error {}
class Cancelled extends Error {}

const now = () => Math.floor(Date.now() / 1000);
const rid = (p: string) => p + Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => (b % 36).toString(36)).join('');
const macrotask = () => new Promise<void>((r) => setTimeout(r, 0));

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

export class JobManager implements JobRoutes {
  private readonly jobs = new Map<string, JobRecord>();
  private readonly listeners = new Map<string, Set<() => void>>();
  private readonly queue: string[] = [];
  private runningId: string | null = null;
  private cancelRequested = new Set<string>();
  private stopping = false;
  private idle: Promise<void> = Promise.resolve();
  private readonly o: Required<Omit<JobManagerOptions, 'backend'>> & { backend?: Backend };

  private constructor(o: JobManagerOptions) {
    this.o = { yieldEveryMs: 10, maxDataBytes: 8 << 20, ...o };
  }

  /** Opens (or creates) the jobs folder: finished models are served again, interrupted jobs resume. */
  static async open(o: JobManagerOptions): Promise<JobManager> {
    const m = new JobManager(o);
    await o.fs.mkdir(join(o.dir, 'files'));
    const names = (await o.fs.readdir(o.dir)).filter((n) => /^(ftjob|ptjob)-/.test(n)).sort();
    for (const n of names) {
      const f = join(o.dir, n, 'job.json');
      if (!(await o.fs.exists(f))) continue;
      let rec: JobRecord;
      try {
        rec = JSON.parse(await readText(o.fs, f));
      } catch {
        continue; // a half-written job folder (job.json is replaced atomically, so only a crash before its first write)
      }
      m.jobs.set(rec.job.id, rec);
      if (rec.job.status === 'succeeded' && typeof rec.job.fine_tuned_model === 'string') {
        await m.serveResult(rec).catch((err) => m.event(rec, 'error', `the result model could not be loaded again: ${(err as Error).message}`));
      } else if (!TERMINAL.includes(rec.job.status)) {
        m.event(rec, 'warn', `the server restarted while the job was ${rec.job.status}; ${rec.kind === 'pretraining' ? 'resuming from its latest checkpoint' : 'fine-tuning starts again from step 0'}`);
        rec.job.status = 'queued';
        await m.save(rec);
        m.queue.push(rec.job.id);
      }
    }
    m.pump();
    return m;
  }

  /** Every job, newest first. */
  list(kind: Kind): Record<string, unknown>[] {
    return [...this.jobs.values()].filter((r) => r.kind === kind).map((r) => r.job).sort((a, b) => Number(b.created_at) - Number(a.created_at));
  }

  get(id: string): JobRecord | undefined {
    return this.jobs.get(id);
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
  }

  // ---- persistence and events ----
  private async save(rec: JobRecord): Promise<void> {
    await this.o.fs.mkdir(join(this.o.dir, rec.job.id));
    await writeAtomic(this.o.fs, join(this.o.dir, rec.job.id, 'job.json'), JSON.stringify(rec));
  }

  private event(rec: JobRecord, level: JobEvent['level'], message: string, data?: Record<string, unknown>): void {
    rec.events.push({ object: `${rec.kind === 'fine_tuning' ? 'fine_tuning' : 'pretraining'}.job.event`, id: rid(rec.kind === 'fine_tuning' ? 'ftevent-' : 'ptevent-'), created_at: now(), level, message, type: data ? 'metrics' : 'message', ...(data ? { data } : {}) });
    for (const l of this.listeners.get(rec.job.id) ?? []) l();
  }

  private async setStatus(rec: JobRecord, status: Status, extra: Record<string, unknown> = {}): Promise<void> {
    Object.assign(rec.job, { status, ...extra });
    if (TERMINAL.includes(status)) rec.job.finished_at = now();
    this.event(rec, status === 'failed' ? 'error' : 'info', `job ${status}${extra.error ? `: ${(extra.error as { message: string }).message}` : ''}`);
    await this.save(rec);
  }

  // ---- creating jobs ----
  private async trainingData(b: Record<string, unknown>): Promise<{ text: string; file: string | null }> {
    if (b.training_data !== undefined) {
      if (typeof b.training_data !== 'string') throw new ApiError(400, `'training_data' must be a string (JSONL for fine-tuning, plain text for pretraining)`, 'invalid_request_error', 'training_data', 'invalid_type');
      if (b.training_data.length > this.o.maxDataBytes) throw new ApiError(413, `'training_data' is larger than ${this.o.maxDataBytes} bytes`, 'invalid_request_error', 'training_data', 'request_too_large');
      return { text: b.training_data, file: null };
    }
    const id = b.training_file;
    if (typeof id !== 'string') throw new ApiError(400, `give 'training_file' (an id from POST /v1/files) or 'training_data'`, 'invalid_request_error', 'training_file', 'missing_required_parameter');
    if (!/^file-[a-z0-9]+$/.test(id) || !(await this.o.fs.exists(join(this.o.dir, 'files', `${id}.data`)))) {
      throw new ApiError(404, `no file '${id}'`, 'invalid_request_error', 'training_file', 'file_not_found');
    }
    return { text: await readText(this.o.fs, join(this.o.dir, 'files', `${id}.data`)), file: id };
  }

  private baseModel(b: Record<string, unknown>): { id: string; m: ServedModel } {
    if (typeof b.model !== 'string') throw new ApiError(400, `'model' (the base model id) must be a string`, 'invalid_request_error', 'model', 'invalid_type');
    const m = this.o.models.get(b.model);
    if (!m) throw new ApiError(404, `The model '${b.model}' does not exist; served models: ${[...this.o.models.keys()].join(', ')}`, 'invalid_request_error', 'model', 'model_not_found');
    return { id: b.model, m };
  }

  private hyper(b: Record<string, unknown>, allowed: Record<string, [number, number, boolean]>): Record<string, number> {
    const h = b.hyperparameters ?? {};
    if (!h || typeof h !== 'object' || Array.isArray(h)) throw new ApiError(400, `'hyperparameters' must be an object`, 'invalid_request_error', 'hyperparameters', 'invalid_type');
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(h as Record<string, unknown>)) {
      const spec = allowed[k];
      if (!spec) throw new ApiError(400, `unknown hyperparameter '${k}'; known: ${Object.keys(allowed).join(', ')}`, 'invalid_request_error', `hyperparameters.${k}`, 'unknown_parameter');
      if (v === 'auto' || v === null) continue;
      const [lo, hi, int] = spec;
      if (typeof v !== 'number' || !Number.isFinite(v) || (int && !Number.isInteger(v)) || v < lo || v > hi) {
        throw new ApiError(400, `'hyperparameters.${k}' must be ${int ? 'an integer' : 'a number'} in [${lo}, ${hi}] or "auto", got ${JSON.stringify(v)}`, 'invalid_request_error', `hyperparameters.${k}`, 'invalid_value');
      }
      out[k] = v;
    }
    return out;
  }

  async create(kind: Kind, b: Record<string, unknown>): Promise<Record<string, unknown>> {
    const { id: base, m } = this.baseModel(b);
    const { text, file } = await this.trainingData(b);
    const suffix = b.suffix === undefined || b.suffix === null ? null : String(b.suffix).slice(0, 64);
    if (suffix !== null && !/^[\w.-]*$/.test(suffix)) throw new ApiError(400, `'suffix' may hold letters, digits, '_', '.', '-' only`, 'invalid_request_error', 'suffix', 'invalid_value');
    const seed = b.seed === undefined ? 1 : Number(b.seed);
    if (!(Number.isInteger(seed) && seed >= 0)) throw new ApiError(400, `'seed' must be a non-negative integer`, 'invalid_request_error', 'seed', 'invalid_value');
    const id = rid(kind === 'fine_tuning' ? 'ftjob-' : 'ptjob-');
    let request: Record<string, unknown>;
    if (kind === 'fine_tuning') {
      const hp = this.hyper(b, { n_epochs: [1, 100, true], batch_size: [1, 256, true], learning_rate_multiplier: [1e-6, 1000, false], learning_rate: [1e-8, 1, false], steps: [1, 1e6, true], lambda: [0, 10, false], max_len: [4, 1e6, true] });
      if (typeof b.task !== 'string') throw new ApiError(400, `'task' must be one of classification, entailment, similarity, multiple-choice (the task family; gptedge's addition to OpenAI's request)`, 'invalid_request_error', 'task', 'missing_required_parameter');
      let family: TaskFamily;
      try {
        family = checkFamily(b.task);
      } catch (err) {
        throw new ApiError(400, (err as Error).message, 'invalid_request_error', 'task', 'invalid_value');
      }
      const labels = b.labels === undefined ? undefined : b.labels;
      if (labels !== undefined && !(Array.isArray(labels) && labels.every((l) => typeof l === 'string'))) throw new ApiError(400, `'labels' must be an array of strings`, 'invalid_request_error', 'labels', 'invalid_type');
      // validate the data now: the client learns about a bad line in its answer, not in a failed job
      try {
        readDataset(text, family, file ? `${file}.jsonl` : 'training_data.jsonl', { labels: labels as string[] | undefined });
      } catch (err) {
        throw new ApiError(400, `training data: ${(err as Error).message}`, 'invalid_request_error', file ? 'training_file' : 'training_data', 'invalid_training_data');
      }
      if (m.model.cfg.nCtx < 4) throw new ApiError(400, `the base model's context window is too small to fine-tune`, 'invalid_request_error', 'model');
      request = { base, family, labels: labels ?? null, hp, seed };
    } else {
      const hp = this.hyper(b, { steps: [1, 1e7, true], batch_size: [1, 4096, true], learning_rate: [1e-8, 1, false], seq_len: [2, 1e6, true], warmup_steps: [0, 1e7, true], checkpoint_every: [1, 1e7, true] });
      const seqLen = hp.seq_len ?? m.model.cfg.nCtx;
      if (seqLen > m.model.cfg.nCtx) throw new ApiError(400, `'hyperparameters.seq_len' ${seqLen} exceeds the model's context window of ${m.model.cfg.nCtx}`, 'invalid_request_error', 'hyperparameters.seq_len', 'context_length_exceeded');
      try {
        new TokenDataset(Int32Array.from(m.tokenizer.encode(text)), seqLen, 0.1);
      } catch (err) {
        throw new ApiError(400, `training data: ${(err as Error).message}`, 'invalid_request_error', file ? 'training_file' : 'training_data', 'invalid_training_data');
      }
      if (b.from_scratch !== undefined && typeof b.from_scratch !== 'boolean') throw new ApiError(400, `'from_scratch' must be a boolean`, 'invalid_request_error', 'from_scratch', 'invalid_type');
      request = { base, hp, seed, fromScratch: b.from_scratch === true };
    }
    await this.o.fs.mkdir(join(this.o.dir, id));
    await this.o.fs.writeFile(join(this.o.dir, id, 'data'), text);
    const hpOut = kind === 'fine_tuning'
      ? { n_epochs: (request.hp as Record<string, number>).n_epochs ?? finetuneDefaults.epochs, batch_size: (request.hp as Record<string, number>).batch_size ?? 'auto', learning_rate_multiplier: (request.hp as Record<string, number>).learning_rate_multiplier ?? 1, ...(request.hp as object) }
      : { ...(request.hp as object) };
    const rec: JobRecord = {
      kind, request, events: [],
      job: {
        object: kind === 'fine_tuning' ? 'fine_tuning.job' : 'pretraining.job', id, model: base, created_at: now(), finished_at: null,
        fine_tuned_model: null, organization_id: 'gptedge', result_files: [], status: 'queued', validation_file: null, training_file: file,
        hyperparameters: hpOut, trained_tokens: null, error: null, seed, estimated_finish: null, integrations: [], user_provided_suffix: suffix,
        ...(kind === 'fine_tuning' ? { method: { type: 'supervised', supervised: { hyperparameters: hpOut } }, task: request.family } : {}),
      },
    };
    this.jobs.set(id, rec);
    this.event(rec, 'info', `created ${rec.job.object} ${id} on base model ${base}`);
    await this.save(rec);
    this.queue.push(id);
    this.pump();
    return rec.job;
  }

  async cancel(id: string): Promise<Record<string, unknown>> {
    const rec = this.jobs.get(id)!;
    if (TERMINAL.includes(rec.job.status)) return rec.job;
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

  /** Calls `cb` on every new event of a job; returns the unsubscribe function. */
  subscribe(id: string, cb: () => void, once = false): () => void {
    let set = this.listeners.get(id);
    if (!set) this.listeners.set(id, (set = new Set()));
    const f = once ? () => (set!.delete(f), cb()) : cb;
    set.add(f);
    return () => set!.delete(f);
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
    try {
      await macrotask(); // the creating request is answered first
      check();
      const base = this.o.models.get(rec.request.base as string);
      if (!base) throw new Error(`the base model '${rec.request.base}' is no longer served`);
      const be = yielding(this.o.backend ?? base.model.be, this.o.yieldEveryMs);
      await this.setStatus(rec, 'running');
      const text = await readText(this.o.fs, join(this.o.dir, id, 'data'));
      if (rec.kind === 'fine_tuning') await this.runFinetune(rec, base, be, text, check);
      else await this.runPretrain(rec, base, be, text, check);
      this.cancelRequested.delete(id);
    } catch (err) {
      this.cancelRequested.delete(id);
      if (err instanceof Stopped) return; // stays "running" on disk: resumed by the next open()
      if (err instanceof Cancelled) await this.setStatus(rec, 'cancelled');
      else await this.setStatus(rec, 'failed', { error: { code: 'training_failed', message: err instanceof Error ? err.message : String(err), param: null } });
    }
  }

  private async runFinetune(rec: JobRecord, base: ServedModel, be: Backend, text: string, check: () => void): Promise<void> {
    const r = rec.request as { base: string; family: TaskFamily; labels: string[] | null; hp: Record<string, number>; seed: number };
    const data = readDataset(text, r.family, 'training_data.jsonl', { labels: r.labels ?? undefined });
    const model = await copyModel(base.model, be);
    const ft = await prepareFinetune(model, GPTTokenizer.fromJSON(base.tokenizer.toJSON()), data.spec, { seed: r.seed, maxLen: r.hp.max_len ? Math.min(r.hp.max_len, model.cfg.nCtx) : undefined });
    const enc = encodeAll(ft, data.examples, (i) => `training data line ${data.lines[i]}`);
    const batchSize = r.hp.batch_size ?? Math.max(1, Math.min(finetuneDefaults.batchSize, Math.ceil(enc.length / 8)));
    const lr = r.hp.learning_rate ?? finetuneDefaults.lr * (r.hp.learning_rate_multiplier ?? 1);
    (rec.job.hyperparameters as Record<string, unknown>).batch_size = batchSize;
    let tokens = 0;
    for (const e of enc) for (const s of e.seqs) tokens += s.length;
    let lastSave = Date.now();
    const res = await finetune(ft, enc, {
      epochs: r.hp.n_epochs ?? finetuneDefaults.epochs, batchSize, steps: r.hp.steps, lr, lmCoef: r.hp.lambda, seed: r.seed,
      onStep: (e) => {
        check();
        this.event(rec, 'info', `Step ${e.step}/${e.steps}: training loss=${e.l3.toFixed(4)}`, { step: e.step, total_steps: e.steps, train_loss: e.l3, l2: e.l2, l1: e.l1, lr: e.lr, epoch: e.epoch });
        if (Date.now() - lastSave > 1000) {
          lastSave = Date.now();
          void this.save(rec).catch(() => undefined);
        }
      },
    });
    check();
    const out = join(this.o.dir, rec.job.id, 'model');
    await saveFinetuned(this.o.fs, out, ft, { base: r.base, job: rec.job.id, steps: res.steps });
    const name = `ft:${r.base}:${(rec.job.user_provided_suffix as string | null) || 'gptedge'}:${rec.job.id}`;
    await this.setStatus(rec, 'succeeded', { fine_tuned_model: name, trained_tokens: tokens * (r.hp.n_epochs ?? finetuneDefaults.epochs), result_files: [] });
    await this.serveResult(rec);
  }

  private async runPretrain(rec: JobRecord, base: ServedModel, be: Backend, text: string, check: () => void): Promise<void> {
    const r = rec.request as { base: string; hp: Record<string, number>; seed: number; fromScratch: boolean };
    const runDir = join(this.o.dir, rec.job.id, 'run');
    const tokenizerJSON = base.tokenizer.toJSON();
    let model: GPT, startStep = 0, history: { step: number; loss?: number; valLoss?: number }[] = [];
    if (await this.o.fs.exists(join(runDir, 'latest.json'))) {
      const ck = await loadModel(this.o.fs, runDir, be, { withOptimizer: true });
      model = ck.model;
      startStep = Number(ck.checkpoint.trainState?.step ?? 0);
      history = (ck.checkpoint.trainState?.history as typeof history) ?? [];
      this.event(rec, 'info', `resumed from the checkpoint at step ${startStep}`, { step: startStep, resumed: true });
    } else {
      model = r.fromScratch ? new GPT(be, base.model.cfg).init(r.seed) : await copyModel(base.model, be);
    }
    const T = r.hp.seq_len ?? model.cfg.nCtx, steps = r.hp.steps ?? 100;
    const data = new TokenDataset(Int32Array.from(base.tokenizer.encode(text)), T, 0.1);
    const every = r.hp.checkpoint_every ?? Math.max(1, Math.floor(steps / 10));
    let tokens = 0;
    await pretrain(model, data, {
      steps, batchSize: r.hp.batch_size ?? 8, lr: r.hp.learning_rate ?? pretrainDefaults.lr, warmupSteps: r.hp.warmup_steps ?? Math.min(pretrainDefaults.warmupSteps, Math.ceil(steps / 10)),
      seed: r.seed, startStep, history, checkpointEvery: every, evalEvery: every, evalBatches: 2,
      onStep: (e) => {
        check();
        tokens = e.step * (r.hp.batch_size ?? 8) * T;
        this.event(rec, 'info', `Step ${e.step}/${e.steps}: training loss=${e.loss.toFixed(4)}`, { step: e.step, total_steps: e.steps, train_loss: e.loss, lr: e.lr });
      },
      onEval: (e) => this.event(rec, 'info', `Step ${e.step}: validation loss=${e.valLoss.toFixed(4)}`, { step: e.step, valid_loss: e.valLoss }),
      checkpoint: async (state) => {
        await saveCheckpoint(this.o.fs, runDir, model, tokenizerJSON, { ...state }, { keep: 2 });
        this.event(rec, 'info', `checkpoint at step ${state.step}`, { step: state.step, checkpoint: true });
        await this.save(rec);
      },
    });
    check();
    const name = `pt:${r.base}:${(rec.job.user_provided_suffix as string | null) || 'gptedge'}:${rec.job.id}`;
    await this.setStatus(rec, 'succeeded', { fine_tuned_model: name, trained_tokens: tokens, result_files: [] });
    await this.serveResult(rec);
  }

  /** Loads a finished job's result onto the serving backend and adds it to the served models. */
  private async serveResult(rec: JobRecord): Promise<void> {
    const base = this.o.models.get(rec.request.base as string);
    const be = this.o.backend ?? base?.model.be;
    if (!be) throw new Error(`no backend to load ${rec.job.fine_tuned_model} on (its base model is not served)`);
    const name = rec.job.fine_tuned_model as string;
    if (rec.kind === 'fine_tuning') this.o.models.set(name, await loadFinetuned(this.o.fs, join(this.o.dir, rec.job.id, 'model'), be));
    else {
      const { model, tokenizer } = await loadModel(this.o.fs, join(this.o.dir, rec.job.id, 'run'), be);
      this.o.models.set(name, { model, tokenizer });
    }
  }

  // ---- routes ----
  mount(app: Hono, h: { error: (c: Context, e: ApiError) => Response; readJSON: (c: Context) => Promise<Record<string, unknown>> }): void {
    app.post('/v1/files', async (c) => {
      const ct = c.req.header('content-type') ?? '';
      let filename = 'data.jsonl', purpose = 'fine-tune', content: string;
      if (/^multipart\/form-data/i.test(ct)) {
        const form = await c.req.parseBody();
        const f = form.file;
        if (!f || typeof f === 'string' || Array.isArray(f)) throw new ApiError(400, `multipart upload needs a "file" part`, 'invalid_request_error', 'file', 'missing_required_parameter');
        filename = (f as File).name || filename;
        content = await (f as File).text();
        if (typeof form.purpose === 'string') purpose = form.purpose;
      } else {
        const b = await h.readJSON(c);
        if (typeof b.content !== 'string') throw new ApiError(400, `'content' must be a string (the file's text)`, 'invalid_request_error', 'content', 'invalid_type');
        content = b.content;
        if (typeof b.filename === 'string') filename = b.filename;
        if (typeof b.purpose === 'string') purpose = b.purpose;
      }
      if (content.length > this.o.maxDataBytes) throw new ApiError(413, `the file is larger than ${this.o.maxDataBytes} bytes`, 'invalid_request_error', 'file', 'request_too_large');
      const id = rid('file-');
      const meta = { id, object: 'file', bytes: new TextEncoder().encode(content).length, created_at: now(), filename, purpose, status: 'processed' };
      await this.o.fs.writeFile(join(this.o.dir, 'files', `${id}.data`), content);
      await writeAtomic(this.o.fs, join(this.o.dir, 'files', `${id}.json`), JSON.stringify(meta));
      return c.json(meta);
    });

    for (const kind of ['fine_tuning', 'pretraining'] as const) {
      const base = `/v1/${kind}/jobs`;
      const find = (id: string) => {
        const r = this.jobs.get(id);
        if (!r || r.kind !== kind) throw new ApiError(404, `no ${kind.replace('_', '-')} job '${id}'`, 'invalid_request_error', 'id', 'job_not_found');
        return r;
      };
      app.post(base, async (c) => c.json(await this.create(kind, await h.readJSON(c))));
      app.get(base, (c) => c.json({ object: 'list', data: this.list(kind), has_more: false }));
      app.get(`${base}/:id`, (c) => c.json(find(c.req.param('id')).job));
      app.post(`${base}/:id/cancel`, async (c) => c.json(await this.cancel(find(c.req.param('id')).job.id)));
      app.get(`${base}/:id/events`, (c) => {
        const rec = find(c.req.param('id'));
        const wantsStream = c.req.query('stream') === 'true' || /text\/event-stream/.test(c.req.header('accept') ?? '');
        if (!wantsStream) {
          const limit = Math.max(1, Math.min(10_000, Number(c.req.query('limit') ?? 20) || 20));
          return c.json({ object: 'list', data: rec.events.slice(-limit).reverse(), has_more: rec.events.length > limit });
        }
        // SSE: every event so far, then new ones as they come, until the job ends or the client leaves
        const enc = new TextEncoder();
        let sent = 0, unsubscribe = () => {}, wake: (() => void) | null = null;
        const signal = c.req.raw.signal;
        const body = new ReadableStream<Uint8Array>({
          start: () => {
            unsubscribe = this.subscribe(rec.job.id, () => {
              const w = wake;
              wake = null;
              w?.();
            });
          },
          pull: async (controller) => {
            while (sent >= rec.events.length && !TERMINAL.includes(rec.job.status) && !signal.aborted) {
              await new Promise<void>((r) => {
                wake = r;
                signal.addEventListener('abort', () => r(), { once: true });
              });
            }
            if (sent < rec.events.length) {
              let s = '';
              for (; sent < rec.events.length; sent++) s += `data: ${JSON.stringify(rec.events[sent])}\n\n`;
              controller.enqueue(enc.encode(s));
              return;
            }
            if (TERMINAL.includes(rec.job.status)) controller.enqueue(enc.encode(`data: [DONE]\n\n`));
            unsubscribe();
            controller.close();
          },
          cancel: () => unsubscribe(),
        });
        return new Response(body, { headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' } });
      });
    }
  }
}
