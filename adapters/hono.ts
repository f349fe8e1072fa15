// The HTTP app: an OpenAI-compatible surface over loaded models, written once against Hono and the
// Fetch API so it runs on Node (@hono/node-server), Deno.serve, Bun.serve, workerd and in tests through
// `app.request(...)`. Nothing here touches files or runtime APIs (no node:*).
//
//   POST /v1/completions   OpenAI completions; `stream: true` answers with server-sent events
//   POST /v1/classify      a fine-tuned classification / entailment / similarity model's label + probabilities
//   POST /v1/score         log P(continuation | prompt) under the LM; with `choices`, each one's and the softmax
//   GET  /v1/models        the servable model ids;  GET /health  liveness, queue and counters
//   /v1/fine_tuning/jobs…, /v1/pretraining/jobs…   when a JobManager is given (adapters/jobs.ts)
//
// Errors are JSON in OpenAI's shape: {"error": {"message", "type", "param", "code"}} with a 4xx status.
// Generations pass through a gate: at most `maxConcurrent` run (token by token, interleaved), at most
// `maxQueue` wait; beyond that the answer is 429. Model compute is serialised per model (one forward at a
// time per GPT: its activations are shared), and a generation yields to the event loop every few
// milliseconds so a client's disconnect is seen and aborts it (the request's AbortSignal → `signal`).
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { GPT } from '../src/model/gpt.ts';
import type { GPTTokenizer } from '../src/tokenizer/tokenizer.ts';
import { generateStream, type GenerateChunk, type FinishReason } from '../src/infer/generate.ts';
import { classify, similarity, choose, type FinetuneModel } from '../src/finetune/finetune.ts';

/** A model the app serves: a pretrained LM ({model, tokenizer}, e.g. loadModel's result) or a fine-tuned one. */
export type ServedModel = { model: GPT; tokenizer: GPTTokenizer } | FinetuneModel;

export interface Limits {
  /** request bodies larger than this are refused with 413 (default 1 MiB) */
  maxBodyBytes: number;
  /** prompt (and each text field) length in characters (default 32,768) */
  maxPromptChars: number;
  /** the largest max_tokens a request may ask for (default 512) */
  maxTokens: number;
  /** prompts run through a model this many tokens at a time (default: whole; bounds activation memory) */
  prefillChunk?: number;
  /** generations running at once (default 4) */
  maxConcurrent: number;
  /** generations waiting for a slot; one more is answered 429 (default 16) */
  maxQueue: number;
  /** choices of one /v1/score request; inputs of one /v1/classify request (default 16) */
  maxItems: number;
}

export const DEFAULT_LIMITS: Limits = { maxBodyBytes: 1 << 20, maxPromptChars: 32_768, maxTokens: 512, maxConcurrent: 4, maxQueue: 16, maxItems: 16 };

/** The job endpoints' back end (adapters/jobs.ts); the app mounts its routes when one is given. */
export interface JobRoutes {
  mount(app: Hono, helpers: { error: typeof apiError; readJSON: typeof readJSON }): void;
}

export interface AppOptions {
  /** id → model; the map may grow while serving (finished fine-tuning jobs add theirs) */
  models: Map<string, ServedModel>;
  limits?: Partial<Limits>;
  jobs?: JobRoutes;
  /** a generation yields to the event loop at least this often (ms; default 5) */
  yieldEveryMs?: number;
  /** for tests: called before each generated token (e.g. to slow generation down) */
  beforeToken?: () => Promise<void> | void;
}

export interface AppStats {
  active: number;
  queued: number;
  completions: number;
  cancelled: number;
  rejected: number;
  errors: number;
}

// ---- errors ---------------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(readonly status: 400 | 401 | 404 | 409 | 413 | 415 | 429 | 500 | 503, message: string, readonly type = 'invalid_request_error', readonly param: string | null = null, readonly code: string | null = null) {
    super(message);
  }
}

export function apiError(c: Context, e: ApiError): Response {
  return c.json({ error: { message: e.message, type: e.type, param: e.param, code: e.code } }, e.status);
}

const bad = (message: string, param: string | null = null, code: string | null = null) => new ApiError(400, message, 'invalid_request_error', param, code);

