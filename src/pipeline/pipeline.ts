// The one-call API's model object: a loaded (or new) GPT with its tokenizer on a chosen backend, and
// everything a user does with one — generate, stream, score, classify / choose (fine-tuned models),
// pretrain, finetune, save, dispose — without touching the lower-level API it is written over.
import type { Backend } from '../backend/backend.ts';
import { writeModelFiles } from '../io/checkpoint.ts';
import type { FileSystem } from '../io/fs.ts';
import type { GPT } from '../model/gpt.ts';
import type { GPTConfig } from '../model/config.ts';
import { countParams } from '../model/params.ts';
import type { GPTTokenizer } from '../tokenizer/tokenizer.ts';
import { generate, generateStream, type GenerateChunk, type GenerateOptions, type GenerateResult } from '../infer/generate.ts';
import { scoreContinuations, type ContinuationScore } from '../infer/score.ts';
import { TokenDataset } from '../train/data.ts';
import { pretrain, type PretrainOptions, type PretrainState } from '../train/pretrain.ts';
import { modelOptimizer, type AdamW } from '../train/optim.ts';
import { argmax, softmax } from '../util/softmax.ts';
import {
  choose,
  classifyInput,
  encodeAll,
  evaluate,
  familyOf,
  finetune,
  prepareFinetune,
  saveFinetuned,
  type ClassProbabilities,
  type Example,
  type FinetuneModel,
  type FinetuneOptions,
  type FinetuneResult,
  type Metrics,
  type TaskSpec,
} from '../finetune/index.ts';

export interface PipelineInit {
  model: GPT;
  tokenizer: GPTTokenizer;
  /** one line: which backend runs the model and why it was chosen */
  backendReason: string;
  /** the task head of a fine-tuned model */
  task?: FinetuneModel | null;
  /** where it came from, for messages */
  source: string;
  /** file system for save(path) (the runtime's, when it has one) */
  fs?: FileSystem;
  /** releases what the runtime set up for this model (e.g. the backend's worker pool) */
  release?: () => void;
}

export interface PretrainTextOptions extends Omit<PretrainOptions, 'steps' | 'batchSize'> {
  steps: number;
  batchSize?: number;
  /** tokens per training sequence (default: the context window) */
  seqLen?: number;
  /** held-out share of the text for validation (default 0.05; 0 = none) */
  valFraction?: number;
}

export interface FinetuneTaskOptions extends FinetuneOptions {
  /** the task: family and class labels (or the number of choices for multiple choice) */
  family: TaskSpec['family'];
  labels?: string[];
  choices?: number;
  maxLen?: number;
  clfPdrop?: number;
  /** labelled examples to evaluate on during and after training */
  evalExamples?: Example[];
}

export type ClassifyInput = string | { premise: string; hypothesis: string } | { a: string; b: string };

export class Pipeline {
  readonly model: GPT;
  readonly tokenizer: GPTTokenizer;
  readonly backend: Backend;
  readonly backendReason: string;
  readonly task: FinetuneModel | null;
  readonly source: string;
  private readonly fs?: FileSystem;
  private release?: () => void;
  private disposed = false;
  /** pretrain's optimizer, kept between calls so that its moments continue */
  private optimizer: AdamW | null = null;

  constructor(o: PipelineInit) {
    this.model = o.model;
    this.tokenizer = o.tokenizer;
    this.backend = o.model.be;
    this.backendReason = o.backendReason;
    this.task = o.task ?? null;
    this.source = o.source;
    this.fs = o.fs;
    this.release = o.release;
  }

  get config(): GPTConfig {
    return this.model.cfg;
  }
  /** parameters of the transformer (the task head excluded) */
  get parameters(): number {
    return countParams(this.model.cfg);
  }

  private live(): void {
    if (this.disposed) throw new Error(`this model (${this.source}) was disposed`);
  }
  private finetuned(what: string): FinetuneModel {
    this.live();
    if (!this.task) throw new Error(`${what} needs a fine-tuned model; ${this.source} is a language model without a task head (fine-tune it first)`);
    return this.task;
  }

  /** Text continuing `prompt` (KV-cached decoding; sampling options as in GenerateOptions). */
  generate(prompt: string, o: GenerateOptions = {}): Promise<GenerateResult> {
    this.live();
    return generate(this.model, this.tokenizer, prompt, o);
  }

  /** The same, as it is generated. */
  stream(prompt: string, o: GenerateOptions = {}): AsyncGenerator<GenerateChunk> {
    this.live();
    return generateStream(this.model, this.tokenizer, prompt, o);
  }

