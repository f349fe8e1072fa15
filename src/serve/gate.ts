// The gate every computing route passes (completions, score, classify): at most `maxActive` requests
// compute at once, at most `maxQueue` wait (FIFO), one more is answered 429 at once. It lives on the
// HTTP side of the engine, so its counters (GET /health) are answered without waiting for the model.
//
// Each admitted request holds a Ticket and ends it once with what happened; the counters are kept
// here and nowhere else: `ok` counts a finished request of its kind, `cancelled` a client that went
// away (never an error), `failed` a failure on our side, `invalid` a request the engine refused (4xx).
import { ApiError } from './errors.ts';

export type ComputeKind = 'completions' | 'score' | 'classify';
export type Outcome = 'ok' | 'cancelled' | 'failed' | 'invalid';

export interface ServeStats {
  /** requests computing now / waiting for a slot */
  active: number;
  queued: number;
  /** finished requests of each kind */
  completions: number;
  scores: number;
  classifications: number;
  /** clients that went away while waiting or computing */
  cancelled: number;
  /** answered 429 because the queue was full */
  rejected: number;
  /** failures on the server's side (never a client's disconnect or a bad request) */
  errors: number;
}

export interface Ticket {
  /** ends the request (idempotent: only the first call counts) and frees its slot */
  end(outcome: Outcome): void;
}

const OK_COUNTER: Record<ComputeKind, 'completions' | 'scores' | 'classifications'> = {
  completions: 'completions',
  score: 'scores',
  classify: 'classifications',
};

export class Gate {
  readonly stats: ServeStats = { active: 0, queued: 0, completions: 0, scores: 0, classifications: 0, cancelled: 0, rejected: 0, errors: 0 };
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly maxActive: number,
    readonly maxQueue: number,
  ) {}

  /**
   * A ticket once a slot is free. Throws a 429 ApiError at once when the queue is full, and an
   * ApiError (counted as cancelled) if `signal` aborts while the request waits.
   */
  async admit(kind: ComputeKind, signal: AbortSignal): Promise<Ticket> {
    const s = this.stats;
    if (signal.aborted) {
      s.cancelled++;
      throw cancelledError();
    }
    if (s.active >= this.maxActive) {
      if (this.waiting.length >= this.maxQueue) {
        s.rejected++;
        throw new ApiError(
          429,
          `too many requests: ${this.maxActive} computing and ${this.maxQueue} queued; retry later`,
          'rate_limit_error',
          null,
          'queue_full',
        );
      }
      await new Promise<void>((ok, fail) => {
        const wake = () => {
          signal.removeEventListener('abort', onAbort);
          ok(); // the slot passes from the releaser to us: `active` is unchanged
        };
        const onAbort = () => {
          const i = this.waiting.indexOf(wake);
          if (i >= 0) this.waiting.splice(i, 1);
          s.queued = this.waiting.length;
          s.cancelled++;
          fail(cancelledError());
        };
        signal.addEventListener('abort', onAbort, { once: true });
        this.waiting.push(wake);
        s.queued = this.waiting.length;
      });
    } else s.active++;
    let ended = false;
    return {
      end: (outcome) => {
        if (ended) return;
        ended = true;
        if (outcome === 'ok') s[OK_COUNTER[kind]]++;
        else if (outcome === 'cancelled') s.cancelled++;
        else if (outcome === 'failed') s.errors++;
        const next = this.waiting.shift();
        s.queued = this.waiting.length;
        if (next) next();
        else s.active--;
      },
    };
  }
}

const cancelledError = () => new ApiError(408, 'the client went away while the request waited', 'invalid_request_error', null, 'cancelled');
