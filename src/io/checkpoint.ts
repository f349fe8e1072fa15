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
// is replaced by rename, so a crash at any moment leaves the previous checkpoint intact and pointed to.
import type { GPT } from '../model/gpt.ts';
import type { GPTConfig } from '../model/config.ts';
import { numel, paramSpecs } from '../model/params.ts';
import { configFromHF, configToHF } from './hf-config.ts';
import { familyOf, fromHF, toHF } from './hf-names.ts';
import { floatTensors, readSafetensors, readSafetensorsRaw, writeSafetensors, type NamedTensor } from './safetensors.ts';
import {
  dequantizedWeights, isQuantizedKind, quantizationConfig, quantizedDataOrder, quantizedFileTensors, quantizedModelTensors, quantizeWeights, readQuantizedFile, WEIGHTS_META,
  type QuantizedKind, type QuantizedWeights,
} from './quantized.ts';
import { join, readText, writeAtomic, type FileSystem } from './fs.ts';

export interface TrainState {
  step: number;
  seed: number;
  /** anything the training loop needs to continue exactly (options, history, data identity) */
  [k: string]: unknown;
}

export interface LoadedCheckpoint {
  dir: string;
  config: GPTConfig;
  /** gptedge parameter names -> values (of a quantized file: the parameters it holds in f32) */
  weights: Map<string, Float32Array>;
  /** an int8 / int4 file's quantized parameters (src/io/quantized.ts); null for f32 files */
  quantized: QuantizedWeights | null;
  tokenizerJSON: string | null;
  optimizer: { m: Map<string, Float32Array>; v: Map<string, Float32Array> } | null;
  trainState: TrainState | null;
}

export const stepDirName = (step: number): string => `step-${String(step).padStart(6, '0')}`;

