// The scheduler of one served model: continuous batching. Every generation on the model joins one running
// batch (src/infer/batch.ts): each step advances all of them by one token in ONE batched, ragged forward
// pass, and prompts of joining requests are prefilled in chunks inside those steps. Per request: its
// sampling parameters and seed (the same tokens as generateStream for the same seed), stop strings,
// max_tokens, the context window, and its AbortSignal — a finished, stopped or cancelled request leaves the
// batch and frees its slot at once. Work that needs the whole model for one forward (scoring,
// classification) runs between steps, one task per step, so neither side starves.
//
//   loop:  one exclusive task (if any) → drop cancelled requests → admit waiting requests into free slots
//          (FIFO) → one batched step → sample each finished row → emit text, finish or feed the token back
//          → yield to the event loop (a disconnect, a new request or /health gets its turn)
//
// Single-threaded by design: it runs wherever the engine runs (a worker on Node/Deno/Bun, the only thread
// in workerd and browsers).
import type { GPT } from '../model/gpt.ts';
import type { GPTTokenizer } from '../tokenizer/tokenizer.ts';
import type { FinishReason, GenerateChunk, GenerateOptions } from '../infer/generate.ts';
import { BatchDecoder, type BatchSeq } from '../infer/batch.ts';
import { sampleToken, validateSampling, type SamplingOptions } from '../infer/sample.ts';
import { TextStream } from '../infer/text-stream.ts';
import { Rng } from '../util/random.ts';
import { turn } from '../util/next-turn.ts';

export interface SchedulerOptions {
  /** sequences decoded together: KV cache slots of the model's context window each (default 4) */
  slots?: number;
  /** prompt tokens a joining request feeds per step (default 64) */
  prefillChunk?: number;
  /** KV-cache positions per slot: a request's prompt + generated tokens (default: the context window) */
  slotTokens?: number;
  /** for tests: awaited before each batched step */
  beforeToken?: () => Promise<void> | void;
}

interface Request {
  prompt: number[];
  sampling: SamplingOptions;
  rng: Rng;
  maxTokens: number;
  text: TextStream;
  signal?: AbortSignal;
  seq: BatchSeq | null;
  /** token ids behind text not handed out yet */
  tokens: number[];
  out: GenerateChunk[];
  wake: (() => void) | null;
  finished: boolean;
  /** the consumer stopped reading */
  abandoned: boolean;
}

export class Scheduler {
  private readonly batch: BatchDecoder;
  private readonly waiting: Request[] = [];
  private readonly running = new Set<Request>();
  private readonly tasks: (() => Promise<void>)[] = [];
  private loop: Promise<void> | null = null;
  /** ids the tokenizer cannot decode: never sampled (as in generateStream) */
  private readonly undecodable: number[];
  /** batched steps run, and the sequences they advanced (for /health-style diagnostics and tests) */
  steps = 0;
  rows = 0;

  constructor(
    readonly model: GPT,
    readonly tokenizer: GPTTokenizer,
    private readonly o: SchedulerOptions = {},
  ) {
    this.batch = new BatchDecoder(model, { slots: o.slots ?? 4, prefillChunk: o.prefillChunk, slotTokens: o.slotTokens });
    this.undecodable = Array.from(tokenizer.undecodable(model.cfg.vocabSize));
  }

  /** KV positions per slot: the longest prompt + generation a request may have */
  get slotTokens(): number {
    return this.batch.slotTokens;
  }

  /** requests decoding in the batch now */
  get active(): number {
    return this.running.size;
  }

