// Checkpoints: a folder a run writes into, holding one sub-folder per saved step and a pointer to the
// latest. Each step folder is complete on its own and opens with Hugging Face transformers too:
//
//   runs/demo/latest.json             {"checkpoint": "step-000500"}
//   runs/demo/step-000500/model.safetensors   weights, HF tensor names of the model's family
//                        /config.json         HF config keys
//                        /tokenizer.json      HF tokenizer
//                        /optimizer.safetensors, train_state.json   (to resume exactly; optional)
//
// Atomicity: a step folder is written under a temporary name and renamed into place, and latest.json
// is replaced by rename, so a crash at any moment leaves the previous checkpoint intact and pointed to;
// the temporary folders a crash leaves behind are removed at the next save.
//
// Loading validates before it allocates: config.json is bounded and consistent (hf-config.ts); the
// weights file may be no larger than the config implies; its header must agree with the config (layer
// count, layout, every tensor's name and shape) before a tensor is decoded; weights must be finite.
// Resuming (opts.resume) also needs a valid train_state.json and the optimizer moments it refers to.
// An int8 / int4 model's model.safetensors (src/io/quantized.ts) is checked the same way, its codes and
// scales against the shapes their parameters need.
import type { GPT } from '../model/gpt.ts';
import type { GPTConfig } from '../model/config.ts';
import { paramCount, paramSpecs } from '../model/params.ts';
import { configFromHF, configToHF } from './hf-config.ts';
import { familyOf, fromHF, toHF } from './hf-names.ts';
import {
  decodeTensor,
  readRawTensor,
  readSafetensorsHeader,
  SAFETENSORS_MAX_HEADER,
  writeSafetensors,
  type NamedTensor,
  type SafetensorsEntry,
  type SafetensorsHeader,
} from './safetensors.ts';
import {
  checkQuantizedTensor,
  decodeQuantized,
  dequantizedWeights,
  isQuantizedKind,
  quantizationConfig,
  quantizedDataOrder,
  quantizedFileTensors,
  quantizedModelTensors,
  quantizedParam,
  quantizeWeights,
  SCALE_SUFFIX,
  storedShape,
  WEIGHTS_META,
  type QuantizedKind,
  type QuantizedWeights,
} from './quantized.ts';
import type { QuantizedRows } from '../backend/quant.ts';
import { FileFormatError, jsonKind, parseJSON, parseJSONObject, quote } from './errors.ts';
import { FILE_LIMITS } from './limits.ts';
import { join, readFileChecked, readTextChecked, writeAtomic, type FileSystem } from './fs.ts';

export interface TrainState {
  step: number;
  seed: number;
  /** the optimizer's own step count (AdamW's bias correction), = step unless the optimizer was reset */
  optimizerStep?: number;
  history?: { step: number; loss?: number; valLoss?: number }[];
  options?: Record<string, number>;
  /** anything else the training loop needs to continue exactly (data identity, ...) */
  [k: string]: unknown;
}

/** An optimizer's state by parameter name: AdamW's moments and its step count (optimizer.safetensors). */
export interface OptimizerState {
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
  step: number;
}

/** What a checkpoint needs of an optimizer (src/train/optim.ts's AdamW). */
export interface SavableOptimizer {
  readonly step: number;
  readState(): Promise<OptimizerState | null>;
}

export interface LoadedCheckpoint {
  dir: string;
  config: GPTConfig;
  /** gptedge parameter names -> values (of a quantized file: the parameters it holds in f32) */
  weights: Map<string, Float32Array>;
  /** an int8 / int4 file's quantized parameters (src/io/quantized.ts); null for f32 files */
  quantized: QuantizedWeights | null;
  /** tokenizer.json's text ('' when the file is empty), null when there is none */
  tokenizerJSON: string | null;
  /** the Adam moments to resume with (AdamW.writeState): null unless resuming (and null when the optimizer is reset) */
  optimizer: OptimizerState | null;
  /** null unless resuming */
  trainState: TrainState | null;
}

export interface LoadOptions {
  /** also load (and require) train_state.json and optimizer.safetensors, to continue training exactly */
  resume?: boolean;
  /** resume with fresh Adam moments (optimizer step 0) instead of the saved ones: on purpose only */
  resetOptimizer?: boolean;
  /** keep NaN/Inf weights (debugging a diverged run); by default they are an error naming the tensor */
  allowNonFinite?: boolean;
}

