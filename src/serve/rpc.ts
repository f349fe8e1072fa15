// The engine across a message channel: `hostEngine` serves a LocalEngine on one end (inside a worker),
// `RemoteEngine` implements Engine on the other (the HTTP thread). Portable: any pair of ports that
// post structured-cloneable messages (worker_threads, Web Workers, MessageChannel).
//
//   HTTP thread → worker   {t:'call', id, method, args}   a call; streams (complete, jobs.follow) answer with items
//                          {t:'abort', id}                 the client went away: the call's AbortSignal fires
//   worker → HTTP thread   {t:'ok', id, value} | {t:'err', id, error}
//                          {t:'item', id, value} … {t:'end', id}       a stream's items, then its end
//                          {t:'batch', msgs}               several of the above at once
//                          {t:'models', models}            the model list changed (finished jobs)
//
// Errors cross as {name, message, kind, param, code}: a RequestError arrives as a RequestError, so the
// routes map it to the same status either way. Stream items are pushed as they come (no pull): a
// completion is bounded by max_tokens, a job's events by its steps. Messages posted together (a batched
// step yields a token for every sequence at once) go as one.
import type { FileObject, JobEvent, JobKind, JobObject, JobService } from '../jobs/service.ts';
import { RequestError } from '../util/request-error.ts';
import type { ClassifyInput, ClassifyResult, CompletionEvent, CompletionRequest, Engine, ModelInfo, ScoreRequest, ScoreResult } from './engine.ts';

/** One end of a message channel. */
export interface Port {
  post(msg: unknown): void;
  onMessage(cb: (msg: unknown) => void): void;
}

type Msg =
  | { t: 'call'; id: number; method: string; args: unknown[] }
  | { t: 'abort'; id: number }
  | { t: 'ok'; id: number; value: unknown }
  | { t: 'err'; id: number; error: WireError }
  | { t: 'item'; id: number; value: unknown }
  | { t: 'end'; id: number }
  | { t: 'batch'; msgs: Msg[] }
  | { t: 'models'; models: ModelInfo[] };

interface WireError {
  name: string;
  message: string;
  kind?: RequestError['kind'];
  param?: string | null;
  code?: string | null;
}

const toWire = (e: unknown): WireError =>
  e instanceof RequestError
    ? { name: 'RequestError', message: e.message, kind: e.kind, param: e.param, code: e.code }
    : { name: e instanceof Error ? e.name : 'Error', message: e instanceof Error ? e.message : String(e) };
/** The error again on this side: a RequestError as such; any other keeps its name (DeviceLostError, …) */
function fromWire(w: WireError): Error {
  if (w.name === 'RequestError') return new RequestError(w.kind!, w.message, w.param ?? null, w.code ?? null);
  const e = new Error(w.message);
  e.name = w.name;
  return e;
}

/** Every call in flight when the engine's worker died fails with this. */
export class EngineFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineFailedError';
  }
}

/** What the worker says once its engine is built. */
export interface EngineHello {
  defaultModel: string | null;
  models: ModelInfo[];
  jobs: boolean;
}

/** The engine's streaming methods; every other method answers once. */
const STREAMS = new Set(['complete', 'jobs.follow']);

/** Posts the messages of one wave of microtasks as one message. */
function coalescing(port: Port): Port {
  let out: Msg[] = [];
  const flush = () => {
    const msgs = out;
    out = [];
    port.post(msgs.length === 1 ? msgs[0] : ({ t: 'batch', msgs } satisfies Msg));
  };
  return {
    onMessage: (cb) => port.onMessage(cb),
    post: (m) => {
      // a microtask: the tokens of one batched step reach here in the same wave of microtasks
      if (out.push(m as Msg) === 1) queueMicrotask(flush);
    },
  };
}

/** Serves `engine` on `port`; `onModels` subscribes to model list changes (to push them). */
export function hostEngine(raw: Port, engine: Engine, onModels?: (cb: () => void) => void): void {
  const port = coalescing(raw);
  const calls = new Map<number, AbortController>();
  const jobs = engine.jobs;
  const methods: Record<string, (signal: AbortSignal, ...a: never[]) => unknown> = {
    complete: (s, r: CompletionRequest) => engine.complete(r, s),
    score: (s, r: ScoreRequest) => engine.score(r, s),
    classify: (s, r: { model: string; inputs: ClassifyInput[] }) => engine.classify(r, s),
    close: () => engine.close(),
    ...(jobs && {
      'jobs.upload': (_s, f: { filename: string; purpose: string; content: string }) => jobs.upload(f),
      'jobs.create': (_s, k: JobKind, b: Record<string, unknown>) => jobs.create(k, b),
      'jobs.list': (_s, k: JobKind) => jobs.list(k),
      'jobs.get': (_s, k: JobKind, id: string) => jobs.get(k, id),
      'jobs.cancel': (_s, k: JobKind, id: string) => jobs.cancel(k, id),
      'jobs.events': (_s, k: JobKind, id: string, limit: number) => jobs.events(k, id, limit),
      'jobs.follow': (s, k: JobKind, id: string) => jobs.follow(k, id, s),
    }),
  };
  onModels?.(() => port.post({ t: 'models', models: engine.models() } satisfies Msg));
  port.onMessage(async (raw) => {
    const m = raw as Msg;
    if (m.t === 'abort') return calls.get(m.id)?.abort();
    if (m.t !== 'call') return;
    const ctrl = new AbortController();
    calls.set(m.id, ctrl);
    try {
      const fn = methods[m.method];
      if (!fn) throw new Error(`the engine has no method ${m.method}`);
      const out = fn(ctrl.signal, ...(m.args as never[]));
      if (STREAMS.has(m.method)) {
        for await (const value of out as AsyncIterable<unknown>) port.post({ t: 'item', id: m.id, value } satisfies Msg);
        port.post({ t: 'end', id: m.id } satisfies Msg);
      } else port.post({ t: 'ok', id: m.id, value: await out } satisfies Msg);
    } catch (err) {
      port.post({ t: 'err', id: m.id, error: toWire(err) } satisfies Msg);
    } finally {
      calls.delete(m.id);
    }
  });
}