  /** Runs `fn` alone on the model, between two batched steps. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((ok, fail) => {
      this.tasks.push(() => fn().then(ok, fail));
      this.kick();
    });
  }

  /** A generation in the batch; it ends with finishReason 'cancelled' at the next step once `signal` aborts. */
  async *generate(ids: number[], o: GenerateOptions): AsyncGenerator<GenerateChunk> {
    validateSampling(o);
    const maxTokens = o.maxTokens ?? 64;
    if (!(Number.isInteger(maxTokens) && maxTokens >= 0)) throw new RangeError(`maxTokens must be an integer >= 0, got ${maxTokens}`);
    if (ids.length === 0 || ids.length >= this.batch.slotTokens)
      throw new RangeError(`the prompt has ${ids.length} tokens; it must hold 1 to ${this.batch.slotTokens - 1}`);
    const r: Request = {
      prompt: ids,
      sampling: { temperature: o.temperature, topK: o.topK, topP: o.topP },
      rng: new Rng(o.seed ?? 0),
      maxTokens,
      text: new TextStream(this.tokenizer, o.stop),
      signal: o.signal,
      seq: null,
      tokens: [],
      out: [],
      wake: null,
      finished: false,
      abandoned: false,
    };
    const wakeLoop = () => this.kick();
    o.signal?.addEventListener('abort', wakeLoop, { once: true });
    this.waiting.push(r);
    this.kick();
    try {
      for (;;) {
        while (r.out.length) {
          const c = r.out.shift()!;
          yield c;
          if (c.done) return;
        }
        await new Promise<void>((w) => (r.wake = w));
      }
    } finally {
      o.signal?.removeEventListener('abort', wakeLoop);
      if (!r.finished) {
        r.abandoned = true; // the consumer left early: the next step drops the request
        this.kick();
      }
    }
  }

  /** Frees the batch's KV cache (the model belongs to the registry). */
  dispose(): void {
    this.batch.dispose();
  }

  private kick(): void {
    if (this.loop) return;
    this.loop = this.run().finally(() => {
      this.loop = null;
      if (this.hasWork()) this.kick();
    });
  }

  private hasWork(): boolean {
    return this.tasks.length > 0 || this.waiting.length > 0 || this.running.size > 0;
  }

  private async run(): Promise<void> {
    while (this.hasWork()) {
      const task = this.tasks.shift();
      if (task) await task();
      this.reap();
      this.admit();
      if (this.running.size > 0) {
        if (this.o.beforeToken) await this.o.beforeToken();
        this.reap(); // the hook may have let a disconnect in
        const res = await this.batch.step();
        this.steps++;
        this.rows += res.length;
        const by = new Map<BatchSeq, Request>();
        for (const r of this.running) if (r.seq) by.set(r.seq, r);
        for (const { seq, logits } of res) this.advance(by.get(seq)!, logits);
      }
      await turn();
    }
  }

  /** Requests whose client left, waiting or in the batch, end as cancelled and give their slot back. */
  private reap(): void {
    const gone = (r: Request) => r.abandoned || !!r.signal?.aborted;
    for (let i = this.waiting.length - 1; i >= 0; i--) if (gone(this.waiting[i])) this.finish(this.waiting.splice(i, 1)[0], 'cancelled', '');
    for (const r of this.running) if (gone(r)) this.finish(r, 'cancelled', '');
  }

  private admit(): void {
    while (this.waiting.length && this.batch.free > 0) {
      const r = this.waiting.shift()!;
      if (r.maxTokens === 0) {
        this.finish(r, 'length', '');
        continue;
      }
      r.seq = this.batch.add(r.prompt);
      this.running.add(r);
    }
  }

  /** The request's next token from its logits: text out, then finish or feed it back — as generateStream does. */
  private advance(r: Request, logits: Float32Array): void {
    for (const id of this.undecodable) logits[id] = -Infinity;
    const next = sampleToken(logits, r.sampling, r.rng);
    r.tokens.push(next);
    const t = r.text.push(next);
    if (t.stopped) {
      this.finish(r, 'stop', t.text);
      return;
    }
    if (t.text) this.emit(r, { text: t.text, tokens: r.tokens.splice(0), done: false });
    if (r.text.tokens >= r.maxTokens) {
      this.finish(r, 'length', r.text.rest());
      return;
    }
    if (this.batch.room(r.seq!) < 1) {
      this.finish(r, 'context', r.text.rest());
      return;
    }
    this.batch.feed(r.seq!, next);
  }

  private finish(r: Request, reason: FinishReason, text: string): void {
    if (r.finished) return;
    r.finished = true;
    if (r.seq) this.batch.remove(r.seq);
    this.running.delete(r);
    this.emit(r, { text, tokens: r.tokens.splice(0), done: true, finishReason: reason });
  }

  private emit(r: Request, c: GenerateChunk): void {
    r.out.push(c);
    const w = r.wake;
    r.wake = null;
    w?.();
  }
}