export const stepDirName = (step: number): string => `step-${String(step).padStart(6, '0')}`;

/**
 * Save a model (and optionally the training state and the optimizer's moments, to resume exactly) as a
 * new step folder of `runDir`.
 */
export async function saveCheckpoint(
  fs: FileSystem,
  runDir: string,
  model: GPT,
  tokenizerJSON: string,
  trainState?: TrainState,
  opts: { keep?: number; name?: string; optimizer?: SavableOptimizer } = {},
): Promise<string> {
  const optimizerStep = opts.optimizer?.step ?? 0;
  const name = opts.name ?? stepDirName(trainState?.step ?? optimizerStep);
  const final = join(runDir, name);
  await removeStaleTemps(fs, runDir, name);
  const tmp = join(runDir, `.${name}.${Math.random().toString(36).slice(2, 8)}.tmp`);
  await fs.mkdir(tmp);
  try {
    await writeModelFiles(fs, tmp, model, tokenizerJSON);
    if (trainState) {
      const mom = await opts.optimizer?.readState();
      if (mom) {
        const t = new Map<string, NamedTensor>();
        for (const s of model.specs) {
          const m = mom.m.get(s.name),
            v = mom.v.get(s.name);
          if (!m || !v) throw new Error(`saveCheckpoint: the optimizer does not train parameter ${s.name} of the model`);
          t.set(`m.${s.name}`, { data: m, shape: s.shape });
          t.set(`v.${s.name}`, { data: v, shape: s.shape });
        }
        await fs.writeFile(join(tmp, 'optimizer.safetensors'), writeSafetensors(t, { step: String(optimizerStep) }));
      }
      await fs.writeFile(join(tmp, 'train_state.json'), JSON.stringify({ ...trainState, optimizerStep }, null, 1));
    }
    await fs.remove(final);
    await fs.rename(tmp, final);
  } catch (err) {
    await fs.remove(tmp).catch(() => undefined);
    throw err;
  }
  await writeAtomic(fs, join(runDir, 'latest.json'), JSON.stringify({ checkpoint: name }) + '\n');
  if (opts.keep && opts.keep > 0) await prune(fs, runDir, name, opts.keep);
  return final;
}

/**
 * What a save killed half-way leaves in a run folder: `.step-000500.k3j9x1.tmp/` (a step folder being
 * written) and `latest.json.a1b2c3d4.tmp` (a pointer being replaced). Only these names are removed.
 */
async function removeStaleTemps(fs: FileSystem, runDir: string, name: string): Promise<void> {
  if ((await fs.stat(runDir))?.kind !== 'directory') return;
  for (const n of await fs.readdir(runDir)) {
    const folder = /^\.(.+)\.[a-z0-9]{1,8}\.tmp$/.exec(n)?.[1];
    if ((folder && (/^step-\d+$/.test(folder) || folder === name)) || /^latest\.json\.[a-z0-9]{1,8}\.tmp$/.test(n)) await fs.remove(join(runDir, n));
  }
}

/** The three files that make a servable model folder (an int8/int4 model's weights in the layout of src/io/quantized.ts). */
export async function writeModelFiles(fs: FileSystem, dir: string, model: GPT, tokenizerJSON: string): Promise<void> {
  const quant = quantizationConfig(model.weights);
  if (quant) {
    const t = await quantizedModelTensors(model);
    await fs.writeFile(
      join(dir, 'model.safetensors'),
      writeSafetensors(t, { format: 'pt', producer: 'gptedge', [WEIGHTS_META]: model.weights }, quantizedDataOrder([...t.keys()])),
    );
  } else {
    const fam = familyOf(model.cfg);
    const params = await model.readParams();
    const t = new Map<string, NamedTensor>();
    for (const s of model.specs) t.set(toHF(s.name, fam), { data: params.get(s.name)!, shape: s.shape });
    await fs.writeFile(join(dir, 'model.safetensors'), writeSafetensors(t, { format: 'pt', producer: 'gptedge' }));
  }
  await fs.writeFile(join(dir, 'config.json'), JSON.stringify({ ...configToHF(model.cfg), ...(quant ? { quantization_config: quant } : {}) }, null, 1));
  await fs.writeFile(join(dir, 'tokenizer.json'), tokenizerJSON);
}

