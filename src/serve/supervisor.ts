// An engine that replaces itself when it fails: a WebGPU device lost (a driver reset, a GPU process
// crash, sleep/resume: Backend `lost`), or the engine worker dying. The failed engine's requests in flight
// fail (server errors); new requests wait for the replacement, which `start` builds from scratch — a new
// device, the models reloaded from their folders, interrupted training jobs resumed from the jobs folder.
import type { JobService } from '../jobs/service.ts';
import { RequestError } from '../util/request-error.ts';
import type { ClassifyInput, ClassifyResult, CompletionEvent, CompletionRequest, Engine, ModelInfo, ScoreRequest, ScoreResult } from './engine.ts';

/** An engine that can tell when it can no longer serve. */
export type FailingEngine = Engine & {
  /** resolves with the reason once the engine cannot serve any more (never, for most engines) */
  readonly failed?: Promise<string>;
};

export interface SupervisorOptions {
  log?: (line: string) => void;
  /** attempts to build a replacement before giving up (default 5), `retryMs` apart (default 1000) */
  attempts?: number;
  retryMs?: number;
}

export class SupervisedEngine implements Engine {
  readonly defaultModel: string | null;
  readonly jobs: JobService | null;
  /** replacements built so far */
  restarts = 0;
  private current: FailingEngine;
  private pending: Promise<FailingEngine> | null = null;
  private closed = false;

  private constructor(
    first: FailingEngine,
    private readonly start: () => Promise<FailingEngine>,
    private readonly o: SupervisorOptions,
  ) {
    this.current = first;
    this.defaultModel = first.defaultModel;
    this.jobs = first.jobs ? this.jobService() : null;
    this.watch(first);
  }

  /** Builds the first engine with `start`, and every replacement. */
  static async start(start: () => Promise<FailingEngine>, o: SupervisorOptions = {}): Promise<SupervisedEngine> {
    return new SupervisedEngine(await start(), start, o);
  }

  /** the engine serving now (tests, diagnostics) */
  get engine(): FailingEngine {
    return this.current;
  }

  models(): ModelInfo[] {
    return this.current.models();
  }

  async *complete(r: CompletionRequest, signal: AbortSignal): AsyncGenerator<CompletionEvent> {
    yield* (await this.ready()).complete(r, signal);
  }
  async score(r: ScoreRequest, signal: AbortSignal): Promise<ScoreResult> {
    return (await this.ready()).score(r, signal);
  }
  async classify(r: { model: string; inputs: ClassifyInput[] }, signal: AbortSignal): Promise<ClassifyResult> {
    return (await this.ready()).classify(r, signal);
  }

  async close(): Promise<void> {
    this.closed = true;
    await (this.pending ?? Promise.resolve(this.current)).then(
      (e) => e.close(),
      () => undefined,
    );
  }

  private async ready(): Promise<FailingEngine> {
    if (this.pending) return this.pending;
    return this.current;
  }

  private watch(e: FailingEngine): void {
    void e.failed?.then((reason) => {
      if (this.closed || e !== this.current) return;
      this.o.log?.(`the engine failed (${reason}); starting a new one`);
      this.pending = this.replace(e);
    });
  }

  private async replace(failed: FailingEngine): Promise<FailingEngine> {
    await failed.close().catch(() => undefined);
    const attempts = this.o.attempts ?? 5;
    for (let i = 1; ; i++) {
      try {
        const e = await this.start();
        this.current = e;
        this.pending = null;
        this.restarts++;
        this.o.log?.(`a new engine serves (restart ${this.restarts})`);
        this.watch(e);
        return e;
      } catch (err) {
        this.o.log?.(`starting a new engine failed (attempt ${i} of ${attempts}): ${err instanceof Error ? err.message : String(err)}`);
        if (i >= attempts) {
          const dead = new RequestError('unavailable', 'the engine failed and could not be restarted; the server needs attention', null, 'engine_unavailable');
          this.pending = Promise.reject(dead);
          this.pending.catch(() => undefined);
          throw dead;
        }
        await new Promise((r) => setTimeout(r, this.o.retryMs ?? 1000));
      }
    }
  }

  private jobService(): JobService {
    const j = async () => {
      const jobs = (await this.ready()).jobs;
      if (!jobs) throw new Error('the engine has no jobs');
      return jobs;
    };
    return {
      upload: async (f) => (await j()).upload(f),
      create: async (k, b) => (await j()).create(k, b),
      list: async (k) => (await j()).list(k),
      get: async (k, id) => (await j()).get(k, id),
      cancel: async (k, id) => (await j()).cancel(k, id),
      events: async (k, id, limit) => (await j()).events(k, id, limit),
      follow: (k, id, signal) => ({ [Symbol.asyncIterator]: () => wrapIter(j().then((jobs) => jobs.follow(k, id, signal)[Symbol.asyncIterator]())) }),
    };
  }
}

/** An async iterator over one that is not there yet. */
function wrapIter<T>(p: Promise<AsyncIterator<T>>): AsyncIterator<T> {
  return {
    next: async () => (await p).next(),
    return: async (v?: unknown) => {
      const it = await p;
      return it.return ? it.return(v) : { done: true, value: v as T };
    },
  };
}