  /** log P(continuation | prompt), and per token. */
  async score(prompt: string, continuation: string): Promise<ContinuationScore>;
  /** Each choice's score, their softmax and the best: multiple choice by the language model alone. */
  async score(prompt: string, choices: string[]): Promise<{ scores: ContinuationScore[]; probabilities: number[]; best: number }>;
  async score(prompt: string, x: string | string[]): Promise<ContinuationScore | { scores: ContinuationScore[]; probabilities: number[]; best: number }> {
    this.live();
    if (typeof x === 'string') return (await scoreContinuations(this.model, this.tokenizer, prompt, [x]))[0];
    const scores = await scoreContinuations(this.model, this.tokenizer, prompt, x);
    const logprobs = scores.map((s) => s.logprob);
    return { scores, probabilities: softmax(logprobs, []), best: argmax(logprobs) };
  }

  /** A fine-tuned classification, entailment ({premise, hypothesis}) or similarity ({a, b}) model's answer. */
  classify(input: ClassifyInput): Promise<ClassProbabilities> {
    const ft = this.finetuned('classify');
    if (familyOf(ft.spec).classes !== 'labels') throw new Error(`classify: this model answers ${ft.spec.family}; use choose(context, choices)`);
    return classifyInput(ft, input);
  }

  /** A fine-tuned multiple-choice model's pick among `choices`. */
  choose(context: string, choices: string[]): Promise<{ index: number; choice: string; probabilities: number[] }> {
    const ft = this.finetuned('choose');
    if (familyOf(ft.spec).classes !== 'choices') throw new Error(`choose: this model is fine-tuned for ${ft.spec.family}; use classify`);
    return choose(ft, context, choices);
  }

  /** Accuracy (and F1, confusion) of a fine-tuned model on labelled examples. */
  evaluate(examples: Example[]): Promise<Metrics> {
    return evaluate(this.finetuned('evaluate'), examples);
  }

  /** Continues pretraining (L1) on text, in place: the model is the better for it afterwards. */
  pretrain(text: string | string[], o: PretrainTextOptions): Promise<PretrainState> {
    this.live();
    const texts = typeof text === 'string' ? [text] : text;
    const ids = Int32Array.from(texts.flatMap((t) => this.tokenizer.encode(t)));
    const data = new TokenDataset(ids, o.seqLen ?? this.model.cfg.nCtx, o.valFraction ?? 0.05);
    const optimizer = o.optimizer ?? (this.optimizer ??= modelOptimizer(this.model));
    return pretrain(this.model, data, { ...o, optimizer, batchSize: o.batchSize ?? 16, evalEvery: o.valFraction === 0 ? 0 : o.evalEvery });
  }

  /**
   * Fine-tunes (paper §3.2: L3 = L2 + λ·L1) on labelled examples and returns the fine-tuned model. When the
   * vocabulary had to grow for the task's special tokens, this object is disposed: use the one returned.
   */
  async finetune(examples: Example[], o: FinetuneTaskOptions): Promise<Pipeline & { result: FinetuneResult }> {
    this.live();
    const spec: TaskSpec = { family: o.family, labels: o.labels ?? [] };
    if (familyOf(o.family).classes === 'choices') spec.choices = o.choices ?? (examples[0] as { choices?: string[] } | undefined)?.choices?.length;
    else if (!o.labels) spec.labels = [...new Set(examples.map((e) => String((e as { label?: unknown }).label)))].sort();
    const ft = await prepareFinetune(this.model, this.tokenizer, spec, { seed: o.seed, clfPdrop: o.clfPdrop, maxLen: o.maxLen });
    const grown = ft.model !== this.model;
    const result = await finetune(ft, encodeAll(ft, examples), { ...o, evalSet: o.evalExamples ? encodeAll(ft, o.evalExamples) : undefined });
    const next = Object.assign(
      new Pipeline({
        model: ft.model,
        tokenizer: ft.tokenizer,
        backendReason: this.backendReason,
        task: ft,
        source: `${this.source} (fine-tuned for ${spec.family})`,
        fs: this.fs,
        release: grown ? this.release : undefined,
      }),
      { result },
    );
    if (grown) {
      this.optimizer?.free();
      this.model.free();
      this.disposed = true;
      this.release = undefined;
    }
    return next;
  }

  /**
   * Writes a model folder (Hugging Face layout: config.json, model.safetensors, tokenizer.json; a fine-tuned
   * model adds task.json and head.safetensors) to `path` on the runtime's file system, or on `fs`.
   */
  async save(path: string, fs: FileSystem | undefined = this.fs): Promise<string> {
    this.live();
    if (!fs) throw new Error('save: this runtime has no file system; pass one (e.g. a MemoryFileSystem)');
    if (this.task) return saveFinetuned(fs, path, this.task);
    await fs.mkdir(path);
    await writeModelFiles(fs, path, this.model, this.tokenizer.toJSON());
    return path;
  }

  /** Frees the model's memory (WASM and GPU memory are not garbage collected) and what the runtime set up for it. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.task?.head.free();
    this.optimizer?.free();
    this.model.free();
    this.release?.();
  }
}