/**
 * `gptedge quantize`: the model folder (or run folder) at `src` as a new int8/int4 folder `out`, written
 * under a temporary name and renamed into place. A quantized source is dequantized first; files other than
 * the weights, config and optimizer state (a fine-tuned model's task head) are copied along.
 */
export async function quantizeModelFolder(fs: FileSystem, src: string, out: string, kind: QuantizedKind): Promise<{ dir: string; from: number; to: number }> {
  if (!isQuantizedKind(kind)) throw new Error(`quantize: --to must be int8 or int4, got ${JSON.stringify(kind)}`);
  const ck = await loadCheckpoint(fs, src);
  if (await fs.exists(out)) throw new Error(`${out}: already exists (quantize writes a new folder)`);
  const weights = dequantizedWeights(ck.config, ck.weights, ck.quantized);
  const q = quantizeWeights(ck.config, weights, kind);
  const t = quantizedFileTensors(ck.config, weights, q);
  const bytes = writeSafetensors(t, { format: 'pt', producer: 'gptedge', [WEIGHTS_META]: kind }, quantizedDataOrder([...t.keys()]));
  const tmp = `${out.replace(/\/+$/, '')}.${Math.random().toString(36).slice(2, 8)}.tmp`;
  await fs.mkdir(tmp);
  try {
    await fs.writeFile(join(tmp, 'model.safetensors'), bytes);
    await fs.writeFile(join(tmp, 'config.json'), JSON.stringify({ ...configToHF(ck.config), quantization_config: quantizationConfig(kind) }, null, 1));
    for (const name of await fs.readdir(ck.dir)) {
      if (['model.safetensors', 'config.json', 'optimizer.safetensors', 'train_state.json'].includes(name) || name.endsWith('.tmp')) continue;
      if ((await fs.stat(join(ck.dir, name)))?.kind !== 'file') continue; // folders stay behind
      await fs.writeFile(join(tmp, name), await fs.readFile(join(ck.dir, name)));
    }
    await fs.rename(tmp, out);
  } catch (err) {
    await fs.remove(tmp).catch(() => undefined);
    throw err;
  }
  const from = (await fs.stat(join(ck.dir, 'model.safetensors')))?.size ?? 0;
  return { dir: out, from, to: bytes.length };
}

async function prune(fs: FileSystem, runDir: string, current: string, keep: number): Promise<void> {
  const steps = (await fs.readdir(runDir)).filter((n) => /^step-\d+$/.test(n)).sort();
  const old = steps.filter((n) => n !== current).slice(0, Math.max(0, steps.length - keep));
  for (const n of old) await fs.remove(join(runDir, n));
}

/** A folder name inside the run folder: no separators, not "." or "..", not a hidden temp folder. */
const CHECKPOINT_NAME = /^[A-Za-z0-9_-][\w.-]*$/;

/** Resolve a run folder (via latest.json) or a step folder to the folder holding model.safetensors. */
export async function resolveModelDir(fs: FileSystem, path: string): Promise<string> {
  if (await fs.exists(join(path, 'model.safetensors'))) return path;
  const latest = join(path, 'latest.json');
  if (await fs.exists(latest)) {
    const pointer = parseJSONObject(await readTextChecked(fs, latest, { maxBytes: FILE_LIMITS.pointer, what: 'a latest.json may have' }), latest);
    const name = pointer.checkpoint;
    if (typeof name !== 'string' || !CHECKPOINT_NAME.test(name)) {
      throw new FileFormatError(latest, `no valid "checkpoint" entry (a folder name inside the run folder), got ${quote(name)}`, { field: 'checkpoint' });
    }
    const dir = join(path, name);
    if (!(await fs.exists(join(dir, 'model.safetensors'))))
      throw new FileFormatError(latest, `points to ${dir}, which has no model.safetensors`, { field: 'checkpoint' });
    return dir;
  }
  if (!(await fs.exists(path))) throw new Error(`no model at ${path}: the folder does not exist`);
  throw new Error(`no model at ${path}: neither model.safetensors nor latest.json is there`);
}

