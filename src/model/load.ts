// Opening a model folder (or run folder) on a backend, and building a new model, in one place for
// the CLI, the HTTP app and user code.
import type { Backend } from '../backend/backend.ts';
import type { FileSystem } from '../io/fs.ts';
import { loadCheckpoint, type LoadedCheckpoint } from '../io/checkpoint.ts';
import { dequantizedWeights } from '../io/quantized.ts';
import { GPTTokenizer } from '../tokenizer/tokenizer.ts';
import { GPT, type GPTOptions } from './gpt.ts';

export interface LoadedModel {
  model: GPT;
  tokenizer: GPTTokenizer;
  checkpoint: LoadedCheckpoint;
}

export async function loadModel(fs: FileSystem, path: string, backend: Backend, opts: { withOptimizer?: boolean } & GPTOptions = {}): Promise<LoadedModel> {
  const ck = await loadCheckpoint(fs, path);
  if (!ck.tokenizerJSON) throw new Error(`${ck.dir}/tokenizer.json: missing (a model folder needs its tokenizer)`);
  const tokenizer = GPTTokenizer.fromJSON(ck.tokenizerJSON);
  if (tokenizer.vocabSize > ck.config.vocabSize) {
    throw new Error(`${ck.dir}: tokenizer.json has ${tokenizer.vocabSize} tokens but the model's vocabulary holds ${ck.config.vocabSize}`);
  }
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
