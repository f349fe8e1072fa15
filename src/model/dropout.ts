// Dropout's RNG streams. Every mask of a training step is drawn from its own counter-based stream,
//
//   stream = step · STREAMS_PER_STEP + site        (u32; src/backend/rng.ts turns (seed, stream) into draws)
//
// so a mask is a function of (seed, step, site) alone: every backend draws the same one, backward
// regenerates it, and a resumed run draws what the uninterrupted one did. The sites of a step are
// allocated here, explicitly, and checked: two parts of a step (the transformer and a task head) that
// claimed the same site would drop the same elements — silently correlated noise.
//
//   the transformer    site 0 (embedding), then per block l: 1+3l (attention probabilities),
//                      2+3l (attention output), 3+3l (MLP output)      — 3·nLayer + 1 sites
//   a task head        site 1023, the last of the step (src/finetune/head.ts)
import type { DropoutRng } from '../backend/backend.ts';

/** Streams one training step owns: a step's sites are 0 .. STREAMS_PER_STEP - 1. */
export const STREAMS_PER_STEP = 1024;

/** The step a forward pass trains for: the run's seed, the step, and a micro-batch's first row in the batch. */
export interface TrainStep {
  seed: number;
  step: number;
  /** a micro-batch's first row in the whole batch (its masks are the whole batch's for its rows) */
  row0?: number;
}

/** The sites [first, first + count) one part of a training step draws its masks from. */
export interface DropoutSites {
  /** what owns them, for errors ("the transformer", "the task head") */
  owner: string;
  first: number;
  count: number;
}

/** The transformer's sites: the embedding's, then three per block (none when it has no dropout). */
export function transformerSites(nLayer: number, hasDropout: boolean): DropoutSites {
  return { owner: 'the transformer', first: 0, count: hasDropout ? 3 * nLayer + 1 : 0 };
}

/** A task head's one site: the last of the step, far from the transformer's. */
export const HEAD_SITES: DropoutSites = { owner: 'the task head', first: STREAMS_PER_STEP - 1, count: 1 };

/**
 * The parts of one training step must each stay within the step's streams and claim disjoint sites;
 * otherwise an error names the parts and their sites.
 */
export function checkDropoutSites(parts: DropoutSites[]): void {
  const range = (p: DropoutSites) => `site${p.count === 1 ? '' : 's'} ${p.first}${p.count === 1 ? '' : `..${p.first + p.count - 1}`}`;
  for (const [i, p] of parts.entries()) {
    if (p.count === 0) continue;
    if (p.first < 0 || p.first + p.count > STREAMS_PER_STEP) {
      throw new Error(`dropout: ${p.owner} needs ${range(p)}, but a training step has ${STREAMS_PER_STEP} dropout streams (0..${STREAMS_PER_STEP - 1})`);
    }
    for (const q of parts.slice(0, i)) {
      if (q.count > 0 && p.first < q.first + q.count && q.first < p.first + p.count) {
        throw new Error(`dropout: ${p.owner} (${range(p)}) and ${q.owner} (${range(q)}) would draw the same masks`);
      }
    }
  }
}

/**
 * The RNG of dropout site `site` in training step `train`; an op's element 0 draws what element
 * `offset` of the stream draws (a micro-batch's rows: row0 · the draws per row).
 */
export function dropoutRng(train: TrainStep, site: number, offset = 0): DropoutRng {
  return { seed: train.seed, stream: (train.step * STREAMS_PER_STEP + site) >>> 0, offset: offset % 2 ** 32 };
}