/** Load a checkpoint, validating every file against the others (errors name the files and tensors). */
export async function loadCheckpoint(fs: FileSystem, path: string, opts: LoadOptions = {}): Promise<LoadedCheckpoint> {
  const dir = await resolveModelDir(fs, path);
  const cfgFile = join(dir, 'config.json');
  const config = configFromHF(
    parseJSON(await readTextChecked(fs, cfgFile, { maxBytes: FILE_LIMITS.config, what: 'a config.json may have' }), cfgFile),
    cfgFile,
  );

  // the weights file may be no larger than the config implies (every tensor in F64, the largest header)
  const modelFile = join(dir, 'model.safetensors');
  const nParams = paramCount(config);
  const bytes = await readFileChecked(fs, modelFile, {
    maxBytes: 8 + SAFETENSORS_MAX_HEADER + 8 * nParams,
    what: `a model of ${nParams} parameters (${cfgFile}) can take`,
  });
  const header = readSafetensorsHeader(bytes, modelFile);
  const kind = header.metadata[WEIGHTS_META];
  if (kind !== undefined && !isQuantizedKind(kind))
    throw new FileFormatError(modelFile, `metadata ${WEIGHTS_META} is ${quote(kind)}; int8 and int4 are known`, { field: WEIGHTS_META });
  const weights = new Map<string, Float32Array>();
  let quantized: QuantizedWeights | null = null;
  if (kind) {
    const m = matchQuantizedWeights(header, config, kind, cfgFile, modelFile);
    for (const [name, e] of m.f32) weights.set(name, decodeTensor(bytes, header, e, modelFile, opts));
    const tensors = new Map<string, QuantizedRows>();
    for (const [name, { codes, scale, N, K }] of m.quantized)
      tensors.set(name, decodeQuantized(kind, readRawTensor(bytes, header, codes), readRawTensor(bytes, header, scale), N, K, codes.name, modelFile));
    quantized = { kind, tensors };
  } else {
    const entries = matchWeights(header, config, cfgFile, modelFile);
    for (const [name, e] of entries) weights.set(name, decodeTensor(bytes, header, e, modelFile, opts));
  }

  const tokFile = join(dir, 'tokenizer.json');
  const tokenizerJSON = (await fs.exists(tokFile))
    ? await readTextChecked(fs, tokFile, { maxBytes: FILE_LIMITS.tokenizer, what: 'a tokenizer.json may have' })
    : null;

  let optimizer: LoadedCheckpoint['optimizer'] = null;
  let trainState: TrainState | null = null;
  if (opts.resume) {
    const stateFile = join(dir, 'train_state.json');
    if (!(await fs.exists(stateFile))) throw new FileFormatError(stateFile, 'missing; the run cannot be resumed exactly');
    trainState = parseTrainState(await readTextChecked(fs, stateFile, { maxBytes: FILE_LIMITS.trainState, what: 'a train_state.json may have' }), stateFile);
    const optStep = trainState.optimizerStep ?? trainState.step;
    const optFile = join(dir, 'optimizer.safetensors');
    if (!opts.resetOptimizer && optStep > 0) {
      if (!(await fs.exists(optFile))) {
        throw new FileFormatError(
          optFile,
          'missing; resuming without it would not repeat the uninterrupted run (start the optimizer afresh on purpose with --reset-optimizer, or { resetOptimizer: true })',
        );
      }
      optimizer = await readMoments(fs, optFile, config, optStep, stateFile, opts);
    }
  }
  return { dir, config, weights, quantized, tokenizerJSON, optimizer, trainState };
}

/**
 * matchWeights for an int8 / int4 file: each quantized parameter's codes must have the dtype and shape
 * its stored (N, K) needs, and its `_scale` tensor must be there too; then the names and the logical
 * shapes go through matchWeights' checks (layers, layout, every parameter, nothing left over).
 */