/** The request body as a JSON object, or a 400 naming what is wrong. */
export async function readJSON(c: Context): Promise<Record<string, unknown>> {
  const ct = c.req.header('content-type') ?? '';
  if (ct && !/^application\/json\b/i.test(ct)) throw new ApiError(415, `Content-Type must be application/json, got "${ct}"`, 'invalid_request_error', null, 'unsupported_media_type');
  const text = await c.req.text();
  if (text.trim() === '') throw bad('the request body is empty; send a JSON object', null, 'invalid_json');
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw bad(`the request body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`, null, 'invalid_json');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw bad('the request body must be a JSON object', null, 'invalid_json');
  return v as Record<string, unknown>;
}

// ---- field validation -----------------------------------------------------------------------------

type Body = Record<string, unknown>;
const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

function optNumber(b: Body, k: string, lo: number, hi: number, int = false): number | undefined {
  const v = b[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`'${k}' must be a number, got ${typeName(v)} ${JSON.stringify(v)?.slice(0, 40)}`, k, 'invalid_type');
  if (int && !Number.isInteger(v)) throw bad(`'${k}' must be an integer, got ${v}`, k, 'invalid_type');
  if (v < lo || v > hi) throw bad(`'${k}' must be in [${lo}, ${hi}], got ${v}`, k, 'out_of_range');
  return v;
}

