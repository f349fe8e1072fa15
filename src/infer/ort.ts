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
// session as the CausalLM generateStream drives (src/model/causal-lm.ts, which GPT implements), so
// options, sampling, stop strings and streaming behave exactly as on a backend, and greedy decoding
// picks the same tokens whenever the logits agree (tested within 1e-4).
//
// Fine-tuned models exported with their task head (export.ts `head`: input extract_index, outputs
// hidden_at_extract / head_logits / probs, the task in metadata "gptedge.task"): classifyOrt,
// similarityOrt, chooseOrt and predictOrt mirror src/finetune's classify, similarity, choose and
// predict — same results (probabilities), same errors — and build the token layouts with
// src/finetune/transform.ts (encodeExample, makeBatch), so the ids are those gptedge itself runs.
import { FileFormatError, quote } from '../io/errors.ts';
import type { GPTConfig } from '../model/config.ts';
import type { CausalLM, CausalStep } from '../model/causal-lm.ts';
import type { GPTTokenizer } from '../tokenizer/tokenizer.ts';
import { importOnnx } from '../io/onnx/import.ts';
import type { OnnxTaskInfo } from '../io/onnx/export.ts';
import { encodeExample, makeBatch, specialIds, type EncodedExample } from '../finetune/transform.ts';
import { familyOf, taskSpec, validateSpec, type Example, type TaskSpec } from '../finetune/task.ts';
import { byLabel, type ClassProbabilities } from '../finetune/finetune.ts';
import { argmax } from '../util/softmax.ts';
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
  /** the graph has a task head (input extract_index, outputs head_logits, probs, hidden_at_extract) */
  readonly hasHead: boolean;
  /** the fine-tuning task (metadata "gptedge.task", or given to create); null for a plain LM */
  readonly task: OnnxTaskInfo | null;
  private readonly ort: OrtModuleLike;

  private constructor(ort: OrtModuleLike, session: OrtSessionLike, cfg: GPTConfig, task: OnnxTaskInfo | null) {
    this.ort = ort;
    this.session = session;
    this.cfg = cfg;
    this.task = task;
    this.hasPast = session.inputNames.includes('past_key_values.0.key');
    this.hasHead = session.inputNames.includes('extract_index') && session.outputNames.includes('probs');
    for (const need of ['input_ids'])
      if (!session.inputNames.includes(need)) throw new Error(`the ONNX model has no "${need}" input (inputs: ${session.inputNames.join(', ')})`);
    if (!session.outputNames.includes('logits')) throw new Error(`the ONNX model has no "logits" output (outputs: ${session.outputNames.join(', ')})`);
  }

  /**
   * Opens an .onnx file with `ort`. The config is read from the file (gptedge metadata, or the tensor
   * shapes; `nHead` where the graph does not show it). `sessionOptions` go to InferenceSession.create
   * (e.g. { executionProviders: ['wasm'] } or ['webgpu']).
   */
  static async create(
    ort: OrtModuleLike,
    bytes: Uint8Array,
    opts: { sessionOptions?: Record<string, unknown>; nHead?: number; file?: string; task?: OnnxTaskInfo } = {},
  ): Promise<OrtGPT> {
    const file = opts.file ?? 'model.onnx';
    const { config, model } = importOnnx(bytes, { file, nHead: opts.nHead, configOnly: true });
    let task = opts.task ?? null;
    const meta = model.metadata.get('gptedge.task');
    if (!task && meta) {
      try {
        task = JSON.parse(meta) as OnnxTaskInfo;
      } catch (err) {
        throw new FileFormatError(file, `metadata gptedge.task is not JSON (${err instanceof Error ? err.message : String(err)})`, { field: 'gptedge.task' });
      }
    }
    if (task) {
      try {
        validateSpec(specOf(task));
      } catch (err) {
        throw new FileFormatError(file, `metadata gptedge.task ${quote(task)}: ${(err as Error).message}`, { field: 'gptedge.task' });
      }
    }
    const session = await ort.InferenceSession.create(bytes, opts.sessionOptions);
    return new OrtGPT(ort, session, config, task);
  }

  async release(): Promise<void> {
    await this.session.release?.();
  }

  private checkIds(ids: ArrayLike<number>, B: number, T: number, pos0: number): void {
    if (ids.length !== B * T) throw new Error(`ids hold ${ids.length} tokens, expected B*T = ${B * T}`);
    if (pos0 + T > this.cfg.nCtx) throw new Error(`sequence of ${pos0 + T} tokens exceeds the context window of ${this.cfg.nCtx}`);
    for (let i = 0; i < ids.length; i++) {
      if (!(ids[i] >= 0 && ids[i] < this.cfg.vocabSize))
        throw new Error(`token id ${ids[i]} at position ${i} is outside the vocabulary of ${this.cfg.vocabSize}`);
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
      const feeds: Record<string, OrtTensorLike> = { input_ids: this.i64(cache.history.flat(), [B, total]) };
      if (this.hasExtractInput()) feeds.extract_index = this.i64(new Array(B).fill(0), [B]); // head outputs unused here
      const out = await this.session.run(feeds);
      const all = out.logits.data as Float32Array,
        res = new Float32Array(B * T * V);
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
    if (this.hasExtractInput()) feeds.extract_index = this.i64(new Array(B).fill(0), [B]);
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

  private hasExtractInput(): boolean {
    return this.session.inputNames.includes('extract_index');
  }

  /**
   * One forward of B rows of T tokens from position 0 through the task head. `extract[b]` is the
   * position of row b's extract token (rows may be padded after it). Returns the graph's probs
   * (examples × classes, see export.ts), head_logits and hidden_at_extract (B, C).
   */
  async head(
    ids: ArrayLike<number>,
    B: number,
    T: number,
    extract: ArrayLike<number>,
  ): Promise<{ probs: Float32Array; headLogits: Float32Array; hidden: Float32Array }> {
    if (!this.hasHead)
      throw new Error(
        `this ONNX model has no task head (inputs: ${this.session.inputNames.join(', ')}; outputs: ${this.session.outputNames.join(', ')}); export a fine-tuned model with its head`,
      );
    this.checkIds(ids, B, T, 0);
    if (extract.length !== B) throw new Error(`extract holds ${extract.length} positions, expected one per row (${B})`);
    for (let b = 0; b < B; b++)
      if (!(Number.isInteger(extract[b]) && extract[b] >= 0 && extract[b] < T))
        throw new Error(`extract position ${extract[b]} of row ${b} is outside 0..${T - 1}`);
    const feeds: Record<string, OrtTensorLike> = { input_ids: this.i64(ids, [B, T]), extract_index: this.i64(extract, [B]) };
    if (this.hasPast) {
      Object.assign(feeds, this.emptyPast(B));
      if (this.session.inputNames.includes('attention_mask')) feeds.attention_mask = this.i64(new Array(B * T).fill(1), [B, T]);
      if (this.session.inputNames.includes('position_ids'))
        feeds.position_ids = this.i64(
          Array.from({ length: B * T }, (_, i) => i % T),
          [B, T],
        );
    }
    const out = await this.session.run(feeds);
    const res = { probs: out.probs.data as Float32Array, headLogits: out.head_logits.data as Float32Array, hidden: out.hidden_at_extract.data as Float32Array };
    return res;
  }

  /**
   * The session as the CausalLM generateStream drives. The session runs asynchronously, so each step is
   * queued after the previous one on the same cache (prefill chunks are steps whose logits nobody reads);
   * lastLogits() waits for its own step.
   */
  asCausalLM(): CausalLM<OrtCache> {
    const V = this.cfg.vocabSize;
    const queued = new WeakMap<OrtCache, { done: Promise<Float32Array>; T: number }>();
    return {
      cfg: this.cfg,
      newKVCache: (B: number): OrtCache => this.newCache(B),
      freeKVCache: (cache: OrtCache): void => this.freeCache(cache),
      forward: (ids: Int32Array, B: number, T: number, { cache }: { cache: OrtCache }): CausalStep => {
        const q = queued.get(cache) ?? { done: Promise.resolve(new Float32Array(0)), T: 0 };
        if (B !== cache.B) throw new Error(`the cache holds ${cache.B} rows, got ${B}`);
        this.checkIds(ids, B, T, cache.pos + q.T);
        const copy = Int32Array.from(ids);
        const all = q.done.then(() => this.step(copy, B, T, cache)).finally(() => void (q.T -= T));
        all.catch(() => {}); // handled: lastLogits, or the next step's, reports the failure
        q.done = all;
        q.T += T;
        queued.set(cache, q);
        return {
          lastLogits: async (): Promise<Float32Array> => {
            const logits = await all,
              out = new Float32Array(B * V);
            for (let b = 0; b < B; b++) out.set(logits.subarray((b * T + T - 1) * V, (b * T + T) * V), b * V);
            return out;
          },
        };
      },
    };
  }
}

/** generate() through ONNX Runtime: same options, sampling and results as on a gptedge backend. */
export function generateOrt(model: OrtGPT, tok: GPTTokenizer, prompt: string | number[], o: GenerateOptions = {}): Promise<GenerateResult> {
  return generate(model.asCausalLM(), tok, prompt, o);
}

export function generateStreamOrt(model: OrtGPT, tok: GPTTokenizer, prompt: string | number[], o: GenerateOptions = {}): AsyncGenerator<GenerateChunk> {
  return generateStream(model.asCausalLM(), tok, prompt, o);
}

// ---- fine-tuned models: the src/finetune prediction API through ONNX Runtime ---------------------

const specOf = (t: OnnxTaskInfo): TaskSpec => taskSpec(t.family, t.labels, t.choices);

function requireTask(model: OrtGPT, call: string, ...families: TaskSpec['family'][]): OnnxTaskInfo {
  if (!model.task || !model.hasHead)
    throw new Error(`${call}() needs an ONNX model exported with its task head (gptedge export --format onnx --model <fine-tuned dir>); this one has none`);
  if (families.length && !(families as string[]).includes(model.task.family))
    throw new Error(`${call}() needs a ${families.join(' or ')} model; this one is fine-tuned for ${model.task.family}`);
  return model.task;
}

/** Class (or candidate) probabilities of already-encoded examples (src/finetune/transform.ts), no dropout. */
export async function predictEncodedOrt(model: OrtGPT, examples: EncodedExample[], o: { batchSize?: number } = {}): Promise<Float32Array[]> {
  const spec = specOf(requireTask(model, 'predict'));
  const bs = o.batchSize ?? 16,
    out: Float32Array[] = [];
  for (let i = 0; i < examples.length; i += bs) {
    const batch = makeBatch(spec, examples.slice(i, i + bs));
    // makeBatch's extract rows are flat indices s·T + position; the graph takes the position per row (and sums
    // the rows of an example itself, as the family's export says)
    const extract = Array.from(batch.extract, (row, s) => row - s * batch.T);
    const { probs } = await model.head(batch.ids, batch.S, batch.T, extract);
    if (probs.length !== batch.N * batch.nClass)
      throw new Error(`the ONNX model returned ${probs.length} probabilities for ${batch.N} examples × ${batch.nClass} classes`);
    for (let n = 0; n < batch.N; n++) out.push(probs.slice(n * batch.nClass, (n + 1) * batch.nClass));
  }
  return out;
}

function encodeAllOrt(model: OrtGPT, tok: GPTTokenizer, examples: Example[], where: (i: number) => string): EncodedExample[] {
  const task = model.task!;
  if (tok.vocabSize > model.cfg.vocabSize) throw new Error(`the tokenizer has ${tok.vocabSize} tokens but the model's vocabulary holds ${model.cfg.vocabSize}`);
  const ids = specialIds(tok),
    spec = specOf(task);
  return examples.map((e, i) => encodeExample(tok, ids, spec, e, task.maxLen ?? model.cfg.nCtx, where(i)));
}

/** predict() through ONNX Runtime: each example's class (or candidate) probabilities. */
export async function predictOrt(model: OrtGPT, tok: GPTTokenizer, examples: Example[], o: { batchSize?: number } = {}): Promise<Float32Array[]> {
  requireTask(model, 'predict');
  return predictEncodedOrt(
    model,
    encodeAllOrt(
      model,
      tok,
      examples.map((e) => ({ ...e, label: undefined })),
      (i) => `example ${i + 1}`,
    ),
    o,
  );
}

/** classify() through ONNX Runtime: classification (`text`) or entailment (`{premise, hypothesis}`). */
export async function classifyOrt(model: OrtGPT, tok: GPTTokenizer, input: string | { premise: string; hypothesis: string }): Promise<ClassProbabilities> {
  const task = requireTask(model, 'classify', 'classification', 'entailment');
  const ex = familyOf(specOf(task)).input(input, 'input');
  const [p] = await predictEncodedOrt(
    model,
    encodeAllOrt(model, tok, [ex], () => 'classify()'),
  );
  return byLabel(task.labels, p);
}

/** similarity() through ONNX Runtime: both orders in one batch, their states summed in the graph. */
export async function similarityOrt(model: OrtGPT, tok: GPTTokenizer, a: string, b: string): Promise<ClassProbabilities> {
  const task = requireTask(model, 'similarity', 'similarity');
  const [p] = await predictEncodedOrt(
    model,
    encodeAllOrt(model, tok, [{ a, b }], () => 'similarity()'),
  );
  return byLabel(task.labels, p);
}

/** choose() through ONNX Runtime: one score per candidate, softmax over the candidates. */
export async function chooseOrt(
  model: OrtGPT,
  tok: GPTTokenizer,
  context: string,
  choices: string[],
): Promise<{ index: number; choice: string; probabilities: number[] }> {
  const task = requireTask(model, 'choose', 'multiple-choice');
  const ex = familyOf(specOf(task)).input({ context, choices }, 'input');
  const [p] = await predictEncodedOrt(
    model,
    encodeAllOrt(model, tok, [ex], () => 'choose()'),
  );
  const best = argmax(p);
  return { index: best, choice: choices[best], probabilities: Array.from(p) };
}