export function matchQuantizedWeights(
  header: SafetensorsHeader,
  config: GPTConfig,
  kind: QuantizedKind,
  cfgFile: string,
  modelFile: string,
): {
  f32: Map<string, SafetensorsEntry>;
  quantized: Map<string, { codes: SafetensorsEntry; scale: SafetensorsEntry; N: number; K: number }>;
} {
  const specs = new Map(paramSpecs(config).map((s) => [s.name, s]));
  const scales = new Map<string, SafetensorsEntry>(),
    logical: SafetensorsEntry[] = [];
  for (const e of header.entries) {
    if (e.name.endsWith(SCALE_SUFFIX) && quantizedParam(fromHF(e.name.slice(0, -SCALE_SUFFIX.length)))) {
      scales.set(e.name.slice(0, -SCALE_SUFFIX.length), e);
      continue;
    }
    const spec = specs.get(fromHF(e.name));
    if (spec && quantizedParam(spec.name)) {
      const [N, K] = storedShape(spec);
      checkQuantizedTensor(kind, '', e, N, K, e.name, modelFile);
      logical.push({ ...e, shape: spec.shape, numel: N * K });
    } else logical.push(e);
  }
  const matched = matchWeights({ ...header, entries: logical }, config, cfgFile, modelFile);
  const f32 = new Map<string, SafetensorsEntry>(),
    quantized = new Map<string, { codes: SafetensorsEntry; scale: SafetensorsEntry; N: number; K: number }>();
  for (const [name, e] of matched) {
    if (!quantizedParam(name)) {
      f32.set(name, e);
      continue;
    }
    const scale = scales.get(e.name),
      [N, K] = storedShape(specs.get(name)!);
    if (!scale)
      throw new FileFormatError(modelFile, `tensor ${e.name}${SCALE_SUFFIX} is missing (the scales of an ${kind} file's ${e.name})`, {
        field: e.name + SCALE_SUFFIX,
      });
    checkQuantizedTensor(kind, 'scale', scale, N, K, e.name, modelFile);
    scales.delete(e.name);
    quantized.set(name, { codes: header.entries.find((x) => x.name === e.name)!, scale, N, K });
  }
  const extra = [...scales.values()][0];
  if (extra) throw new FileFormatError(modelFile, `tensor ${extra.name} scales no quantized parameter`, { field: extra.name });
  return { f32, quantized };
}

/** HF buffers and the tied head: present in some checkpoints, not parameters of a tied-head GPT. */
const isBuffer = (k: string): boolean => k.endsWith('.attn.bias') || k.endsWith('.attn.masked_bias') || k === 'lm_head.weight';

/**
 * Check a weights file's header against its config before anything is decoded: the layer count and
 * layout first (cheap, from the names: a wrong n_layer is reported before a parameter spec is built),
 * then every tensor's name and shape, and no tensor left over. Returns the entries by gptedge name.
 */
export function matchWeights(header: SafetensorsHeader, config: GPTConfig, cfgFile: string, modelFile: string): Map<string, SafetensorsEntry> {
  const byName = new Map<string, SafetensorsEntry>();
  let layers = 0,
    lnF = false,
    fileParams = 0;
  for (const e of header.entries) {
    if (isBuffer(e.name)) continue;
    const g = fromHF(e.name);
    const other = byName.get(g);
    if (other) throw new FileFormatError(modelFile, `tensors ${other.name} and ${e.name} are the same parameter ${g}`, { field: e.name });
    byName.set(g, e);
    const layer = /^h\.(\d+)\./.exec(g);
    if (layer) layers = Math.max(layers, Number(layer[1]) + 1);
    if (g === 'ln_f.weight') lnF = true;
    fileParams += e.numel;
  }
  if (layers !== config.nLayer) {
    throw new FileFormatError(
      cfgFile,
      `n_layer ${config.nLayer} (${paramCount(config)} parameters) disagrees with ${modelFile}, which holds ${layers} layers (${fileParams} parameters)`,
      { field: 'n_layer' },
    );
  }
  if (lnF !== (config.layout === 'pre-ln')) {
    throw new FileFormatError(
      cfgFile,
      config.layout === 'pre-ln'
        ? `model_type "gpt2" (pre-LN, with a final ln_f) disagrees with ${modelFile}, which has no ln_f`
        : `model_type "openai-gpt" (post-LN, no final LN) disagrees with ${modelFile}, which has ln_f (a pre-LN model)`,
      { field: 'model_type' },
    );
  }
  const out = new Map<string, SafetensorsEntry>();
  const fam = familyOf(config);
  for (const s of paramSpecs(config)) {
    const e = byName.get(s.name);
    if (!e)
      throw new FileFormatError(modelFile, `tensor ${toHF(s.name, fam)} is missing (${cfgFile} describes a ${config.nLayer}-layer ${config.layout} model)`, {
        field: toHF(s.name, fam),
      });
    if (e.shape.join(',') !== s.shape.join(','))
      throw new FileFormatError(modelFile, `tensor ${e.name} has shape [${e.shape}], the config needs [${s.shape}] (${cfgFile})`, { field: e.name });
    out.set(s.name, e);
    byName.delete(s.name);
  }
  const extra = [...byName.values()][0];
  if (extra) throw new FileFormatError(modelFile, `tensor ${extra.name} is not a parameter of the model ${cfgFile} describes`, { field: extra.name });
  return out;
}

