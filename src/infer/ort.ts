// Inference through ONNX Runtime on a model exported by src/io/onnx/export.ts (or an HF GPT-2 ONNX
// decoder with the same input/output names): the `ort` option of generate.
//
// The caller passes the `ort` module — `await import('onnxruntime-web')` in browsers, Deno, Bun and
// Node, or `await import('onnxruntime-node')` where that native package is installed — so src/ stays
// portable and bundlers see no runtime-specific import here. Both expose the same API
// (InferenceSession.create, Tensor), which is all this file uses.
//
// OrtGPT runs either graph:
//  - 'decode' (past_key_values in, present out): prefill with an empty past, then one position per
//    step against the cached keys/values, as gptedge's own KV cache does;
//  - 'logits' (input_ids only): each step re-runs the whole prefix (correct, just O(T²)).
// Generation reuses src/infer/generate.ts and sample.ts unchanged: `asCausalLM()` presents the
// session through the four methods generateStream calls (newKVCache, transformer, lastLogits,
// freeKVCache), so options, sampling, stop strings and streaming behave exactly as on a backend, and
// greedy decoding picks the same tokens whenever the logits agree (tested within 1e-4).
import type { GPTConfig } from '../model/config.ts';
import type { GPT, KVCache } from '../model/gpt.ts';
import type { GPTTokenizer } from '../tokenizer/tokenizer.ts';
import { importOnnx } from '../io/onnx/import.ts';
import { generate, generateStream, type GenerateChunk, type GenerateOptions, type GenerateResult } from './generate.ts';

/** The part of an onnxruntime tensor used here. */
export interface OrtTensorLike {
  readonly data: unknown;
  readonly dims: readonly number[];
  dispose?(): void;
}
export interface OrtSessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensorLike>): Promise<Record<string, OrtTensorLike>>;
  release?(): Promise<void>;
}
/** The part of the `onnxruntime-web` / `onnxruntime-node` module used here. */
export interface OrtModuleLike {
  Tensor: new (type: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: readonly number[]) => OrtTensorLike;
  InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSessionLike> };
}

export interface OrtCache {
  B: number;
  pos: number;
  /** decode graph: the present tensors of the last step, fed back as past_key_values */
  past: Record<string, OrtTensorLike> | null;
  /** logits graph: the ids so far, per row */
  history: number[][];
}

export class OrtGPT {
  readonly cfg: GPTConfig;
  readonly session: OrtSessionLike;
  /** the graph takes past_key_values (the decode graph) */
  readonly hasPast: boolean;
  private readonly ort: OrtModuleLike;

  private constructor(ort: OrtModuleLike, session: OrtSessionLike, cfg: GPTConfig) {
    this.ort = ort;
    this.session = session;
    this.cfg = cfg;
    this.hasPast = session.inputNames.includes('past_key_values.0.key');
    for (const need of ['input_ids']) if (!session.inputNames.includes(need)) throw new Error(`the ONNX model has no "${need}" input (inputs: ${session.inputNames.join(', ')})`);
    if (!session.outputNames.includes('logits')) throw new Error(`the ONNX model has no "logits" output (outputs: ${session.outputNames.join(', ')})`);
  }

  /**
   * Opens an .onnx file with `ort`. The config is read from the file (gptedge metadata, or the tensor
   * shapes; `nHead` where the graph does not show it). `sessionOptions` go to InferenceSession.create
   * (e.g. { executionProviders: ['wasm'] } or ['webgpu']).
   */
  static async create(ort: OrtModuleLike, bytes: Uint8Array, opts: { sessionOptions?: Record<string, unknown>; nHead?: number; file?: string } = {}): Promise<OrtGPT> {
    const { config } = importOnnx(bytes, { file: opts.file, nHead: opts.nHead, configOnly: true });
    const session = await ort.InferenceSession.create(bytes, opts.sessionOptions);
    return new OrtGPT(ort, session, config);
  }

  async release(): Promise<void> {
    await this.session.release?.();
  }

  private checkIds(ids: ArrayLike<number>, B: number, T: number, pos0: number): void {
    if (ids.length !== B * T) throw new Error(`ids hold ${ids.length} tokens, expected B*T = ${B * T}`);
    if (pos0 + T > this.cfg.nCtx) throw new Error(`sequence of ${pos0 + T} tokens exceeds the context window of ${this.cfg.nCtx}`);
    for (let i = 0; i < ids.length; i++) {
      if (!(ids[i] >= 0 && ids[i] < this.cfg.vocabSize)) throw new Error(`token id ${ids[i]} at position ${i} is outside the vocabulary of ${this.cfg.vocabSize}`);
    }
  }

  private i64(values: ArrayLike<number>, dims: number[]): OrtTensorLike {
    const a = new BigInt64Array(values.length);
    for (let i = 0; i < values.length; i++) a[i] = BigInt(values[i]);
    return new this.ort.Tensor('int64', a, dims);
  }

  private emptyPast(B: number): Record<string, OrtTensorLike> {
    const { nHead: NH, nEmbd: C, nLayer: L } = this.cfg;
    const feeds: Record<string, OrtTensorLike> = {};
    for (let l = 0; l < L; l++) {
      for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = new this.ort.Tensor('float32', new Float32Array(0), [B, NH, 0, C / NH]);
    }
    return feeds;
  }

