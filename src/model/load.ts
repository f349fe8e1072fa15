// Opening a model folder (or run folder) on a backend, and building a new model, in one place for
// the CLI, the HTTP app and user code. Model, config and tokenizer must agree: every tokenizer id must
// be inside the model's vocabulary. A tokenizer smaller than the vocabulary is fine (GPT-2's padded
// vocabularies are): generation only samples ids the tokenizer can decode (src/infer/generate.ts).
import type { Backend } from '../backend/backend.ts';
import type { FileSystem } from '../io/fs.ts';
import { join, readTextChecked } from '../io/fs.ts';
import { FILE_LIMITS } from '../io/limits.ts';
import { FileFormatError } from '../io/errors.ts';
import { loadCheckpoint, type LoadedCheckpoint, type LoadOptions } from '../io/checkpoint.ts';
import { GPTTokenizer } from '../tokenizer/tokenizer.ts';
import { GPT, type GPTOptions } from './gpt.ts';
import { tokenizerJSONFromVocabMerges } from '../tokenizer/hf-files.ts';

export interface LoadedModel {
  model: GPT;
  tokenizer: GPTTokenizer;
  checkpoint: LoadedCheckpoint;
}

export interface LoadModelOptions extends GPTOptions, Omit<LoadOptions, 'resume'> {
  /** resume training: also load train_state.json and the Adam moments (required unless resetOptimizer) */
  withOptimizer?: boolean;
}

export async function loadModel(fs: FileSystem, path: string, backend: Backend, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  const ck = await loadCheckpoint(fs, path, { resume: opts.withOptimizer, resetOptimizer: opts.resetOptimizer, allowNonFinite: opts.allowNonFinite });
  const older = ck.tokenizerJSON === null ? await olderTokenizerFiles(fs, ck.dir) : null;
  const tokFile = older ? older.file : join(ck.dir, 'tokenizer.json');
  const tokenizer = GPTTokenizer.fromJSON(older ? older.json : ck.tokenizerJSON!, tokFile);
  checkTokenizerFits(tokenizer, ck.config.vocabSize, tokFile, `vocab_size in ${join(ck.dir, 'config.json')}`);
  const model = new GPT(backend, ck.config, { weights: opts.weights });
  model.writeParams(ck.weights);
  if (ck.optimizer) model.writeMoments(ck.optimizer.m, ck.optimizer.v, ck.optimizer.step);
  return { model, tokenizer, checkpoint: ck };
}

/** Every id the tokenizer produces must be a row of the model's embedding; `where` says where vocabSize came from. */
export function checkTokenizerFits(tok: GPTTokenizer, vocabSize: number, tokFile: string, where: string): void {
  if (tok.vocabSize > vocabSize) {
    throw new FileFormatError(tokFile, `${tokFile.split('/').pop()} has ids up to ${tok.vocabSize - 1}, outside the model's vocabulary of ${vocabSize} (${where})`);
  }
}

/** A folder without tokenizer.json may hold Hugging Face's older pair, vocab.json + merges.txt. */
async function olderTokenizerFiles(fs: FileSystem, dir: string): Promise<{ json: Record<string, unknown>; file: string }> {
  const vocab = join(dir, 'vocab.json'), merges = join(dir, 'merges.txt');
  if (!(await fs.exists(vocab)) || !(await fs.exists(merges))) {
    throw new FileFormatError(join(dir, 'tokenizer.json'), 'missing (a model folder needs its tokenizer: tokenizer.json, or vocab.json + merges.txt)');
  }
  const text = (f: string) => readTextChecked(fs, f, { maxBytes: FILE_LIMITS.tokenizer, what: `${f.split('/').pop()} may have` });
  return { json: tokenizerJSONFromVocabMerges(await text(vocab), await text(merges), vocab), file: vocab };
}