/** optimizer.safetensors: m.<name> and v.<name> for every parameter, of the step train_state.json names. */
async function readMoments(fs: FileSystem, file: string, config: GPTConfig, step: number, stateFile: string, opts: LoadOptions): Promise<OptimizerState> {
  const n = paramCount(config);
  const bytes = await readFileChecked(fs, file, { maxBytes: 8 + SAFETENSORS_MAX_HEADER + 16 * n, what: `the moments of ${n} parameters can take` });
  const header = readSafetensorsHeader(bytes, file);
  const saved = header.metadata.step;
  if (saved !== String(step)) {
    throw new FileFormatError(file, `holds the moments of optimizer step ${saved ?? '(none given)'}, but ${stateFile} says ${step}`, { field: 'step' });
  }
  const byName = new Map(header.entries.map((e) => [e.name, e]));
  const m = new Map<string, Float32Array>(),
    v = new Map<string, Float32Array>();
  for (const s of paramSpecs(config)) {
    for (const [prefix, into] of [
      ['m.', m],
      ['v.', v],
    ] as const) {
      const e = byName.get(prefix + s.name);
      if (!e) throw new FileFormatError(file, `tensor ${prefix + s.name} is missing`, { field: prefix + s.name });
      if (e.shape.join(',') !== s.shape.join(','))
        throw new FileFormatError(file, `tensor ${e.name} has shape [${e.shape}], the model needs [${s.shape}]`, { field: e.name });
      const data = decodeTensor(bytes, header, e, file, opts);
      if (prefix === 'v.') {
        const i = data.findIndex((x) => x < 0);
        if (i >= 0) throw new FileFormatError(file, `tensor ${e.name} holds a negative second moment (${data[i]}) at index ${i}`, { field: e.name });
      }
      into.set(s.name, data);
      byName.delete(e.name);
    }
  }
  const extra = [...byName.keys()][0];
  if (extra) throw new FileFormatError(file, `tensor ${extra} is not a moment of this model's parameters`, { field: extra });
  return { m, v, step };
}

/** A train_state.json's text, checked field by field (the training loop trusts what it returns). */
export function parseTrainState(text: string, file: string): TrainState {
  const o = parseJSONObject(text, file);
  const fail = (field: string, detail: string): never => {
    throw new FileFormatError(file, `${field} ${detail}`, { field });
  };
  const shown = (v: unknown) => (typeof v === 'number' ? String(v) : jsonKind(v));
  const count = (v: unknown, field: string) => {
    if (!(Number.isSafeInteger(v) && (v as number) >= 0)) fail(field, `must be a non-negative integer, got ${shown(v)}`);
  };
  const finite = (v: unknown, field: string) => {
    if (!(typeof v === 'number' && Number.isFinite(v))) fail(field, `must be a finite number, got ${shown(v)}`);
  };
  count(o.step, 'step');
  if (!Number.isSafeInteger(o.seed)) fail('seed', `must be an integer, got ${shown(o.seed)}`);
  if (o.optimizerStep !== undefined) count(o.optimizerStep, 'optimizerStep');
  if (o.history !== undefined) {
    if (!Array.isArray(o.history)) fail('history', `must be an array, got ${jsonKind(o.history)}`);
    (o.history as unknown[]).forEach((h, i) => {
      if (!h || typeof h !== 'object' || Array.isArray(h)) fail(`history[${i}]`, `must be an object, got ${jsonKind(h)}`);
      const p = h as Record<string, unknown>;
      count(p.step, `history[${i}].step`);
      if (p.loss !== undefined) finite(p.loss, `history[${i}].loss`);
      if (p.valLoss !== undefined) finite(p.valLoss, `history[${i}].valLoss`);
    });
  }
  if (o.options !== undefined) {
    if (!o.options || typeof o.options !== 'object' || Array.isArray(o.options)) fail('options', `must be an object, got ${jsonKind(o.options)}`);
    for (const [k, v] of Object.entries(o.options as Record<string, unknown>)) finite(v, `options.${k}`);
  }
  return o as TrainState;
}
