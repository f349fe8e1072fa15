// Gradient accumulation, shared by pretraining and fine-tuning: a batch that does not fit in memory runs
// as micro-batches whose gradients add up in the model's gradient arena before one update. The memory a
// micro-batch needs is estimated up front (src/model/memory.ts) and checked against the backend's limit,
// so that a run that cannot fit says which micro-batch would, before it allocates anything.
import type { GPT } from '../model/gpt.ts';
import { mib, trainingMemory, type TrainingMemory } from '../model/memory.ts';

/** rows [start, start + count) of a batch */
export interface MicroBatch {
  start: number;
  count: number;
}

/** A batch of n rows in micro-batches of at most `micro` rows (the last may be smaller). */
export function microBatches(n: number, micro: number): MicroBatch[] {
  if (!(Number.isInteger(micro) && micro > 0)) throw new Error(`micro-batch must be a positive integer, got ${micro}`);
  const out: MicroBatch[] = [];
  for (let start = 0; start < n; start += micro) out.push({ start, count: Math.min(micro, n - start) });
  return out;
}

/** kernel scratch, the allocator's alignment and small buffers: allowed for beside the estimate */
export const MEMORY_HEADROOM = 64 * 2 ** 20;

export interface MemoryPlan extends TrainingMemory {
  /** sequences per forward pass, and their length */
  micro: number;
  T: number;
  recompute: boolean;
  /** the backend's limit in bytes, where it has one */
  limit?: number;
}

/**
 * The memory of training `model` on micro-batches of `micro` sequences of `rowLen` positions, checked
 * against the backend's limit: over it, the error names the largest micro-batch that fits (and
 * recomputation, when even one sequence does not).
 */
export function planMemory(model: GPT, micro: number, rowLen: number): MemoryPlan {
  const recompute = model.recompute,
    limit = model.be.memoryLimit;
  const plan: MemoryPlan = { ...trainingMemory(model.cfg, micro * rowLen, { recompute, be: model.be }), micro, T: rowLen, recompute, limit };
  if (limit === undefined || plan.total + MEMORY_HEADROOM <= limit) return plan;
  const fits = (m: number, rc: boolean) => trainingMemory(model.cfg, m * rowLen, { recompute: rc, be: model.be }).total + MEMORY_HEADROOM <= limit;
  let best = 0;
  for (let m = micro - 1; m >= 1 && !best; m--) if (fits(m, recompute)) best = m;
  const need = `training needs about ${mib(plan.total)} with micro-batches of ${micro} × ${rowLen} positions (${describe(plan)}), more than the ${model.be.name} backend's ${mib(limit)}`;
  if (best) throw new Error(`${need}: a micro-batch of ${best} fits (--micro-batch ${best}; gradients accumulate, the step is the same)`);
  if (!recompute && fits(1, true)) throw new Error(`${need}, even one sequence at a time; with activation recomputation it fits (--recompute)`);
  throw new Error(`${need}, even one sequence at a time${recompute ? ' with activation recomputation' : ''}: use shorter sequences (--seq) or a smaller model`);
}

/** "parameters 444 MiB, gradients 444 MiB, Adam moments 889 MiB, activations 1402 MiB" */
export function describe(m: TrainingMemory): string {
  return `parameters ${mib(m.parameters)}, gradients ${mib(m.gradients)}, Adam moments ${mib(m.moments)}, activations ${mib(m.activations)}`;
}
