// Supervised fine-tuning (paper §3.2–3.3): task families, input transformations, the task head,
// L3 = L2 + λ·L1, the loop, prediction API, evaluation, data files, save/load.
export * from './task.ts';
export * from './transform.ts';
export { TaskHead } from './head.ts';
export { withFinetuneTokens, FINETUNE_SPECIALS, type ExtendedVocab } from './vocab.ts';
export * from './finetune.ts';
export * from './metrics.ts';
export * from './dataset.ts';
export { saveFinetuned, loadFinetuned, readTaskFile, readHeadFile, readDatasetFile, TASK_FILE, HEAD_FILE, type TaskFile } from './io.ts';
export { isTransferred, transferBlocks } from './transfer.ts';
