// Batched, ragged decoding against its oracle, for every backend (a backend's test file calls
// `batchedDecodeSuite(...)`): 16 sequences with prompts of 1 to 12 tokens are decoded greedily, alone
// through the single-sequence path (GPT.transformer with a one-sequence KV cache, lastLogits), and
// together through BatchDecoder in batches of 1, 4 and 16 slots — prompts prefilled in chunks of 3
// inside running steps, sequences joining as slots free up and reusing slots that held others. Each
// sequence must get, at each step, the logits it gets alone (within `atol`, 1e-5 by default) and the
// same greedy token. Both layouts (GPT-1 post-LN, GPT-2 pre-LN); weights drawn with std 0.3 so that
// logits spread over several units and attention is far from uniform.
import type { Backend } from '../../src/backend/backend.ts';
import { BatchDecoder, type BatchSeq } from '../../src/infer/batch.ts';
import { preset } from '../../src/model/config.ts';
import { GPT } from '../../src/model/gpt.ts';
import { assertClose, assertEqual, rand, test } from './harness.ts';

const argmax = (x: Float32Array) => x.reduce((b, v, i) => (v > x[b] ? i : b), 0);

function prompts(n: number, V: number): number[][] {
  const r = rand(17);
  return Array.from({ length: n }, (_, i) => Array.from({ length: 1 + ((i * 7) % 12) }, () => Math.floor(r() * V)));
}

/** Greedy decoding of one sequence alone: the logits before each of `steps` tokens. */
async function alone(model: GPT, prompt: number[], steps: number): Promise<Float32Array[]> {
  const cache = model.newKVCache(1, model.cfg.nCtx),
    out: Float32Array[] = [];
  try {
    let input = prompt;
    for (let s = 0; s < steps; s++) {
      const logits = (await model.forward(Int32Array.from(input), 1, input.length, { cache }).lastLogits()).slice();
      out.push(logits);
      input = [argmax(logits)];
    }
  } finally {
    model.freeKVCache(cache);
  }
  return out;
}

/** `steps` tokens per sequence (default 8) and `layouts` (default both): fewer on slow software GPUs. */
export function batchedDecodeSuite(
  name: string,
  make: () => Backend | Promise<Backend>,
  o: { atol?: number; steps?: number; layouts?: ('post-ln' | 'pre-ln')[] } = {},
): void {
  const atol = o.atol ?? 1e-5,
    STEPS = o.steps ?? 8,
    SEQS = 16;
  for (const layout of o.layouts ?? (['post-ln', 'pre-ln'] as const)) {
    test(`batched decode[${name}] ${layout}: 16 sequences in batches of 1, 4 and 16 get the logits (within ${atol}) and greedy tokens they get alone`, async () => {
      const model = new GPT(await make(), preset('tiny', { nCtx: 24, layout, initStd: 0.3 })).init(layout === 'post-ln' ? 5 : 6);
      const ps = prompts(SEQS, model.cfg.vocabSize);
      const oracle: Float32Array[][] = [];
      for (const p of ps) oracle.push(await alone(model, p, STEPS));
      let spread = 0;
      for (const o of oracle) for (const l of o) spread = Math.max(spread, Math.max(...l) - Math.min(...l));
      for (const B of [1, 4, 16]) {
        const dec = new BatchDecoder(model, { slots: B, prefillChunk: 3 });
        try {
          const queue = ps.map((p, i) => ({ p, i }));
          const who = new Map<BatchSeq, { i: number; step: number }>();
          let batchedSteps = 0,
            maxRows = 0;
          while (queue.length || dec.active) {
            while (queue.length && dec.free) {
              const { p, i } = queue.shift()!;
              who.set(dec.add(p), { i, step: 0 });
            }
            const res = await dec.step();
            batchedSteps++;
            maxRows = Math.max(maxRows, res.length);
            for (const { seq, logits } of res) {
              const w = who.get(seq)!;
              assertClose(logits, oracle[w.i][w.step], { atol }, `batch of ${B}: sequence ${w.i} (prompt ${ps[w.i].length}), token ${w.step}`);
              const tok = argmax(logits);
              assertEqual(tok, argmax(oracle[w.i][w.step]), `batch of ${B}: sequence ${w.i}, greedy token ${w.step}`);
              if (++w.step === STEPS) dec.remove(seq);
              else dec.feed(seq, tok);
            }
          }
          assertEqual(
            [...who.values()].every((w) => w.step === STEPS),
            true,
            `batch of ${B}: every sequence decoded ${STEPS} tokens`,
          );
          if (B > 1) assertEqual(maxRows > 1, true, `batch of ${B}: some steps advanced several sequences (${batchedSteps} steps)`);
        } finally {
          dec.dispose();
        }
      }
      assertEqual(spread > 1, true, `the logits spread over more than a unit (${spread.toFixed(2)}), so 1e-5 is a real bound`);
    });
  }
}