interface Pending {
  ok(v: unknown): void;
  fail(e: Error): void;
  item?(v: unknown): void;
}

/** The Engine interface over a port to `hostEngine`. */
export class RemoteEngine implements Engine {
  readonly defaultModel: string | null;
  readonly jobs: JobService | null;
  private snapshot: ModelInfo[];
  private next = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(
    private readonly port: Port,
    hello: EngineHello,
  ) {
    this.defaultModel = hello.defaultModel;
    this.snapshot = hello.models;
    const handle = (m: Msg): void => {
      if (m.t === 'batch') {
        for (const x of m.msgs) handle(x);
        return;
      }
      if (m.t === 'models') {
        this.snapshot = m.models;
        return;
      }
      if (!('id' in m)) return;
      const p = this.pending.get(m.id);
      if (!p) return;
      if (m.t === 'item') p.item?.(m.value);
      else {
        this.pending.delete(m.id);
        if (m.t === 'ok') p.ok(m.value);
        else if (m.t === 'end') p.ok(undefined);
        else if (m.t === 'err') p.fail(fromWire(m.error));
      }
    };
    port.onMessage((raw) => handle(raw as Msg));
    this.jobs = hello.jobs ? this.jobService() : null;
  }

  models(): ModelInfo[] {
    return this.snapshot;
  }

  /** Fails every call in flight (the worker died: an EngineFailedError). */
  failAll(err: Error): void {
    for (const p of this.pending.values()) p.fail(err);
    this.pending.clear();
  }

  private call<T>(method: string, args: unknown[], signal?: AbortSignal): Promise<T> {
    const id = this.next++;
    return new Promise<T>((ok, fail) => {
      this.pending.set(id, { ok: ok as (v: unknown) => void, fail });
      this.port.post({ t: 'call', id, method, args } satisfies Msg);
      this.linkAbort(id, signal);
    });
  }

  private linkAbort(id: number, signal?: AbortSignal): void {
    if (!signal) return;
    const onAbort = () => this.pending.has(id) && this.port.post({ t: 'abort', id } satisfies Msg);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  }

  /** A streaming call: items are buffered as they arrive and handed out in order. */
  private async *stream<T>(method: string, args: unknown[], signal: AbortSignal): AsyncGenerator<T> {
    const id = this.next++;
    const items: T[] = [];
    let finished = false,
      error: Error | null = null,
      wake: (() => void) | null = null;
    const poke = () => {
      const w = wake;
      wake = null;
      w?.();
    };
    this.pending.set(id, {
      item: (v) => (items.push(v as T), poke()),
      ok: () => ((finished = true), poke()),
      fail: (e) => ((error = e), (finished = true), poke()),
    });
    this.port.post({ t: 'call', id, method, args } satisfies Msg);
    this.linkAbort(id, signal);
    try {
      for (;;) {
        if (items.length) yield items.shift()!;
        else if (error) throw error;
        else if (finished) return;
        else await new Promise<void>((r) => (wake = r));
      }
    } finally {
      // the consumer stopped early (the client left): stop the worker's side too
      if (!finished) this.port.post({ t: 'abort', id } satisfies Msg);
    }
  }

  complete(r: CompletionRequest, signal: AbortSignal): AsyncIterable<CompletionEvent> {
    return this.stream<CompletionEvent>('complete', [r], signal);
  }
  score(r: ScoreRequest, signal: AbortSignal): Promise<ScoreResult> {
    return this.call('score', [r], signal);
  }
  classify(r: { model: string; inputs: ClassifyInput[] }, signal: AbortSignal): Promise<ClassifyResult> {
    return this.call('classify', [r], signal);
  }
  close(): Promise<void> {
    return this.call('close', []);
  }

  private jobService(): JobService {
    return {
      upload: (f) => this.call<FileObject>('jobs.upload', [f]),
      create: (k, b) => this.call<JobObject>('jobs.create', [k, b]),
      list: (k) => this.call<JobObject[]>('jobs.list', [k]),
      get: (k, id) => this.call<JobObject>('jobs.get', [k, id]),
      cancel: (k, id) => this.call<JobObject>('jobs.cancel', [k, id]),
      events: (k, id, limit) => this.call<{ data: JobEvent[]; has_more: boolean }>('jobs.events', [k, id, limit]),
      follow: (k, id, signal) => this.stream<JobEvent>('jobs.follow', [k, id], signal),
    };
  }
}
