// Training jobs (fine-tuning, pretraining): queue, persistence, bounds. Knows nothing of HTTP.
export { JobManager, type JobManagerOptions } from './manager.ts';
export { DEFAULT_JOB_BOUNDS, trainingBytes, finetuneBytes, pretrainBytes, formatBytes, type JobBounds } from './bounds.ts';
export * from './service.ts';
