// gptedge's portable public API: no file system, GPU device or worker APIs of any runtime are imported
// here; the runtime entries (gptedge/node, /deno, /bun, /browser, /workerd) add those and re-export this.
export type { Backend, Tensor, Arena, ArenaSpec, DType } from './backend/backend.ts';
export { ReferenceBackend } from './backend/reference/reference.ts';
export { selectBackend, BACKEND_KINDS, type BackendKind, type BackendProviders, type BackendOptions, type BackendChoice } from './backend/select.ts';
export {
  createWasmBackend,
  WasmBackend,
  wasmEnv,
  kernelLocation,
  kernelURL,
  kernelFile,
  WASM_VARIANTS,
  webWorkerSpawner,
  hasRelaxedSimd,
  relaxedSimdStatus,
  hasSimd128,
  hasSharedMemory,
  type WasmBackendOptions,
  type WasmVariant,
  type WasmEnv,
  type SpawnWorker,
  type WorkerPort,
} from './backend/wasm/index.ts';
export { createWebGPUBackend, DeviceLostError, type DeviceLoss, type WebGPUBackend, type WebGPUBackendOptions } from './backend/webgpu/webgpu.ts';
export { requestDeviceFrom, describeAdapter, type WebGPUDeviceHandle, type RequestDeviceOptions } from './backend/webgpu/adapter.ts';
export { presets, preset, validateConfig, pretrainDefaults, finetuneDefaults, CONFIG_LIMITS, type GPTConfig, type LayerNormLayout } from './model/config.ts';
export { paramSpecs, paramCount, countParams } from './model/params.ts';
export { GPT, type KVCache, type GPTOptions, type ForwardOptions, type ForwardPass } from './model/gpt.ts';
export type { CausalLM, CausalStep, CacheState } from './model/causal-lm.ts';
export { loadModel, type LoadedModel, type LoadModelOptions } from './model/load.ts';
export { GPTTokenizer, SPECIAL_TOKENS, type SpecialTokenName } from './tokenizer/tokenizer.ts';
export { gpt2TokenizerJSON } from './tokenizer/gpt2.ts';
export { tokenizerJSONFromVocabMerges } from './tokenizer/hf-files.ts';
export { trainBPE, trainTokenizerFromTexts } from './tokenizer/train.ts';
export { generate, generateStream, type GenerateOptions, type GenerateChunk, type GenerateResult, type FinishReason } from './infer/generate.ts';
export { scoreContinuations, type ContinuationScore } from './infer/score.ts';
export { TokenDataset, unigramEntropy } from './train/data.ts';
export {
  pretrain,
  evaluate as evaluateLM,
  NonFiniteLossError,
  type PretrainOptions,
  type PretrainState,
  type StepEvent,
  type EvalEvent,
  type HistoryPoint,
} from './train/pretrain.ts';
export { learningRate, finetuneLearningRate } from './train/schedule.ts';
export { AdamW, modelOptimizer, type AdamWHyper } from './train/optim.ts';
export { lossCurveSVG } from './train/plot.ts';
export {
  saveCheckpoint,
  loadCheckpoint,
  writeModelFiles,
  resolveModelDir,
  parseTrainState,
  type LoadOptions as CheckpointLoadOptions,
  type TrainState,
  type LoadedCheckpoint,
  type OptimizerState,
} from './io/checkpoint.ts';
export { readSafetensors, readSafetensorsHeader, writeSafetensors } from './io/safetensors.ts';
export { MemoryFileSystem, readFileChecked, type FileSystem, type FileInfo } from './io/fs.ts';
export { FileFormatError } from './io/errors.ts';
export { FILE_LIMITS } from './io/limits.ts';
export { decodeText } from './io/text.ts';
export * from './finetune/index.ts';
export { softmax, logSoftmaxAt } from './util/softmax.ts';
export {
  loadWith,
  createWith,
  Pipeline,
  HttpFileSystem,
  openSource,
  type Runtime,
  type LoadOptions,
  type CreateOptions,
  type ModelSource,
  type ModelFiles,
  type ProgressEvent,
  type PretrainTextOptions,
  type FinetuneTaskOptions,
  type ClassifyInput,
} from './pipeline/index.ts';
