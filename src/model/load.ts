// Opening a model folder (or run folder) on a backend, and building a new model, in one place for
// the CLI, the HTTP app and user code.
import type { Backend } from '../backend/backend.ts';
import type { FileSystem } from '../io/fs.ts';
import { loadCheckpoint, type LoadedCheckpoint } from '../io/checkpoint.ts';
import { decodeQuantized, dequantizedWeights, isQuantizedKind, quantizedParam, storedShape, WEIGHTS_META } from '../io/quantized.ts';
import { configFromHF } from '../io/hf-config.ts';
import { familyOf, fromHF, toHF } from '../io/hf-names.ts';
import { floatTensors, streamSafetensors, type RawTensor } from '../io/safetensors.ts';
import { GPTTokenizer } from '../tokenizer/tokenizer.ts';
import { GPT, type GPTOptions } from './gpt.ts';
import type { GPTConfig } from './config.ts';
import { paramSpecs } from './params.ts';

export interface LoadedModel {
  model: GPT;
  tokenizer: GPTTokenizer;
  checkpoint: LoadedCheckpoint;
}

export async function loadModel(fs: FileSystem, path: string, backend: Backend, opts: { withOptimizer?: boolean } & GPTOptions = {}): Promise<LoadedModel> {
  const ck = await loadCheckpoint(fs, path);
  if (!ck.tokenizerJSON) throw new Error(`${ck.dir}/tokenizer.json: missing (a model folder needs its tokenizer)`);
  const tokenizer = openTokenizer(ck.tokenizerJSON, ck.config, ck.dir);
  // weights as the folder stores them unless asked otherwise (a quantized file asked for f32 is dequantized)
  const kind = opts.weights ?? ck.quantized?.kind ?? 'f32';
  const model = new GPT(backend, ck.config, { weights: kind });
  if (ck.quantized?.kind === kind) {
    for (const [name, q] of ck.quantized.tensors) model.writeQuantizedParam(name, q);
    for (const [name, v] of ck.weights) model.writeParam(name, v);
  } else {
    model.writeParams(dequantizedWeights(ck.config, ck.weights, ck.quantized));
  }
  if (opts.withOptimizer && ck.optimizer) model.writeMoments(ck.optimizer.m, ck.optimizer.v, Number(ck.trainState?.optimizerStep ?? ck.trainState?.step ?? 0));
  return { model, tokenizer, checkpoint: ck };
}

function openTokenizer(json: string, config: GPTConfig, dir: string): GPTTokenizer {
  const tokenizer = GPTTokenizer.fromJSON(json);
  if (tokenizer.vocabSize > config.vocabSize) throw new Error(`${dir}: tokenizer.json has ${tokenizer.vocabSize} tokens but the model's vocabulary holds ${config.vocabSize}`);
  return tokenizer;
}

/**
 * A model whose files arrive over the network (a worker's fetch or binding): config.json and
 * tokenizer.json as text, model.safetensors as a stream written into the backend tensor by tensor, so
 * the weights never sit whole in JS memory beside the backend's copy. An f32 file loads into any
 * `weights` (quantized on load); an int8/int4 file loads as stored.
 */
export async function loadModelStream(files: { config: string; tokenizer: string; weights: ReadableStream<Uint8Array> }, backend: Backend, opts: GPTOptions & { dir?: string } = {}): Promise<{ model: GPT; tokenizer: GPTTokenizer }> {
  const dir = opts.dir ?? 'model', file = `${dir}/model.safetensors`;
  let cfgJSON: Record<string, unknown>;
  try {
    cfgJSON = JSON.parse(files.config);
  } catch (err) {
    throw new Error(`${dir}/config.json: not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  const config = configFromHF(cfgJSON, `${dir}/config.json`);
  const tokenizer = openTokenizer(files.tokenizer, config, dir);
  const st = await streamSafetensors(files.weights, file);
  const kind = st.metadata[WEIGHTS_META];
  if (kind !== undefined && !isQuantizedKind(kind)) throw new Error(`${file}: metadata ${WEIGHTS_META} is ${JSON.stringify(kind)}; int8 and int4 are known`);
  const weights = opts.weights ?? kind ?? 'f32';
  if (kind && weights !== kind) throw new Error(`${file}: holds ${kind} weights; streamed, they load as stored (loadModel converts a whole file)`);
  const model = new GPT(backend, config, { weights });
  try {
    const fam = familyOf(config), specs = new Map(paramSpecs(config).map((s) => [s.name, s]));
    const pending = new Map<string, { codes?: RawTensor; scale?: RawTensor }>(), done = new Set<string>();
    for await (const [name, t] of st.tensors) {
      const isScale = kind !== undefined && name.endsWith('_scale'), param = fromHF(isScale ? name.slice(0, -6) : name);
      const spec = specs.get(param);
      if (!spec) continue; // HF buffers, a tied lm_head: as loadCheckpoint ignores them
      if (kind && quantizedParam(param)) {
        const p = pending.get(param) ?? {};
        p[isScale ? 'scale' : 'codes'] = t;
        if (!p.codes || !p.scale) {
          pending.set(param, p);
          continue;
        }
        pending.delete(param);
        const [N, K] = storedShape(spec);
        model.writeQuantizedParam(param, decodeQuantized(kind, p.codes, p.scale, N, K, toHF(param, fam), file));
      } else {
        const v = floatTensors(new Map([[name, t]]), file).get(name)!;
        if (v.shape.join(',') !== spec.shape.join(',')) throw new Error(`${file}: tensor ${name} has shape [${v.shape}], the config needs [${spec.shape}]`);
        model.writeParam(param, v.data);
      }
      done.add(param);
    }
    for (const s of specs.values()) {
      if (done.has(s.name)) continue;
      const hf = toHF(s.name, fam), p = pending.get(s.name);
      throw new Error(`${file}: tensor ${p?.codes ? `${hf}_scale` : hf} is missing`);
    }
  } catch (err) {
    model.free();
    throw err;
  }
  return { model, tokenizer };
}
