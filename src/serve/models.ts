// The models a server answers with. Base models (given at start: `--model`) stay loaded; results of
// training jobs are published with their folder and loaded when first used, at most `maxLoaded` at a
// time: loading one more unloads (frees) the least recently used result that no request holds, and
// when every loaded result is in use the request is refused as busy (429) rather than over memory.
//
// Also: opening model folders for serving — a fine-tuned folder (task.json + head) serves classify and
// score as well as completions; a pretrained folder or run folder serves completions and score.
import type { Backend } from '../backend/backend.ts';
import { join, type FileSystem } from '../io/fs.ts';
import { loadModel } from '../model/load.ts';
import type { GPTConfig } from '../model/config.ts';
import type { GPTOptions } from '../model/gpt.ts';
import { loadFinetuned, TASK_FILE, type TaskSpec } from '../finetune/index.ts';
import { freeModel, isFinetuned, type JobModels, type ModelLease, type ServedModel } from '../jobs/service.ts';
import { RequestError } from '../util/request-error.ts';
import type { ModelInfo } from './engine.ts';

export { isFinetuned, type ServedModel };

/** "id=dir" or "dir" (the id is then the folder's name). */
export function parseModelArg(spec: string): { id: string; dir: string } {
  const eq = spec.indexOf('=');
  if (eq > 0 && !spec.slice(0, eq).includes('/')) return { id: spec.slice(0, eq), dir: spec.slice(eq + 1) };
  const dir = spec.replace(/\/+$/, '');
  return { id: dir.split('/').pop() || dir, dir };
}

export async function loadServedModel(fs: FileSystem, dir: string, backend: Backend, opts: GPTOptions = {}): Promise<ServedModel> {
  if (await fs.exists(join(dir, TASK_FILE))) return loadFinetuned(fs, dir, backend, opts);
  const { model, tokenizer } = await loadModel(fs, dir, backend, opts);
  return { model, tokenizer };
}

const describe = (id: string, cfg: GPTConfig, task: TaskSpec | null): ModelInfo => ({
  id,
  contextLength: cfg.nCtx,
  vocabSize: cfg.vocabSize,
  task: task ? { family: task.family, labels: task.labels, choices: task.choices ?? null } : null,
});

export function modelInfo(id: string, m: ServedModel): ModelInfo {
  return describe(id, m.model.cfg, isFinetuned(m) ? m.spec : null);
}

export interface RegistryOptions {
  /** job results loaded at once (default 4) */
  maxLoaded?: number;
  /** where job results load and jobs compute (default: the first base model's backend) */
  backend?: Backend;
}

interface Entry {
  info: ModelInfo;
  /** a base model: never unloaded */
  pinned: boolean;
  served: ServedModel | null;
  loading: Promise<ServedModel> | null;
  load: (() => Promise<ServedModel>) | null;
  refs: number;
  lastUsed: number;
}

export class ModelRegistry implements JobModels {
  readonly maxLoaded: number;
  readonly backend: Backend;
  private readonly entries = new Map<string, Entry>();
  private readonly unloadHooks: ((m: ServedModel) => void)[] = [];
  private readonly changeHooks: (() => void)[] = [];
  private clock = 0;

  constructor(base: Iterable<[string, ServedModel]>, o: RegistryOptions = {}) {
    for (const [id, m] of base) this.entries.set(id, { info: modelInfo(id, m), pinned: true, served: m, loading: null, load: null, refs: 0, lastUsed: 0 });
    this.maxLoaded = o.maxLoaded ?? 4;
    if (!(Number.isInteger(this.maxLoaded) && this.maxLoaded >= 1)) throw new Error(`maxLoaded must be a positive integer, got ${o.maxLoaded}`);
    const first = [...this.entries.values()][0]?.served;
    const be = o.backend ?? first?.model.be;
    if (!be) throw new Error('ModelRegistry: give a backend or at least one model');
    this.backend = be;
  }

  /** ids of the base models, in the order given */
  baseIds(): string[] {
    return [...this.entries].filter(([, e]) => e.pinned).map(([id]) => id);
  }

  infos(): ModelInfo[] {
    return [...this.entries.values()].map((e) => e.info);
  }

  /** results of jobs loaded now (tests, /health) */
  loadedResults(): number {
    let n = 0;
    for (const e of this.entries.values()) if (!e.pinned && (e.served || e.loading)) n++;
    return n;
  }

  /** `cb(m)` runs before a model is freed (the engine frees what it built on it: KV caches) */
  onUnload(cb: (m: ServedModel) => void): void {
    this.unloadHooks.push(cb);
  }
  /** `cb()` runs when the list of models changes */
  onChange(cb: () => void): void {
    this.changeHooks.push(cb);
  }

  async acquire(id: string): Promise<ModelLease> {
    const e = this.entries.get(id);
    // never list the other models here: they may belong to other users of the server
    if (!e) throw new RequestError('not_found', `The model '${id}' does not exist`, 'model', 'model_not_found');
    e.refs++;
    e.lastUsed = ++this.clock;
    try {
      const served = e.served ?? (await this.load(id, e));
      let released = false;
      return {
        served,
        release: () => {
          if (released) return;
          released = true;
          e.refs--;
        },
      };
    } catch (err) {
      e.refs--;
      throw err;
    }
  }

  publish(id: string, info: { cfg: GPTConfig; task: TaskSpec | null }, load: () => Promise<ServedModel>): void {
    const old = this.entries.get(id);
    if (old?.pinned) throw new Error(`a job result may not replace the base model '${id}'`);
    this.entries.set(id, {
      info: describe(id, info.cfg, info.task),
      pinned: false,
      served: old?.served ?? null,
      loading: null,
      load,
      refs: old?.refs ?? 0,
      lastUsed: old?.lastUsed ?? 0,
    });
    for (const cb of this.changeHooks) cb();
  }

  /** Frees every loaded model. */
  close(): void {
    for (const e of this.entries.values()) if (e.served) this.unload(e);
  }

  private load(id: string, e: Entry): Promise<ServedModel> {
    if (e.loading) return e.loading;
    if (!e.load) throw new Error(`model '${id}' has no loader`);
    if (this.loadedResults() >= this.maxLoaded) {
      let lru: Entry | null = null;
      for (const x of this.entries.values()) if (!x.pinned && x.served && x.refs === 0 && (!lru || x.lastUsed < lru.lastUsed)) lru = x;
      if (!lru)
        throw new RequestError(
          'busy',
          `the server keeps ${this.maxLoaded} trained models loaded and all of them are in use; retry shortly`,
          'model',
          'models_busy',
        );
      this.unload(lru);
    }
    e.loading = e.load().then(
      (m) => {
        e.served = m;
        e.loading = null;
        return m;
      },
      (err) => {
        e.loading = null;
        throw err;
      },
    );
    return e.loading;
  }

  private unload(e: Entry): void {
    const m = e.served!;
    e.served = null;
    for (const cb of this.unloadHooks) cb(m);
    freeModel(m);
  }
}