/** Save a model (and optionally optimizer + training state) as a new step folder of `runDir`. */
export async function saveCheckpoint(
  fs: FileSystem,
  runDir: string,
  model: GPT,
  tokenizerJSON: string,
  trainState?: TrainState,
  opts: { keep?: number; name?: string } = {},
): Promise<string> {
  const name = opts.name ?? stepDirName(trainState?.step ?? model.step);
  const final = join(runDir, name);
  const tmp = join(runDir, `.${name}.${Math.random().toString(36).slice(2, 8)}.tmp`);
  await fs.mkdir(tmp);
  try {
    await writeModelFiles(fs, tmp, model, tokenizerJSON);
    if (trainState) {
      const mom = await model.readMoments();
      if (mom) {
        const t = new Map<string, NamedTensor>();
        for (const s of model.specs) {
          t.set(`m.${s.name}`, { data: mom.m.get(s.name)!, shape: s.shape });
          t.set(`v.${s.name}`, { data: mom.v.get(s.name)!, shape: s.shape });
        }
        await fs.writeFile(join(tmp, 'optimizer.safetensors'), writeSafetensors(t, { step: String(model.step) }));
      }
      await fs.writeFile(join(tmp, 'train_state.json'), JSON.stringify({ ...trainState, optimizerStep: model.step }, null, 1));
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

/** The three files that make a servable model folder (an int8/int4 model's weights in the layout of src/io/quantized.ts). */
export async function writeModelFiles(fs: FileSystem, dir: string, model: GPT, tokenizerJSON: string): Promise<void> {
  const fam = familyOf(model.cfg), quant = quantizationConfig(model.weights);
  let bytes: Uint8Array;
  if (quant) {
    const t = await quantizedModelTensors(model);
    bytes = writeSafetensors(t, { format: 'pt', producer: 'gptedge', [WEIGHTS_META]: model.weights }, quantizedDataOrder([...t.keys()]));
  } else {
    const params = await model.readParams();
    const t = new Map<string, NamedTensor>();
    for (const s of model.specs) t.set(toHF(s.name, fam), { data: params.get(s.name)!, shape: s.shape });
    bytes = writeSafetensors(t, { format: 'pt', producer: 'gptedge' });
  }
  await fs.writeFile(join(dir, 'model.safetensors'), bytes);
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
      const data = await fs.readFile(join(ck.dir, name)).catch(() => null); // folders stay behind
      if (data) await fs.writeFile(join(tmp, name), data);
    }
    await fs.rename(tmp, out);
  } catch (err) {
    await fs.remove(tmp).catch(() => undefined);
    throw err;
  }
  const from = (await fs.readFile(join(ck.dir, 'model.safetensors'))).length;
  return { dir: out, from, to: bytes.length };
}

async function prune(fs: FileSystem, runDir: string, current: string, keep: number): Promise<void> {
  const steps = (await fs.readdir(runDir)).filter((n) => /^step-\d+$/.test(n)).sort();
  const old = steps.filter((n) => n !== current).slice(0, Math.max(0, steps.length - keep));
  for (const n of old) await fs.remove(join(runDir, n));
}

/** Resolve a run folder (via latest.json) or a step folder to the folder holding model.safetensors. */
export async function resolveModelDir(fs: FileSystem, path: string): Promise<string> {
  if (await fs.exists(join(path, 'model.safetensors'))) return path;
  const latest = join(path, 'latest.json');
  if (await fs.exists(latest)) {
    let name: unknown;
    try {
      name = JSON.parse(await readText(fs, latest)).checkpoint;
    } catch {
      throw new Error(`${latest}: corrupted (not JSON)`);
    }
    if (typeof name !== 'string' || !/^[\w.-]+$/.test(name)) throw new Error(`${latest}: no valid "checkpoint" entry`);
    const dir = join(path, name);
    if (!(await fs.exists(join(dir, 'model.safetensors')))) throw new Error(`${latest} points to ${dir}, which has no model.safetensors`);
    return dir;
  }
  if (!(await fs.exists(path))) throw new Error(`no model at ${path}: the folder does not exist`);
  throw new Error(`no model at ${path}: neither model.safetensors nor latest.json is there`);
}

/** Load a checkpoint, validating every tensor against the config (names the file and tensor). */
export async function loadCheckpoint(fs: FileSystem, path: string): Promise<LoadedCheckpoint> {
  const dir = await resolveModelDir(fs, path);
  const cfgFile = join(dir, 'config.json');
  if (!(await fs.exists(cfgFile))) throw new Error(`${cfgFile}: missing`);
  let cfgJSON: Record<string, unknown>;
  try {
    cfgJSON = JSON.parse(await readText(fs, cfgFile));
  } catch (err) {
    throw new Error(`${cfgFile}: not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  const config = configFromHF(cfgJSON, cfgFile);
  const modelFile = join(dir, 'model.safetensors');
  const raw = readSafetensorsRaw(await fs.readFile(modelFile), modelFile);
  const kind = raw.metadata[WEIGHTS_META];
  if (kind !== undefined && !isQuantizedKind(kind)) throw new Error(`${modelFile}: metadata ${WEIGHTS_META} is ${JSON.stringify(kind)}; int8 and int4 are known`);
  let weights: Map<string, Float32Array>, quantized: QuantizedWeights | null = null;
  if (kind) ({ weights, quantized } = readQuantizedFile(raw.tensors, kind, config, modelFile));
  else weights = readWeights(floatTensors(raw.tensors, modelFile), config, modelFile);
  const tokFile = join(dir, 'tokenizer.json');
  const tokenizerJSON = (await fs.exists(tokFile)) ? await readText(fs, tokFile) : null;

  let optimizer: LoadedCheckpoint['optimizer'] = null;
  let trainState: TrainState | null = null;
  const stateFile = join(dir, 'train_state.json');
  if (await fs.exists(stateFile)) {
    try {
      trainState = JSON.parse(await readText(fs, stateFile));
    } catch {
      throw new Error(`${stateFile}: corrupted (not JSON)`);
    }
    const optFile = join(dir, 'optimizer.safetensors');
    if (await fs.exists(optFile)) {
      const t = readSafetensors(await fs.readFile(optFile), optFile).tensors;
      const m = new Map<string, Float32Array>(), v = new Map<string, Float32Array>();
      for (const s of paramSpecs(config)) {
        for (const [prefix, into] of [['m.', m], ['v.', v]] as const) {
          const e = t.get(prefix + s.name);
          if (!e) throw new Error(`${optFile}: tensor ${prefix + s.name} is missing`);
          if (e.data.length !== numel(s.shape)) throw new Error(`${optFile}: tensor ${prefix + s.name} has shape [${e.shape}], the model needs [${s.shape}]`);
          into.set(s.name, e.data);
        }
      }
      optimizer = { m, v };
    }
  }
  return { dir, config, weights, quantized, tokenizerJSON, optimizer, trainState };
}

/** Map HF-named tensors onto the parameter set of `config`, with errors naming file and tensor. */
export function readWeights(tensors: Map<string, NamedTensor>, config: GPTConfig, file: string): Map<string, Float32Array> {
  const byName = new Map<string, NamedTensor>();
  for (const [k, v] of tensors) {
    if (k.endsWith('.attn.bias') || k.endsWith('.attn.masked_bias') || k === 'lm_head.weight') continue; // HF buffers / tied head
    byName.set(fromHF(k), v);
  }
  const out = new Map<string, Float32Array>();
  for (const s of paramSpecs(config)) {
    const t = byName.get(s.name);
    if (!t) throw new Error(`${file}: tensor ${toHF(s.name, familyOf(config))} is missing`);
    if (t.shape.join(',') !== s.shape.join(',')) {
      throw new Error(`${file}: tensor ${toHF(s.name, familyOf(config))} has shape [${t.shape}], the config needs [${s.shape}]`);
    }
    out.set(s.name, t.data);
  }
  return out;
}