function optBool(b: Body, k: string): boolean | undefined {
  const v = b[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw bad(`'${k}' must be a boolean, got ${typeName(v)}`, k, 'invalid_type');
  return v;
}

function text(v: unknown, param: string, max: number, allowEmpty = false): string {
  if (typeof v !== 'string') throw bad(`'${param}' must be a string, got ${typeName(v)}`, param, 'invalid_type');
  if (!allowEmpty && v.length === 0) throw bad(`'${param}' is empty`, param, 'invalid_value');
  if (v.length > max) throw bad(`'${param}' has ${v.length} characters; the limit is ${max}`, param, 'string_above_max_length');
  return v;
}

function onlyKeys(b: Body, allowed: string[]): void {
  for (const k of Object.keys(b)) if (!allowed.includes(k)) throw bad(`Unrecognized request argument supplied: ${k}`, k, 'unknown_parameter');
}

// ---- the gate: bounded concurrency with a bounded queue -------------------------------------------

class Gate {
  active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly maxActive: number, private readonly maxQueue: number) {}
  get queued(): number {
    return this.waiting.length;
  }
  /** A release function once a slot is free; null at once when the queue is full; rejects if `signal` aborts while waiting. */
  enter(signal: AbortSignal): Promise<() => void> | null {
    const release = () => {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    };
    let released = false;
    const once = () => {
      if (!released) {
        released = true;
        release();
      }
    };
    if (this.active < this.maxActive) {
      this.active++;
      return Promise.resolve(once);
    }
    if (this.waiting.length >= this.maxQueue) return null;
    return new Promise((ok, fail) => {
      const wake = () => {
        signal.removeEventListener('abort', onAbort);
        ok(once); // the slot passes from the releaser to us: `active` is unchanged
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(wake);
        if (i >= 0) this.waiting.splice(i, 1);
        fail(new ApiError(400, 'the client went away while queued', 'invalid_request_error', null, 'cancelled'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(wake);
    });
  }
}

/** One forward pass at a time per model (a GPT's activations are one allocation). */
class ModelLock {
  private tail: Promise<void> = Promise.resolve();
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.tail;
    let done!: () => void;
    this.tail = new Promise<void>((r) => (done = r));
    await prev;
    try {
      return await fn();
    } finally {
      done();
    }
  }
}

const macrotask = () => new Promise<void>((r) => setTimeout(r, 0));
const isFinetuned = (m: ServedModel): m is FinetuneModel => 'head' in m && 'spec' in m;
const randomId = (prefix: string) => prefix + Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(36).padStart(2, '0')).join('').slice(0, 24);
const openaiFinish = (r: FinishReason | undefined): 'stop' | 'length' | null => (r === 'stop' ? 'stop' : r === 'length' || r === 'context' ? 'length' : null);

function logSoftmaxAt(logits: Float32Array, row: number, V: number, id: number): number {
  const o = row * V;
  let m = -Infinity;
  for (let i = 0; i < V; i++) m = Math.max(m, logits[o + i]);
  let s = 0;
  for (let i = 0; i < V; i++) s += Math.exp(logits[o + i] - m);
  return logits[o + id] - m - Math.log(s);
}

// ---- the app --------------------------------------------------------------------------------------

export function createApp(o: AppOptions): Hono {
  const L: Limits = { ...DEFAULT_LIMITS, ...o.limits };
  for (const [k, v] of Object.entries(L)) if (!(Number.isInteger(v) && v >= (k === 'maxQueue' ? 0 : 1))) throw new Error(`limits.${k} must be a positive integer, got ${v}`);
  const gate = new Gate(L.maxConcurrent, L.maxQueue);
  const locks = new WeakMap<GPT, ModelLock>();
  const lockOf = (m: GPT) => {
    let l = locks.get(m);
    if (!l) locks.set(m, (l = new ModelLock()));
    return l;
  };
  const stats: AppStats = { active: 0, queued: 0, completions: 0, cancelled: 0, rejected: 0, errors: 0 };
  const yieldEvery = o.yieldEveryMs ?? 5;
  const started = Math.floor(Date.now() / 1000);

  const app = new Hono();
  app.onError((err, c) => {
    if (err instanceof ApiError) return apiError(c, err);
    stats.errors++;
    return apiError(c, new ApiError(500, `internal error: ${err instanceof Error ? err.message : String(err)}`, 'server_error'));
  });
  app.notFound((c) => apiError(c, new ApiError(404, `no route ${c.req.method} ${new URL(c.req.url).pathname}`, 'invalid_request_error', null, 'not_found')));
  app.use('*', bodyLimit({ maxSize: L.maxBodyBytes, onError: (c) => apiError(c, new ApiError(413, `the request body is larger than the limit of ${L.maxBodyBytes} bytes`, 'invalid_request_error', null, 'request_too_large')) }));

  const getModel = (b: Body): { id: string; m: ServedModel } => {
    const id = b.model;
    if (id === undefined) {
      if (o.models.size === 1) {
        const [only] = o.models;
        return { id: only[0], m: only[1] };
      }
      throw bad(`'model' is required (one of ${[...o.models.keys()].join(', ')})`, 'model', 'missing_required_parameter');
    }
    if (typeof id !== 'string') throw bad(`'model' must be a string, got ${typeName(id)}`, 'model', 'invalid_type');
    const m = o.models.get(id);
    if (!m) throw new ApiError(404, `The model '${id}' does not exist; served models: ${[...o.models.keys()].join(', ') || 'none'}`, 'invalid_request_error', 'model', 'model_not_found');
    return { id, m };
  };

  app.get('/health', (c) => c.json({ status: 'ok', models: [...o.models.keys()], ...stats, active: gate.active, queued: gate.queued, limits: L }));

  app.get('/v1/models', (c) =>
    c.json({
      object: 'list',
      data: [...o.models].map(([id, m]) => ({
        id, object: 'model', created: started, owned_by: 'gptedge',
        context_length: m.model.cfg.nCtx, task: isFinetuned(m) ? { family: m.spec.family, labels: m.spec.labels, choices: m.spec.choices ?? null } : null,
      })),
    }),
  );

  app.get('/v1/models/:id', (c) => {
    const m = o.models.get(c.req.param('id'));
    if (!m) throw new ApiError(404, `The model '${c.req.param('id')}' does not exist`, 'invalid_request_error', 'model', 'model_not_found');
    return c.json({ id: c.req.param('id'), object: 'model', created: started, owned_by: 'gptedge', context_length: m.model.cfg.nCtx });
  });

  // ---- completions ----
  app.post('/v1/completions', async (c) => {
    const b = await readJSON(c);
    onlyKeys(b, ['model', 'prompt', 'max_tokens', 'temperature', 'top_p', 'top_k', 'n', 'stream', 'stop', 'seed', 'user', 'echo', 'stream_options', 'logprobs', 'presence_penalty', 'frequency_penalty']);
    const { id: modelId, m } = getModel(b);
    const { model, tokenizer } = m;
    const nCtx = model.cfg.nCtx;
    // prompt: a string, an array of one string, or an array of token ids
    let prompt: string | number[];
    let p = b.prompt ?? '';
    if (Array.isArray(p) && p.length === 1 && typeof p[0] === 'string') p = p[0];
    if (typeof p === 'string') prompt = text(p, 'prompt', L.maxPromptChars, true);
    else if (Array.isArray(p) && p.every((x) => typeof x === 'number')) {
      if (p.length > L.maxPromptChars) throw bad(`'prompt' has ${p.length} tokens; the limit is ${L.maxPromptChars}`, 'prompt', 'string_above_max_length');
      for (const t of p as number[]) if (!(Number.isInteger(t) && t >= 0 && t < model.cfg.vocabSize)) throw bad(`'prompt' holds token id ${t}, outside the vocabulary of ${model.cfg.vocabSize}`, 'prompt', 'invalid_value');
      prompt = p as number[];
    } else throw bad(`'prompt' must be a string, an array of one string, or an array of token ids; got ${typeName(p)}`, 'prompt', 'invalid_type');
    const maxTokens = optNumber(b, 'max_tokens', 0, L.maxTokens, true) ?? Math.min(16, L.maxTokens);
    const temperature = optNumber(b, 'temperature', 0, 2) ?? 1;
    const topP = optNumber(b, 'top_p', Number.MIN_VALUE, 1) ?? 1;
    const topK = optNumber(b, 'top_k', 0, model.cfg.vocabSize, true) ?? 0;
    const seed = optNumber(b, 'seed', 0, 2 ** 32 - 1, true);
    const n = optNumber(b, 'n', 1, 1, true);
    void n;
    if (b.logprobs !== undefined && b.logprobs !== null) throw bad(`'logprobs' is not supported; use POST /v1/score`, 'logprobs', 'unsupported_parameter');
    const echo = optBool(b, 'echo') ?? false;
    const stream = optBool(b, 'stream') ?? false;
    for (const k of ['presence_penalty', 'frequency_penalty']) if (b[k] !== undefined && b[k] !== null && b[k] !== 0) throw bad(`'${k}' is not supported (only 0)`, k, 'unsupported_parameter');
    let stop: string[] = [];
    if (b.stop !== undefined && b.stop !== null) {
      const s = typeof b.stop === 'string' ? [b.stop] : b.stop;
      if (!Array.isArray(s) || s.length > 4 || !s.every((x) => typeof x === 'string')) throw bad(`'stop' must be a string or an array of at most 4 strings`, 'stop', 'invalid_type');
      stop = (s as string[]).map((x, i) => text(x, `stop[${i}]`, 256, true));
    }
    if (b.user !== undefined && typeof b.user !== 'string') throw bad(`'user' must be a string`, 'user', 'invalid_type');
    let promptIds = typeof prompt === 'string' ? tokenizer.encode(prompt) : prompt;
    if (promptIds.length === 0) {
      const eot = tokenizer.specialId('endOfText');
      if (eot === undefined) throw bad(`'prompt' is empty and this model's tokenizer has no <|endoftext|> to start from`, 'prompt', 'invalid_value');
      promptIds = [eot];
    }
    if (promptIds.length >= nCtx) {
      throw bad(`This model's maximum context length is ${nCtx} tokens; the prompt has ${promptIds.length}, leaving no room to generate. Shorten the prompt.`, 'prompt', 'context_length_exceeded');
    }

    const ctrl = new AbortController();
    const reqSignal = c.req.raw.signal;
    const onReqAbort = () => ctrl.abort(reqSignal.reason);
    if (reqSignal.aborted) ctrl.abort();
    else reqSignal.addEventListener('abort', onReqAbort, { once: true });
    const entering = gate.enter(ctrl.signal);
    if (!entering) {
      stats.rejected++;
      reqSignal.removeEventListener('abort', onReqAbort);
      c.header('Retry-After', '1');
      throw new ApiError(429, `too many generations: ${L.maxConcurrent} running and ${L.maxQueue} queued; retry later`, 'rate_limit_error', null, 'queue_full');
    }
    let release: () => void;
    try {
      release = await entering;
    } catch (err) {
      stats.cancelled++;
      reqSignal.removeEventListener('abort', onReqAbort);
      throw err;
    }
    const lock = lockOf(model);
    const it = generateStream(model, tokenizer, promptIds, { maxTokens, temperature, topP, topK, seed, stop, signal: ctrl.signal, prefillChunk: L.prefillChunk });
    let lastYield = Date.now();
    let closed = false;
    let completionTokens = 0;
    const finish = (reason: FinishReason | undefined) => {
      if (closed) return;
      closed = true;
      // the generator is suspended at its last yield: return() runs its `finally`, which frees the KV cache
      void lock.run(() => it.return(undefined)).catch(() => undefined);
      reqSignal.removeEventListener('abort', onReqAbort);
      if (reason === 'cancelled' || ctrl.signal.aborted) stats.cancelled++;
      else stats.completions++;
      release();
    };
    /** the next chunk of the generation, computed under the model's lock */
    const step = async (): Promise<GenerateChunk> => {
      if (o.beforeToken) await o.beforeToken();
      if (Date.now() - lastYield >= yieldEvery) {
        await macrotask(); // lets the runtime deliver a disconnect (→ abort) and other requests run
        lastYield = Date.now();
      }
      const r = await lock.run(() => it.next());
      if (r.done) return { text: '', tokens: [], done: true, finishReason: ctrl.signal.aborted ? 'cancelled' : 'length' };
      completionTokens += r.value.tokens.length;
      return r.value;
    };
    const id = randomId('cmpl-');
    const created = Math.floor(Date.now() / 1000);
    const promptText = !echo ? '' : typeof prompt === 'string' ? prompt : tokenizer.decode(promptIds);
    const usage = () => ({ prompt_tokens: promptIds.length, completion_tokens: completionTokens, total_tokens: promptIds.length + completionTokens });

    if (!stream) {
      let out = '', reason: FinishReason | undefined;
      try {
        while (true) {
          const ch = await step();
          out += ch.text;
          if (ch.done) {
            reason = ch.finishReason;
            break;
          }
        }
      } catch (err) {
        await it.return(undefined).catch(() => undefined);
        finish('cancelled');
        throw err instanceof RangeError ? bad(err.message) : err;
      }
      finish(reason);
      return c.json({
        id, object: 'text_completion', created, model: modelId,
        choices: [{ text: promptText + out, index: 0, logprobs: null, finish_reason: openaiFinish(reason) }],
        usage: usage(),
      });
    }

    const enc = new TextEncoder();
    const sse = (v: unknown) => enc.encode(`data: ${typeof v === 'string' ? v : JSON.stringify(v)}\n\n`);
    const chunk = (t: string, reason: 'stop' | 'length' | null) => ({ id, object: 'text_completion', created, model: modelId, choices: [{ text: t, index: 0, logprobs: null, finish_reason: reason }] });
    const includeUsage = !!(b.stream_options && typeof b.stream_options === 'object' && (b.stream_options as Body).include_usage === true);
    let sentEcho = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          if (echo && !sentEcho) {
            sentEcho = true;
            controller.enqueue(sse(chunk(promptText, null)));
            return;
          }
          const ch = await step();
          if (ch.done) {
            if (ch.finishReason === 'cancelled') {
              finish('cancelled');
              controller.close();
              return;
            }
            const final = chunk(ch.text, openaiFinish(ch.finishReason));
            controller.enqueue(sse(includeUsage ? { ...final, usage: usage() } : final));
            controller.enqueue(sse('[DONE]'));
            finish(ch.finishReason);
            controller.close();
          } else if (ch.text) controller.enqueue(sse(chunk(ch.text, null)));
        } catch (err) {
          await it.return(undefined).catch(() => undefined);
          finish('cancelled');
          stats.errors++;
          controller.enqueue(sse({ error: { message: err instanceof Error ? err.message : String(err), type: 'server_error', param: null, code: null } }));
          controller.close();
        }
      },
      async cancel() {
        // the client went away (the runtime cancels the body): stop generating at the next token
        ctrl.abort();
        await lock.run(() => it.return(undefined)).catch(() => undefined);
        finish('cancelled');
      },
    });
    return new Response(body, { headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' } });
  });

  // ---- classify ----
  app.post('/v1/classify', async (c) => {
    const b = await readJSON(c);
    onlyKeys(b, ['model', 'input', 'user']);
    const { id: modelId, m } = getModel(b);
    if (!isFinetuned(m) || m.spec.family === 'multiple-choice') {
      throw bad(`the model '${modelId}' is ${isFinetuned(m) ? 'fine-tuned for multiple choice (use POST /v1/score with choices)' : 'a language model without a task head; fine-tune it for classification, entailment or similarity (POST /v1/fine_tuning/jobs)'}`, 'model', 'model_not_classifier');
    }
    const family = m.spec.family;
    const raw = b.input;
    if (raw === undefined) throw bad(`'input' is required`, 'input', 'missing_required_parameter');
    const inputs = Array.isArray(raw) ? raw : [raw];
    if (inputs.length === 0 || inputs.length > L.maxItems) throw bad(`'input' must hold 1 to ${L.maxItems} items, got ${inputs.length}`, 'input', 'invalid_value');
    const fields = family === 'classification' ? null : family === 'entailment' ? ['premise', 'hypothesis'] : ['a', 'b'];
    const parsed = inputs.map((x, i) => {
      const param = Array.isArray(raw) ? `input[${i}]` : 'input';
      if (!fields) return text(x, param, L.maxPromptChars);
      if (!x || typeof x !== 'object' || Array.isArray(x)) throw bad(`'${param}' must be an object {${fields.join(', ')}} for a ${family} model, got ${typeName(x)}`, param, 'invalid_type');
      return Object.fromEntries(fields.map((f) => [f, text((x as Body)[f], `${param}.${f}`, L.maxPromptChars)])) as Record<string, string>;
    });
    const data: { index: number; label: string; probabilities: Record<string, number> }[] = [];
    for (const [index, x] of parsed.entries()) {
      const r = await lockOf(m.model).run(() =>
        typeof x === 'string' ? classify(m, x) : family === 'entailment' ? classify(m, x as { premise: string; hypothesis: string }) : similarity(m, x.a, x.b),
      );
      data.push({ index, label: r.label, probabilities: r.probabilities });
    }
    return c.json({ object: 'list', model: modelId, task: family, data });
  });

  // ---- score ----
  app.post('/v1/score', async (c) => {
    const b = await readJSON(c);
    onlyKeys(b, ['model', 'prompt', 'continuation', 'choices', 'user']);
    const { id: modelId, m } = getModel(b);
    const { model, tokenizer } = m;
    const nCtx = model.cfg.nCtx, V = model.cfg.vocabSize;
    const prompt = text(b.prompt ?? '', 'prompt', L.maxPromptChars, true);
    const hasCont = b.continuation !== undefined, hasChoices = b.choices !== undefined;
    if (hasCont === hasChoices) throw bad(`give exactly one of 'continuation' (a string) and 'choices' (an array of strings)`, hasCont ? 'choices' : 'continuation', 'missing_required_parameter');
    let conts: string[];
    if (hasCont) conts = [text(b.continuation, 'continuation', L.maxPromptChars)];
    else {
      if (!Array.isArray(b.choices) || b.choices.length < 1 || b.choices.length > L.maxItems) throw bad(`'choices' must be an array of 1 to ${L.maxItems} strings`, 'choices', 'invalid_type');
      conts = b.choices.map((x, i) => text(x, `choices[${i}]`, L.maxPromptChars));
    }
    let promptIds = tokenizer.encode(prompt);
    if (promptIds.length === 0) {
      const eot = tokenizer.specialId('endOfText');
      if (eot === undefined) throw bad(`'prompt' is empty and this model's tokenizer has no <|endoftext|> to condition on`, 'prompt', 'invalid_value');
      promptIds = [eot];
    }
    const contIds = conts.map((t, i) => {
      const ids = tokenizer.encode(t);
      if (ids.length === 0) throw bad(`${hasCont ? "'continuation'" : `'choices[${i}]'`} encodes to no tokens`, hasCont ? 'continuation' : `choices[${i}]`, 'invalid_value');
      if (promptIds.length + ids.length > nCtx) {
        throw bad(`This model's maximum context length is ${nCtx} tokens; the prompt (${promptIds.length}) and ${hasCont ? 'the continuation' : `choice ${i}`} (${ids.length}) need ${promptIds.length + ids.length}`, hasCont ? 'continuation' : `choices[${i}]`, 'context_length_exceeded');
      }
      return ids;
    });
    const results: { index: number; text: string; tokens: number; logprob: number; mean_logprob: number; token_logprobs: number[] }[] = [];
    for (const [index, ids] of contIds.entries()) {
      const all = [...promptIds, ...ids], T = all.length;
      const logits = await lockOf(model).run(async () => {
        model.transformer(Int32Array.from(all), 1, T);
        return model.allLogits(T);
      });
      const tokenLogprobs = ids.map((id, j) => logSoftmaxAt(logits, promptIds.length + j - 1, V, id));
      const logprob = tokenLogprobs.reduce((s, x) => s + x, 0);
      results.push({ index, text: conts[index], tokens: ids.length, logprob, mean_logprob: logprob / ids.length, token_logprobs: tokenLogprobs });
    }
    const out: Record<string, unknown> = { object: 'score', model: modelId, prompt_tokens: promptIds.length, data: results };
    if (hasChoices) {
      const mx = Math.max(...results.map((r) => r.logprob));
      const e = results.map((r) => Math.exp(r.logprob - mx)), z = e.reduce((s, x) => s + x, 0);
      out.probabilities = e.map((x) => x / z);
      out.best = results.reduce((bi, r, i) => (r.logprob > results[bi].logprob ? i : bi), 0);
      if (isFinetuned(m) && m.spec.family === 'multiple-choice' && conts.length === m.spec.choices) {
        const h = await lockOf(model).run(() => choose(m, prompt, conts));
        out.head = { best: h.index, probabilities: h.probabilities };
      }
    }
    return c.json(out);
  });

  o.jobs?.mount(app, { error: apiError, readJSON });
  return app;
}
