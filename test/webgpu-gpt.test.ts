// The whole model on WebGPU: 20 pretraining steps of the tiny GPT (dropout on, so the counter-based masks
// must agree too) follow the reference backend's loss sequence within 1e-3 relative (issue 5's acceptance
// criterion, at test scale), and the loss falls. Same skip/require rules as conformance-webgpu.test.ts.
import { ReferenceBackend } from '../src/backend/reference/reference.ts';
import type { Backend } from '../src/backend/backend.ts';
import { createWebGPUBackend } from '../src/backend/webgpu/webgpu.ts';
import { GPT } from '../src/model/gpt.ts';
import { preset } from '../src/model/config.ts';
import { TokenDataset } from '../src/train/data.ts';
import { pretrain, type PretrainState } from '../src/train/pretrain.ts';
import { assert, runtime, test } from './harness.ts';
import { patternTokens } from './portable/helpers.ts';
import { skip, webgpuDevice } from './webgpu-util.ts';

const gpu = await webgpuDevice();
if (!gpu.handle) {
  skip(`webgpu-gpt[${runtime}]`, gpu.reason);
} else {
  const { handle, errors } = gpu;
  test(`webgpu-gpt[${runtime}] 20 pretraining steps follow the reference backend's losses within 1e-3 relative`, async () => {
    const run = async (be: Backend) => {
      const model = new GPT(be, preset('tiny', { embdPdrop: 0.1, attnPdrop: 0.1, residPdrop: 0.1 })).init(1);
      const st: PretrainState = await pretrain(model, new TokenDataset(patternTokens(4000, 67), 16, 0.1), { steps: 20, batchSize: 4, lr: 5e-3, warmupSteps: 3, seed: 7 });
      return st.history.filter((h) => h.loss !== undefined).map((h) => h.loss as number);
    };
    const be = createWebGPUBackend(handle.device);
    try {
      const want = await run(new ReferenceBackend());
      const got = await run(be);
      const worst = Math.max(...got.map((l, i) => Math.abs(l - want[i]) / Math.abs(want[i])));
      console.log(`webgpu-gpt: losses ${got.map((l) => l.toFixed(4)).join(' ')}; max relative difference to the reference ${worst.toExponential(2)}`);
      assert(got.length === 20 && want.length === 20, `20 losses each, got ${got.length} and ${want.length}`);
      got.forEach((l, i) => assert(Math.abs(l - want[i]) <= 1e-3 * Math.abs(want[i]), `step ${i + 1}: WebGPU loss ${l} vs reference ${want[i]}`));
      assert(got[19] < got[0], `loss should fall: ${got[0]} -> ${got[19]}`);
      if (errors.length) throw new Error(`uncaptured WebGPU errors:\n${errors.slice(0, 5).join('\n')}`);
    } finally {
      be.destroy();
      handle.release();
    }
  }, 300_000);
}
