// The whole model on WASM: 20 pretraining steps (dropout on, so the counter-based masks must agree)
// follow the reference backend's loss sequence within 1e-4 relative (issue 4's acceptance), for the
// SIMD128 and relaxed-SIMD builds, 1 and 2 threads.
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import type { Backend } from '../../src/backend/backend.ts';
import { createNodeWasmBackend } from '../../adapters/node/wasm.ts';
import { hasRelaxedSimd } from '../../src/backend/wasm/index.ts';
import { GPT } from '../../src/model/gpt.ts';
import { preset } from '../../src/model/config.ts';
import { TokenDataset } from '../../src/train/data.ts';
import { pretrain } from '../../src/train/pretrain.ts';
import { assert, runtime, test } from '../lib/harness.ts';
import { patternTokens } from '../lib/helpers.ts';

const cfg = preset('demo', { vocabSize: 97, nCtx: 24, nEmbd: 48, nHead: 4, nInner: 192, nLayer: 2, embdPdrop: 0.1, attnPdrop: 0.1, residPdrop: 0.1 });
const losses = async (be: Backend, layout: 'post-ln' | 'pre-ln') => {
  const model = new GPT(be, { ...cfg, layout }).init(3);
  const st = await pretrain(model, new TokenDataset(patternTokens(6000, 97), 24, 0.1), { steps: 20, batchSize: 4, lr: 3e-3, warmupSteps: 4, seed: 5 });
  return st.history.filter((h) => h.loss !== undefined).map((h) => h.loss as number);
};

for (const layout of ['post-ln', 'pre-ln'] as const) {
  test(`wasm-pretrain[${runtime}] ${layout}: 20 steps follow the reference losses within 1e-4 relative (simd128/relaxed × 1/2 threads)`, async () => {
    const want = await losses(new ReferenceBackend(), layout);
    for (const simd of ['simd128', 'relaxed'] as const) {
      if (simd === 'relaxed' && !hasRelaxedSimd()) continue;
      for (const threads of [1, 2]) {
        const be = await createNodeWasmBackend({ simd, threads });
        try {
          const got = await losses(be, layout);
          assert(got.length === 20, `20 losses, got ${got.length}`);
          got.forEach((l, i) =>
            assert(Math.abs(l - want[i]) <= 1e-4 * Math.abs(want[i]), `${simd}×${threads} step ${i + 1}: wasm ${l} vs reference ${want[i]}`),
          );
          assert(got[19] < got[0], `loss should fall: ${got[0]} -> ${got[19]}`);
        } finally {
          be.dispose();
        }
      }
    }
  }, 300_000);
}
