// The serving engine of `gptedge serve`, built from a serializable config: the backend, the model
// folders, the model registry and the job manager (src/serve/local-engine.ts). The same function
// builds it in this thread or inside the engine worker (adapters/serve-worker.ts).
import { totalmem } from 'node:os';
import type { Backend } from '../src/backend/backend.ts';
import { JobManager, type JobBounds } from '../src/jobs/index.ts';
import { LocalEngine } from '../src/serve/local-engine.ts';
import { loadServedModel, ModelRegistry, type ServedModel } from '../src/serve/models.ts';
import type { Engine } from '../src/serve/engine.ts';
import type { FileSystem } from '../src/io/fs.ts';

export interface EngineConfig {
  models: { id: string; dir: string }[];
  backend: string;
  weights: 'f32' | 'f16';
  jobsDir?: string;
  bounds: Partial<JobBounds>;
  /** job results kept loaded */
  maxLoaded?: number;
}

export interface EngineDeps {
  fs: FileSystem;
  createBackend: (kind: string) => Promise<Backend>;
}

/** A quarter of the machine's memory: what one training job may take by default. */
export function defaultJobMemory(): number {
  return Math.floor(totalmem() / 4);
}

export async function buildLocalEngine(config: EngineConfig, deps: EngineDeps, log: (line: string) => void): Promise<LocalEngine & { description: string }> {
  const backend = await deps.createBackend(config.backend);
  const models = new Map<string, ServedModel>();
  for (const { id, dir } of config.models) {
    models.set(id, await loadServedModel(deps.fs, dir, backend, { weights: config.weights }));
    log(`model ${id}: ${dir}`);
  }
  const registry = new ModelRegistry(models, { backend, maxLoaded: config.maxLoaded });
  const jobs = config.jobsDir ? await JobManager.open({ fs: deps.fs, dir: config.jobsDir, models: registry, backend, bounds: config.bounds }) : null;
  const engine = new LocalEngine({ models: registry, jobs, stopJobs: async () => void (await jobs?.stop()) });
  return Object.assign(engine, { description: `backend ${backend.name}` });
}

export async function startEngine(config: EngineConfig, deps: EngineDeps, log: (line: string) => void): Promise<Engine & { description: string }> {
  return buildLocalEngine(config, deps, log);
}
