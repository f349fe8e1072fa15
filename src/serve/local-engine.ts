// The engine in the calling thread: models from a ModelRegistry, one Scheduler per loaded model, and
// the job manager. Used directly where there is one thread (workerd, browsers, tests) and inside the
// worker that Node, Deno and Bun servers start (src/serve/rpc.ts carries the calls there).
import type { JobService } from '../jobs/service.ts';
import { isFinetuned, type ServedModel } from '../jobs/service.ts';
import { choose, classifyExample } from '../finetune/finetune.ts';
import { familyOf, InputError, type Example } from '../finetune/task.ts';
import { continuationLogprobs } from '../infer/score.ts';
import { RequestError } from '../util/request-error.ts';
import type { ClassifyInput, ClassifyResult, CompletionEvent, CompletionRequest, Engine, ModelInfo, ScoreRequest, ScoreResult } from './engine.ts';
import type { ModelRegistry } from './models.ts';
import { Scheduler, type SchedulerOptions } from './scheduler.ts';

export interface LocalEngineOptions extends SchedulerOptions {
  models: ModelRegistry;
  jobs?: JobService | null;
  /** the model of requests without one (default: the only base model, if there is exactly one) */
  defaultModel?: string | null;
  /** stops the jobs on close (JobManager.stop) */
  stopJobs?: () => Promise<void>;
}

const invalid = (message: string, param: string | null, code: string) => new RequestError('invalid', message, param, code);
const cancelled = () => new RequestError('invalid', 'the client went away', null, 'cancelled');

export class LocalEngine implements Engine {
  readonly defaultModel: string | null;
  readonly jobs: JobService | null;
  /** resolves when the backend can no longer compute (a WebGPU device lost); never for the CPU backends */
  readonly failed?: Promise<string>;
  private readonly registry: ModelRegistry;
  private readonly schedulers = new Map<ServedModel, Scheduler>();

  constructor(private readonly o: LocalEngineOptions) {
    this.registry = o.models;
    this.jobs = o.jobs ?? null;
    const base = this.registry.baseIds();
    this.defaultModel = o.defaultModel !== undefined ? o.defaultModel : base.length === 1 ? base[0] : null;
    const lost = (this.registry.backend as { lost?: Promise<{ reason: string; message: string }> }).lost;
    if (lost) this.failed = lost.then((l) => `WebGPU device lost (${l.reason}): ${l.message || 'no message'}`);
    this.registry.onUnload((m) => {
      this.schedulers.get(m)?.dispose();
      this.schedulers.delete(m);
    });
  }

  models(): ModelInfo[] {
    // with a KV window smaller than a model's context, that window is what a request can use
    const kv = this.o.slotTokens;
    return this.registry.infos().map((m) => (kv && kv < m.contextLength ? { ...m, contextLength: kv } : m));
  }

  /** `cb()` runs when the model list changes (a job's result is published) */
  onModelsChange(cb: () => void): void {
    this.registry.onChange(cb);
  }

  private scheduler(m: ServedModel): Scheduler {
    let s = this.schedulers.get(m);
    if (!s) this.schedulers.set(m, (s = new Scheduler(m.model, m.tokenizer, this.o)));
    return s;
  }

  async *complete(r: CompletionRequest, signal: AbortSignal): AsyncGenerator<CompletionEvent> {
    const lease = await this.registry.acquire(r.model);
    try {
      const { model, tokenizer } = lease.served,
        cfg = model.cfg;
      if (r.topK > cfg.vocabSize) throw invalid(`'top_k' must be in [0, ${cfg.vocabSize}], got ${r.topK}`, 'top_k', 'out_of_range');
      let ids: number[];
      if (typeof r.prompt === 'string') ids = tokenizer.encode(r.prompt);
      else {
        for (const t of r.prompt)
          if (!(Number.isInteger(t) && t >= 0 && t < cfg.vocabSize))
            throw invalid(`'prompt' holds token id ${t}, outside the vocabulary of ${cfg.vocabSize}`, 'prompt', 'invalid_value');
        ids = r.prompt;
      }
      if (ids.length === 0) {
        const eot = tokenizer.specialId('endOfText');
        if (eot === undefined) throw invalid(`'prompt' is empty and this model's tokenizer has no <|endoftext|> to start from`, 'prompt', 'invalid_value');
        ids = [eot];
      }
      const window = Math.min(cfg.nCtx, this.o.slotTokens ?? cfg.nCtx);
      if (ids.length >= window) {
        const what =
          window < cfg.nCtx
            ? `This server keeps ${window} tokens per request (its KV-cache window; the model's context is ${cfg.nCtx})`
            : `This model's maximum context length is ${cfg.nCtx} tokens`;
        throw invalid(`${what}; the prompt has ${ids.length}, leaving no room to generate. Shorten the prompt.`, 'prompt', 'context_length_exceeded');
      }
      yield { type: 'start', promptTokens: ids.length, echo: !r.echo ? '' : typeof r.prompt === 'string' ? r.prompt : tokenizer.decode(ids) };
      let n = 0;
      const gen = this.scheduler(lease.served).generate(ids, {
        maxTokens: r.maxTokens,
        temperature: r.temperature,
        topP: r.topP,
        topK: r.topK,
        seed: r.seed,
        stop: r.stop,
        signal,
      });
      for await (const ch of gen) {
        n += ch.tokens.length;
        if (ch.text) yield { type: 'text', text: ch.text };
        if (ch.done) {
          yield { type: 'end', finishReason: signal.aborted ? 'cancelled' : ch.finishReason!, completionTokens: n };
          return;
        }
      }
      yield { type: 'end', finishReason: signal.aborted ? 'cancelled' : 'length', completionTokens: n };
    } finally {
      lease.release();
    }
  }

