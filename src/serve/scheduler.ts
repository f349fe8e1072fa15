// The scheduler of one served model: every computation on the model goes through it — generations
// (token by token) and exclusive work (a scoring or classification forward). One forward at a time:
// a GPT's activations are one allocation. Between tokens it yields to the event loop at least every
// `yieldEveryMs`, so a client's disconnect is seen and other requests are answered.
import type { GPT } from '../model/gpt.ts';
import type { GPTTokenizer } from '../tokenizer/tokenizer.ts';
import { generateStream, type GenerateChunk, type GenerateOptions } from '../infer/generate.ts';

export interface SchedulerOptions {
  /** yield to the event loop at least this often (ms; default 5) */
  yieldEveryMs?: number;
  /** for tests: awaited before each generated token */
  beforeToken?: () => Promise<void> | void;
}

const macrotask = () => new Promise<void>((r) => setTimeout(r, 0));

export class Scheduler {
  private tail: Promise<void> = Promise.resolve();
  private lastYield = Date.now();

  constructor(readonly model: GPT, readonly tokenizer: GPTTokenizer, private readonly o: SchedulerOptions = {}) {}

  /** Runs `fn` alone on the model, after the work queued before it. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
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

  /** A generation; it ends with finishReason 'cancelled' at the next token once `signal` aborts. */
  async *generate(ids: number[], o: GenerateOptions & { signal: AbortSignal }): AsyncGenerator<GenerateChunk> {
    const it = generateStream(this.model, this.tokenizer, ids, o);
    try {
      for (;;) {
        if (this.o.beforeToken) await this.o.beforeToken();
        if (Date.now() - this.lastYield >= (this.o.yieldEveryMs ?? 5)) {
          await macrotask(); // lets the runtime deliver a disconnect (→ abort) and other requests run
          this.lastYield = Date.now();
        }
        const r = await this.exclusive(() => it.next());
        if (r.done) return;
        yield r.value;
        if (r.value.done) return;
      }
    } finally {
      // the generator may be suspended at a yield: return() runs its `finally`, which frees the KV cache
      await this.exclusive(() => it.return(undefined)).catch(() => undefined);
    }
  }

  /** Frees what the scheduler holds on the model (the model itself belongs to the registry). */
  dispose(): void {}
}
