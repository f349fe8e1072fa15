// gptedge's public API. Runtime specifics (files, GPU devices, workers) come in through adapters/.
export type { Backend, Tensor, Arena } from './backend/backend.ts';
export { ReferenceBackend } from './backend/reference/reference.ts';
export { presets, preset, validateConfig, pretrainDefaults, finetuneDefaults, type GPTConfig } from './model/config.ts';
export { paramSpecs, paramCount, countParams } from './model/params.ts';
export { GPT, type KVCache, type GPTOptions } from './model/gpt.ts';
export { loadModel, type LoadedModel } from './model/load.ts';
export { GPTTokenizer, SPECIAL_TOKENS } from './tokenizer/tokenizer.ts';
export { gpt2TokenizerJSON } from './tokenizer/gpt2.ts';
export { generate, generateStream, type GenerateOptions, type GenerateChunk, type GenerateResult } from './infer/generate.ts';
export { TokenDataset, unigramEntropy } from './train/data.ts';
export { pretrain, evaluate as evaluateLM, NonFiniteLossError, type PretrainOptions, type PretrainState } from './train/pretrain.ts';
export { learningRate } from './train/schedule.ts';
export { lossCurveSVG } from './train/plot.ts';
export { saveCheckpoint, loadCheckpoint, writeModelFiles, resolveModelDir } from './io/checkpoint.ts';
export { readSafetensors, writeSafetensors } from './io/safetensors.ts';
export { MemoryFileSystem, type FileSystem } from './io/fs.ts';
export * from './finetune/index.ts';
export { trainBPE, trainTokenizerFromTexts } from './tokenizer/train.ts';