  /** Logits (B*T, V) of every position of `ids` (B,T) from position 0. */
  async logits(ids: ArrayLike<number>, B: number, T: number): Promise<Float32Array> {
    const cache = this.newCache(B);
    try {
      return await this.step(ids, B, T, cache);
    } finally {
      this.freeCache(cache);
    }
  }

  newCache(B: number): OrtCache {
    return { B, pos: 0, past: null, history: Array.from({ length: B }, () => []) };
  }

  freeCache(cache: OrtCache): void {
    if (cache.past) for (const t of Object.values(cache.past)) t.dispose?.();
    cache.past = null;
  }

  /** Runs the next T positions of each row after cache.pos; returns their logits (B*T, V). */
  async step(ids: ArrayLike<number>, B: number, T: number, cache: OrtCache): Promise<Float32Array> {
    if (B !== cache.B) throw new Error(`the cache holds ${cache.B} rows, got ${B}`);
    this.checkIds(ids, B, T, cache.pos);
    const V = this.cfg.vocabSize;
    if (!this.hasPast) {
      // logits graph: run the whole prefix, keep the last T rows of logits
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) cache.history[b].push(ids[b * T + t]);
      const total = cache.pos + T;
      const out = await this.session.run({ input_ids: this.i64(cache.history.flat(), [B, total]) });
      const all = out.logits.data as Float32Array, res = new Float32Array(B * T * V);
      for (let b = 0; b < B; b++) res.set(all.subarray((b * total + cache.pos) * V, (b * total + total) * V), b * T * V);
      cache.pos = total;
      return res;
    }
    const total = cache.pos + T;
    const pos = new Array<number>(B * T);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) pos[b * T + t] = cache.pos + t;
    const feeds: Record<string, OrtTensorLike> = {
      input_ids: this.i64(ids, [B, T]),
      ...(cache.past ?? this.emptyPast(B)),
    };
    if (this.session.inputNames.includes('attention_mask')) feeds.attention_mask = this.i64(new Array(B * total).fill(1), [B, total]);
    if (this.session.inputNames.includes('position_ids')) feeds.position_ids = this.i64(pos, [B, T]);
    const out = await this.session.run(feeds);
    const past: Record<string, OrtTensorLike> = {};
    for (let l = 0; l < this.cfg.nLayer; l++) {
      for (const kv of ['key', 'value']) {
        const t = out[`present.${l}.${kv}`];
        if (!t) throw new Error(`the ONNX model did not return present.${l}.${kv}`);
        past[`past_key_values.${l}.${kv}`] = t;
      }
    }
    this.freeCache(cache);
    cache.past = past;
    cache.pos = total;
    return out.logits.data as Float32Array;
  }

  /**
   * The session seen as the model generateStream drives: transformer() queues the ids, lastLogits()
   * runs the session (the one asynchronous call, as reading back is on a backend).
   */
  asCausalLM(): GPT {
    const V = this.cfg.vocabSize;
    let pending: { ids: Int32Array; B: number; T: number; cache: OrtCache } | null = null;
    const caches = new WeakMap<object, OrtCache>();
    const run = async (): Promise<Float32Array> => {
      if (!pending) throw new Error('no pending forward: call transformer() first');
      const p = pending;
      pending = null;
      return this.step(p.ids, p.B, p.T, p.cache);
    };
    const lm = {
      cfg: this.cfg,
      newKVCache: (B: number, Tmax = this.cfg.nCtx): KVCache => {
        const kv: KVCache = { B, Tmax, k: [], v: [], pos: 0 };
        caches.set(kv, this.newCache(B));
        return kv;
      },
      freeKVCache: (kv: KVCache): void => {
        const c = caches.get(kv);
        if (c) this.freeCache(c);
      },
      transformer: (ids: Int32Array, B: number, T: number, _opts: unknown = {}, kv?: KVCache): void => {
        const cache = kv ? caches.get(kv) : this.newCache(B);
        if (!cache) throw new Error('this KV cache was not made by this ONNX model');
        if (kv && kv.pos !== cache.pos) throw new Error(`KV cache position ${kv.pos} does not match the session's ${cache.pos}`);
        this.checkIds(ids, B, T, cache.pos);
        pending = { ids: Int32Array.from(ids), B, T, cache };
        if (kv) kv.pos += T;
      },
      lastLogits: async (B: number, T: number): Promise<Float32Array> => {
        const all = await run();
        const out = new Float32Array(B * V);
        for (let b = 0; b < B; b++) out.set(all.subarray((b * T + T - 1) * V, (b * T + T) * V), b * V);
        return out;
      },
      allLogits: async (_BT: number): Promise<Float32Array> => run(),
    };
    // generateStream is typed on GPT; it uses only the members above (a structural subset of GPT,
    // which TypeScript cannot express against a class with private fields, hence the cast)
    return lm as unknown as GPT;
  }
}

/** generate() through ONNX Runtime: same options, sampling and results as on a gptedge backend. */
export function generateOrt(model: OrtGPT, tok: GPTTokenizer, prompt: string | number[], o: GenerateOptions = {}): Promise<GenerateResult> {
  return generate(model.asCausalLM(), tok, prompt, o);
}

export function generateStreamOrt(model: OrtGPT, tok: GPTTokenizer, prompt: string | number[], o: GenerateOptions = {}): AsyncGenerator<GenerateChunk> {
  return generateStream(model.asCausalLM(), tok, prompt, o);
}
