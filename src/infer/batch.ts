// Batched, ragged decoding (continuous batching): several sequences share one model step, each in its own
// slot of one KV cache (S slots of `slotTokens` positions: the context window, or fewer to bound memory)
// and at its own position. A sequence joins
// with its prompt, which is prefilled in chunks of at most `prefillChunk` tokens inside the running
// steps, so a long prompt does not stall the sequences already decoding; it leaves (its slot is free at
// once) whenever its owner says so. The single-sequence path (src/infer/generate.ts) is the oracle: a
// sequence gets the same logits here, whatever else shares its steps (test/batched-decode.ts).
//
// One step, for the sequences in slots (N tokens in all):
//   runs     every decoding sequence's next token (1 each), then prompt chunks, first come first served,
//            up to `maxStepTokens`
//   forward  GPT.forward(ids (1,N), { ragged: runs, cache }): embeddings at each run's positions,
//            Backend.attentionRagged over each token's own slot
//   logits   rowLogits of the last token of every run that finished its sequence's pending input
import type { GPT, KVCache } from '../model/gpt.ts';

export interface BatchOptions {
  /** sequences decoded together (KV cache slots) */
  slots: number;
  /** prompt tokens a joining sequence feeds per step (default 64) */
  prefillChunk?: number;
  /** tokens in one step, decodes included (default slots + prefillChunk: prefill always progresses) */
  maxStepTokens?: number;
  /** KV-cache positions per slot: prompt + generated tokens of one sequence (default: the context window) */
  slotTokens?: number;
}

/** A sequence in the batch (handed out by add). */
export interface BatchSeq {
  readonly slot: number;
  /** tokens in its slot of the cache */
  readonly pos: number;
  /** tokens given but not run yet: the rest of the prompt, or the last sampled token */
  readonly pending: readonly number[];
}

interface Seq extends BatchSeq {
  slot: number;
  pos: number;
  pending: number[];
  order: number;
}

export class BatchDecoder {
  readonly slots: number;
  readonly prefillChunk: number;
  readonly maxStepTokens: number;
  readonly slotTokens: number;
  private cache: KVCache | null = null;
  private readonly bySlot: (Seq | null)[];
  private order = 0;

  constructor(
    readonly model: GPT,
    o: BatchOptions,
  ) {
    this.slots = o.slots;
    this.prefillChunk = o.prefillChunk ?? 64;
    this.maxStepTokens = o.maxStepTokens ?? this.slots + this.prefillChunk;
    this.slotTokens = Math.min(o.slotTokens ?? model.cfg.nCtx, model.cfg.nCtx);
    for (const [k, v] of Object.entries({
      slots: this.slots,
      prefillChunk: this.prefillChunk,
      maxStepTokens: this.maxStepTokens,
      slotTokens: this.slotTokens,
    })) {
      if (!(Number.isInteger(v) && v >= 1)) throw new RangeError(`BatchDecoder: ${k} must be a positive integer, got ${v}`);
    }
    if (this.maxStepTokens <= this.slots - 1) throw new RangeError('BatchDecoder: maxStepTokens must leave room for a prompt chunk beside every decode');
    this.bySlot = new Array(this.slots).fill(null);
  }

  /** sequences in the batch / free slots */
  get active(): number {
    return this.bySlot.filter((s) => s !== null).length;
  }
  get free(): number {
    return this.slots - this.active;
  }

  /** Puts a sequence with this prompt in a free slot (its cache is allocated on first use). */
  add(prompt: number[]): BatchSeq {
    const slot = this.bySlot.indexOf(null);
    if (slot < 0) throw new Error('BatchDecoder: no free slot');
    if (prompt.length === 0) throw new RangeError('BatchDecoder: an empty prompt');
    if (prompt.length > this.slotTokens)
      throw new RangeError(`BatchDecoder: a prompt of ${prompt.length} tokens exceeds a slot's ${this.slotTokens} positions`);
    const s: Seq = { slot, pos: 0, pending: [...prompt], order: this.order++ };
    this.bySlot[slot] = s;
    return s;
  }

  /** Gives a sequence its next input token (the one just sampled). */
  feed(seq: BatchSeq, token: number): void {
    const s = this.own(seq);
    if (s.pending.length) throw new Error('BatchDecoder: the sequence has input pending');
    s.pending.push(token);
  }

  /** positions left in the sequence's slot (0: it cannot take another token) */
  room(seq: BatchSeq): number {
    const s = this.own(seq);
    return this.slotTokens - s.pos - s.pending.length;
  }

  /** Takes the sequence out; its slot is free at once. */
  remove(seq: BatchSeq): void {
    const s = this.own(seq);
    this.bySlot[s.slot] = null;
  }

  /**
   * One step over every sequence with input pending. Returns the next-token logits (V) of each sequence
   * whose pending input is now all run (a decode, or the last chunk of a prompt), in slot order.
   */
  async step(): Promise<{ seq: BatchSeq; logits: Float32Array }[]> {
    const live = this.bySlot.filter((s): s is Seq => s !== null && s.pending.length > 0);
    if (live.length === 0) return [];
    const decodes = live.filter((s) => s.pos > 0 && s.pending.length === 1);
    const prefills = live.filter((s) => !decodes.includes(s)).sort((a, b) => a.order - b.order);
    const runs: { seq: Seq; n: number }[] = decodes.map((seq) => ({ seq, n: 1 }));
    let budget = this.maxStepTokens - runs.length;
    for (const seq of prefills) {
      if (budget <= 0) break;
      const n = Math.min(seq.pending.length, this.prefillChunk, budget);
      runs.push({ seq, n });
      budget -= n;
    }
    runs.sort((a, b) => a.seq.slot - b.seq.slot);
    const N = runs.reduce((t, r) => t + r.n, 0);
    const ids = new Int32Array(N),
      ragged: { slot: number; pos: number; length: number }[] = [],
      rows: number[] = [],
      done: Seq[] = [];
    let off = 0;
    for (const { seq, n } of runs) {
      ids.set(seq.pending.slice(0, n), off);
      ragged.push({ slot: seq.slot, pos: seq.pos, length: n });
      if (n === seq.pending.length) {
        rows.push(off + n - 1);
        done.push(seq);
      }
      off += n;
    }
    this.cache ??= this.model.newKVCache(this.slots, this.slotTokens);
    const pass = this.model.forward(ids, 1, N, { ragged, cache: this.cache });
    for (const { seq, n } of runs) {
      seq.pos += n;
      seq.pending.splice(0, n);
    }
    if (rows.length === 0) return [];
    const logits = await pass.rowLogits(Int32Array.from(rows)),
      V = this.model.cfg.vocabSize;
    return done.map((seq, i) => ({ seq, logits: logits.subarray(i * V, (i + 1) * V) }));
  }

  /** Frees the cache (the model belongs to the caller). */
  dispose(): void {
    if (this.cache) this.model.freeKVCache(this.cache);
    this.cache = null;
    this.bySlot.fill(null);
  }

  private own(seq: BatchSeq): Seq {
    const s = seq as Seq;
    if (this.bySlot[s.slot] !== s) throw new Error('BatchDecoder: the sequence is not in the batch');
    return s;
  }
}