  async score(r: ScoreRequest, signal: AbortSignal): Promise<ScoreResult> {
    const lease = await this.registry.acquire(r.model);
    try {
      const m = lease.served,
        { model, tokenizer } = m,
        nCtx = model.cfg.nCtx;
      let promptIds = tokenizer.encode(r.prompt);
      if (promptIds.length === 0) {
        const eot = tokenizer.specialId('endOfText');
        if (eot === undefined) throw invalid(`'prompt' is empty and this model's tokenizer has no <|endoftext|> to condition on`, 'prompt', 'invalid_value');
        promptIds = [eot];
      }
      const what = (i: number) => (r.choices ? `choices[${i}]` : 'continuation');
      const contIds = r.continuations.map((t, i) => {
        const ids = tokenizer.encode(t);
        if (ids.length === 0) throw invalid(`'${what(i)}' encodes to no tokens`, what(i), 'invalid_value');
        if (promptIds.length + ids.length > nCtx) {
          throw invalid(
            `This model's maximum context length is ${nCtx} tokens; the prompt (${promptIds.length}) and ${r.choices ? `choice ${i}` : 'the continuation'} (${ids.length}) need ${promptIds.length + ids.length}`,
            what(i),
            'context_length_exceeded',
          );
        }
        return ids;
      });
      const sched = this.scheduler(m);
      const data: ScoreResult['data'] = [];
      for (const [index, ids] of contIds.entries()) {
        if (signal.aborted) throw cancelled();
        const lp = await sched.exclusive(() => continuationLogprobs(model, promptIds, ids));
        const logprob = lp.reduce((s, x) => s + x, 0);
        data.push({ index, text: r.continuations[index], tokens: ids.length, logprob, mean_logprob: logprob / ids.length, token_logprobs: lp });
      }
      const out: ScoreResult = { promptTokens: promptIds.length, data };
      if (r.choices && isFinetuned(m) && familyOf(m.spec).classes === 'choices' && r.continuations.length === m.spec.choices) {
        const h = await sched.exclusive(() => choose(m, r.prompt, r.continuations));
        out.head = { best: h.index, probabilities: h.probabilities };
      }
      return out;
    } finally {
      lease.release();
    }
  }

  async classify(r: { model: string; inputs: ClassifyInput[] }, signal: AbortSignal): Promise<ClassifyResult> {
    const lease = await this.registry.acquire(r.model);
    try {
      const m = lease.served;
      if (!isFinetuned(m) || familyOf(m.spec).classes !== 'labels') {
        throw invalid(
          `the model '${r.model}' is ${isFinetuned(m) ? `fine-tuned for ${m.spec.family} (use POST /v1/score with choices)` : 'a language model without a task head; fine-tune it for classification, entailment or similarity (POST /v1/fine_tuning/jobs)'}`,
          'model',
          'model_not_classifier',
        );
      }
      // every input in the shape the model's family takes (a text, {premise, hypothesis}, {a, b}), checked before any runs
      const family = familyOf(m.spec);
      const examples: Example[] = r.inputs.map((x, i) => {
        try {
          return family.input(x, r.inputs.length > 1 ? `input[${i}]` : 'input');
        } catch (err) {
          if (err instanceof InputError) throw invalid(err.message, err.param, 'invalid_type');
          throw err;
        }
      });
      const sched = this.scheduler(m),
        data: ClassifyResult['data'] = [];
      for (const [index, x] of examples.entries()) {
        if (signal.aborted) throw cancelled();
        const res = await sched.exclusive(() => classifyExample(m, x));
        data.push({ index, label: res.label, probabilities: res.probabilities });
      }
      return { task: m.spec.family, data };
    } finally {
      lease.release();
    }
  }

  /** generations decoding now, over every model (tests, diagnostics) */
  decoding(): number {
    let n = 0;
    for (const s of this.schedulers.values()) n += s.active;
    return n;
  }

  /** batched steps run so far and the next-token rows they produced, over every model (rows/steps = mean batch) */
  batchStats(): { steps: number; rows: number } {
    let steps = 0,
      rows = 0;
    for (const s of this.schedulers.values()) (steps += s.steps), (rows += s.rows);
    return { steps, rows };
  }

  async close(): Promise<void> {
    await this.o.stopJobs?.();
    for (const s of this.schedulers.values()) s.dispose();
    this.schedulers.clear();
  }
}
