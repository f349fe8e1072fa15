// The fine-tuning parts of the transfer study: which arms run, in which order. Every arm is cached on
// its own (scripts/transfer/arms.ts), so each part resumes where it stopped.
import type { Backend } from '../../src/backend/backend.ts';
import { bestDev, readArm, runArm, type ArmResult, type ArmSpec } from './arms.ts';
import { SETS, type SetInfo } from './data.ts';
import { log } from './common.ts';

export const N_LIST = [100, 300, 1000];
export const SEEDS = [1, 2, 3];
export const LR_GRID = [3e-4, 1e-3, 3e-3];
/** λ of the learning curves: 0 (the LM head is ~35% of a step's work at this size); the λ part adds λ = 0.5 at the largest n */
export const LAMBDA = 0;
export const LAMBDA_ALT = 0.5;
/** the label count of the learning-rate search (then used for every n of that family and init) */
export const SEARCH_N = 300;
export const INITS = ['scratch', 'pretrained'] as const;
/** layers transferred: two families, n = SEARCH_N */
export const LAYER_SETS = ['similarity', 'cloze'];
export const LAMBDA_SETS = ['spam', 'similarity'];
/** layers transferred: seeds 1 and 2 (the study's time on the machine; the curves have 3) */
export const LAYER_SEEDS = [1, 2];

const setNamed = (name: string): SetInfo => SETS.find((s) => s.set === name)!;

/** The learning rate chosen on dev for (set, init): the best dev score of the n = SEARCH_N, seed 1 runs. */
export async function chooseLr(be: Backend | null, set: SetInfo, init: string): Promise<number> {
  let best = { lr: LR_GRID[0], score: -1 };
  for (const lr of LR_GRID) {
    const spec: ArmSpec = { set, n: SEARCH_N, init, seed: 1, lr, lambda: LAMBDA };
    const r: ArmResult | null = be ? await runArm(be, spec) : readArm(spec);
    if (!r) throw new Error(`the learning-rate search for ${set.set}/${init} has not run`);
    const s = bestDev(set.family, r);
    if (s > best.score) best = { lr, score: s };
  }
  return best.lr;
}

export async function searchPart(be: Backend, inits: readonly string[]): Promise<void> {
  for (const set of SETS) for (const init of inits) log(`lr for ${set.set}/${init}: ${await chooseLr(be, set, init)}`);
}

/**
 * Learning curves, cheapest-first so an interrupted study has whole rows: every seed at the small label
 * counts, then every seed at the largest; within a count, seed-major (every family at seed 1 first).
 */
export async function curvesPart(be: Backend, inits: readonly string[], nList: readonly number[] = N_LIST): Promise<void> {
  const stages = [nList.slice(0, -1), nList.slice(-1)].filter((ns) => ns.length > 0);
  for (const ns of stages)
    for (const seed of SEEDS)
      for (const set of SETS)
        for (const init of inits) {
          const lr = await chooseLr(be, set, init);
          for (const n of ns) await runArm(be, { set, n, init, seed, lr, lambda: LAMBDA });
        }
}

/** Layers transferred: embeddings + the first k blocks (k0..k{L-1}; kL is the pretrained arm), at the pretrained arm's lr. */
export async function layersPart(be: Backend, nLayer: number): Promise<void> {
  for (const seed of LAYER_SEEDS)
    for (const name of LAYER_SETS) {
      const set = setNamed(name),
        lr = await chooseLr(be, set, 'pretrained');
      for (let k = 0; k < nLayer; k++) await runArm(be, { set, n: SEARCH_N, init: `k${k}`, seed, lr, lambda: LAMBDA });
    }
}

/** λ = LAMBDA_ALT at the largest label count, each init at its own lr (the λ = LAMBDA arms are the curves' last points). */
export async function lambdaPart(be: Backend, inits: readonly string[]): Promise<void> {
  const n = N_LIST.at(-1)!;
  for (const seed of SEEDS)
    for (const name of LAMBDA_SETS)
      for (const init of inits) {
        const set = setNamed(name);
        await runArm(be, { set, n, init, seed, lr: await chooseLr(be, set, init), lambda: LAMBDA_ALT });
      }
}

/**
 * Under-training check: the curves train 3 epochs at n = SEARCH_N (57 updates). Here the same arms train
 * BUDGET_EPOCHS epochs (dev every 2, the best kept), both inits at their lr, on BUDGET_SETS, every seed.
 */
export const BUDGET_EPOCHS = 10;
export const BUDGET_SETS = ['spam', 'similarity'];
export async function budgetPart(be: Backend, inits: readonly string[]): Promise<void> {
  for (const seed of SEEDS)
    for (const name of BUDGET_SETS)
      for (const init of inits) {
        const set = setNamed(name);
        await runArm(be, { set, n: SEARCH_N, init, seed, lr: await chooseLr(be, set, init), lambda: LAMBDA, epochs: BUDGET_EPOCHS });
      }
}
