// Opening a model folder (or run folder) on a backend, and building a new model, in one place for
// the CLI, the HTTP app and user code.
import type { Backend } from '../backend/backend.ts';
import type { FileSystem } from '../io/fs.ts';
import { loadCheckpoint, type LoadedCheckpoint } from '../io/checkpoint.ts';
import { GPTTokenizer } from '../tokenizer/tokenizer.ts';
import { GPT, type GPTOptions } from './gpt.ts';
import { join, readText } from '../io/fs.ts';
import { tokenizerJSONFromVocabMerges } from '../tokenizer/hf-files.ts';

export interface LoadedModel {
  model: GPT;
  tokenizer: GPTTokenizer;
  checkpoint: LoadedCheckpoint;
}

export async function loadModel(fs: FileSystem, path: string, backend: Backend, opts: { withOptimizer?: boolean } & GPTOptions = {}): Promise<LoadedModel> {
  const ck = await loadCheckpoint(fs, path);
  const tokenizer = GPTTokenizer.fromJSON(ck.tokenizerJSON ?? (await olderTokenizerFiles(fs, ck.dir)));
  if (tokenizer.vocabSize > ck.config.vocabSize) {
    throw new Error(`${ck.dir}: tokenizer.json has ${tokenizer.vocabSize} tokens but the model's vocabulary holds ${ck.config.vocabSize}`);
  }
  const model = new GPT(backend, ck.config, { weights: opts.weights });
  model.writeParams(ck.weights);
  if (opts.withOptimizer && ck.optimizer) model.writeMoments(ck.optimizer.m, ck.optimizer.v, Number(ck.trainState?.optimizerStep ?? ck.trainState?.step ?? 0));
  return { model, tokenizer, checkpoint: ck };
}

/** A folder without tokenizer.json may hold Hugging Face's older pair, vocab.json + merges.txt. */
async function olderTokenizerFiles(fs: FileSystem, dir: string): Promise<Record<string, unknown>> {
  const vocab = join(dir, 'vocab.json'), merges = join(dir, 'merges.txt');
  if (!(await fs.exists(vocab)) || !(await fs.exists(merges))) {
    throw new Error(`${join(dir, 'tokenizer.json')}: missing (a model folder needs its tokenizer: tokenizer.json, or vocab.json + merges.txt)`);
  }
  return tokenizerJSONFromVocabMerges(await readText(fs, vocab), await readText(fs, merges), vocab);
}
