// The one-call API, in the spirit of transformers.js' `pipeline`:
//
//   const gpt = await load('runs/demo');                       // a folder (Node, Deno, Bun)
//   const gpt = await load('https://example.com/models/demo/', { onProgress });   // browsers, edge
//   const gpt = await load({ files: { 'config.json': ..., 'model.safetensors': ..., 'tokenizer.json': ... } });
//   const gpt = await create({ preset: 'tiny', tokenizer: { train: texts, vocabSize: 512 } });
//
// A source is a gptedge model or run folder, or a Hugging Face layout (config.json, model.safetensors,
// tokenizer.json or vocab.json + merges.txt); a fine-tuned folder (task.json) classifies too. The backend is
// the best the runtime offers (WebGPU on a real GPU, then WASM, then the reference), and `backendReason`
// says which and why. Each runtime's entry (gptedge/node, /deno, /bun, /browser, /workerd) exports `load` and
// `create` with its file system and backends filled in; here they take a Runtime.
import type { Backend } from '../backend/backend.ts';
import type { BackendChoice, BackendOptions } from '../backend/select.ts';
import { resolveModelDir } from '../io/checkpoint.ts';
import { join, type FileSystem } from '../io/fs.ts';
import { GPT, type GPTOptions } from '../model/gpt.ts';
import { preset as presetConfig, validateConfig, type GPTConfig } from '../model/config.ts';
import { loadModel } from '../model/load.ts';
import { GPTTokenizer } from '../tokenizer/tokenizer.ts';
import { trainTokenizerFromTexts } from '../tokenizer/train.ts';
import { loadFinetuned, TASK_FILE } from '../finetune/io.ts';
import { openSource, type ModelSource, type ProgressEvent } from './sources.ts';
import { Pipeline } from './pipeline.ts';

export { Pipeline, type PipelineInit, type PretrainTextOptions, type FinetuneTaskOptions, type ClassifyInput } from './pipeline.ts';
export { HttpFileSystem, openSource, type ModelSource, type ModelFiles, type ProgressEvent } from './sources.ts';

/** What a runtime entry supplies. */
export interface Runtime {
  /** the runtime's files (none in browsers and workerd) */
  fs?: FileSystem;
  /** the runtime's backend choice (src/backend/select.ts with its providers) */
  chooseBackend(kind: string, o: BackendOptions): Promise<BackendChoice>;
}

export interface LoadOptions extends BackendOptions, GPTOptions {
  /** 'auto' (default), 'webgpu', 'wasm', 'reference', or a Backend you made */
  backend?: string | Backend;
  /** called as each file of an http(s) source downloads */
  onProgress?: (e: ProgressEvent) => void;
  /** the fetch for http(s) sources (default globalThis.fetch) */
  fetch?: (u: URL, init?: RequestInit) => Promise<Response>;
}

export interface CreateOptions extends LoadOptions {
  /** a preset name (default 'demo'): gpt1, gpt2, small, demo, tiny */
  preset?: string;
  /** config fields over the preset's */
  config?: Partial<GPTConfig>;
  /** a tokenizer, its tokenizer.json, or text to learn a byte-level BPE of `vocabSize` tokens from */
  tokenizer: GPTTokenizer | string | Record<string, unknown> | { train: string | string[]; vocabSize: number };
  /** the initialisation's seed (default 1) */
  seed?: number;
}

async function backendFor(rt: Runtime, o: LoadOptions): Promise<{ backend: Backend; reason: string; release?: () => void }> {
  if (o.backend && typeof o.backend === 'object') return { backend: o.backend, reason: `${o.backend.name} (given)` };
  const { backend, reason } = await rt.chooseBackend(o.backend ?? 'auto', o);
  return { backend, reason, release: () => (backend as { dispose?: () => void }).dispose?.() };
}

/** Opens a model (see the top of this file) on the best backend. */
export async function loadWith(rt: Runtime, source: ModelSource, o: LoadOptions = {}): Promise<Pipeline> {
  const src = openSource(source, { fs: rt.fs, fetch: o.fetch, onProgress: o.onProgress });
  const dir = await resolveModelDir(src.fs, src.dir);
  const { backend, reason, release } = await backendFor(rt, o);
  try {
    const gptOpts: GPTOptions = { weights: o.weights };
    if (await src.fs.exists(join(dir, TASK_FILE))) {
      const task = await loadFinetuned(src.fs, dir, backend, gptOpts);
      return new Pipeline({ model: task.model, tokenizer: task.tokenizer, task, backendReason: reason, source: src.name, fs: rt.fs, release });
    }
    const { model, tokenizer } = await loadModel(src.fs, dir, backend, gptOpts);
    return new Pipeline({ model, tokenizer, backendReason: reason, source: src.name, fs: rt.fs, release });
  } catch (err) {
    release?.();
    throw err;
  }
}

function tokenizerOf(t: CreateOptions['tokenizer']): GPTTokenizer {
  if (t instanceof GPTTokenizer) return t;
  if (typeof t === 'string') return GPTTokenizer.fromJSON(t);
  if ('train' in t && 'vocabSize' in t) {
    const merges = (t.vocabSize as number) - 256 - 4;
    if (!(Number.isInteger(merges) && merges >= 1))
      throw new Error(`create: vocabSize ${t.vocabSize} leaves no room for merges (256 bytes and 4 special tokens come first)`);
    return trainTokenizerFromTexts(typeof t.train === 'string' ? [t.train] : (t.train as string[]), merges);
  }
  return GPTTokenizer.fromJSON(t as Record<string, unknown>);
}

/** A new, randomly initialised GPT (the paper's init) with its tokenizer, ready to pretrain. */
export async function createWith(rt: Runtime, o: CreateOptions): Promise<Pipeline> {
  const tokenizer = tokenizerOf(o.tokenizer);
  const cfg = validateConfig({ ...presetConfig(o.preset ?? 'demo'), ...o.config, vocabSize: o.config?.vocabSize ?? tokenizer.vocabSize });
  if (tokenizer.vocabSize > cfg.vocabSize)
    throw new Error(`create: the tokenizer has ${tokenizer.vocabSize} tokens, more than the vocabulary size ${cfg.vocabSize}`);
  const { backend, reason, release } = await backendFor(rt, o);
  try {
    const model = new GPT(backend, cfg, { weights: o.weights }).init(o.seed ?? 1);
    return new Pipeline({ model, tokenizer, backendReason: reason, source: `new ${o.preset ?? 'demo'} model`, fs: rt.fs, release });
  } catch (err) {
    release?.();
    throw err;
  }
}
