// The whole model on WebGPU: 20 pretraining steps of the tiny GPT (dropout on, so the counter-based masks
// must agree too) follow the reference backend's loss sequence within 1e-3 relative (issue 5's acceptance
// criterion, at test scale), and the loss falls; and a model whose token embedding exceeds one GPU buffer
// (split between rows, as GPT-2's 154 MB embedding is on a 128 MiB-binding adapter) trains and decodes like
// the reference. Same skip/require rules as conformance-webgpu.test.ts.
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import type { Backend } from '../../src/backend/backend.ts';
import { createWebGPUBackend } from '../../src/backend/webgpu/webgpu.ts';
import { GPT } from '../../src/model/gpt.ts';
import { preset } from '../../src/model/config.ts';
import { TokenDataset } from '../../src/train/data.ts';
import { pretrain, type PretrainState } from '../../src/train/pretrain.ts';
import { assert, assertClose, runtime, test } from '../lib/harness.ts';
import { patternTokens } from '../lib/helpers.ts';
import { releaseDevice, skip, webgpuDevice } from '../lib/webgpu-util.ts';

const argmax = (a: Float32Array) => a.reduce((best, v, i) => (v > a[best] ? i : best), 0);

const gpu = await webgpuDevice();
if (!gpu.handle) {
  skip(`webgpu-gpt[${runtime}]`, gpu.reason);
} else {
  const { handle, errors } = gpu;
  test(`webgpu-gpt[${runtime}] 20 pretraining steps follow the reference backend's losses within 1e-3 relative`, async () => {
    const run = async (be: Backend) => {
      const model = new GPT(be, preset('tiny', { embdPdrop: 0.1, attnPdrop: 0.1, residPdrop: 0.1 })).init(1);
      const st: PretrainState = await pretrain(model, new TokenDataset(patternTokens(4000, 67), 16, 0.1), {
        steps: 20,
        batchSize: 4,
        lr: 5e-3,
        warmupSteps: 3,
        seed: 7,
      });
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
    }
  }, 300_000);

  test(`webgpu-gpt[${runtime}] a token embedding larger than one buffer (split in 4 parts) trains and decodes like the reference`, async () => {
    // wte (500,64) = 32,000 floats against buffers of 8,192: parts of 128 rows; c_attn (64,192) splits too
    const cfg = preset('tiny', { vocabSize: 500, nEmbd: 64, embdPdrop: 0.1, attnPdrop: 0.1, residPdrop: 0.1 });
    const run = async (be: Backend) => {
      const model = new GPT(be, cfg).init(3);
      const st: PretrainState = await pretrain(model, new TokenDataset(patternTokens(4000, 500), 16, 0.1), {
        steps: 10,
        batchSize: 1,
        lr: 5e-3,
        warmupSteps: 2,
        seed: 9,
      });
      return {
        model,
        losses: st.history.filter((h) => h.loss !== undefined).map((h) => h.loss as number),
        logits: await model.forward(new Int32Array([5, 499, 128, 127, 300]), 1, 5).lastLogits(),
      };
    };
    const be = createWebGPUBackend(handle.device, { maxBufferBytes: 32768 });
    try {
      const want = await run(new ReferenceBackend());
      const got = await run(be);
      const parts = (got.model.params['wte.weight'].buffer as { parts?: unknown[] }).parts;
      assert(parts?.length === 4, `wte should be split in 4 parts, got ${parts?.length}`);
      got.losses.forEach((l, i) =>
        assert(Math.abs(l - want.losses[i]) <= 1e-3 * Math.abs(want.losses[i]), `step ${i + 1}: WebGPU loss ${l} vs reference ${want.losses[i]}`),
      );
      assertClose(got.logits, want.logits, { atol: 1e-3, rtol: 1e-3 }, 'last logits after training');
      if (errors.length) throw new Error(`uncaptured WebGPU errors:\n${errors.slice(0, 5).join('\n')}`);
    } finally {
      be.destroy();
    }
  }, 300_000);

  test(`webgpu-gpt[${runtime}] f16 weights: logits and greedy decoding follow the reference's f16 model; training refused`, async () => {
    const be = createWebGPUBackend(handle.device);
    try {
      if (!be.f16Storage) {
        console.warn(`SKIP f16 weights: adapter "${handle.adapterName}" has no shader-f16`);
        return;
      }
      const cfg = preset('tiny', { vocabSize: 300, nEmbd: 64 });
      const ids = new Int32Array([5, 299, 128, 127, 3, 42]);
      const decode = async (b: Backend, weights: 'f32' | 'f16') => {
        const model = new GPT(b, cfg, { weights }).init(4);
        const cache = model.newKVCache(1);
        const first = await model.forward(ids, 1, ids.length, { cache }).lastLogits();
        const out: number[] = [];
        let next = argmax(first);
        for (let i = 0; i < 8; i++) {
          out.push(next);
          next = argmax(await model.forward(new Int32Array([next]), 1, 1, { cache }).lastLogits());
        }
        return { first, out, model };
      };
      const got = await decode(be, 'f16'),
        want = await decode(new ReferenceBackend(), 'f16'),
        full = await decode(new ReferenceBackend(), 'f32');
      assertClose(got.first, want.first, { atol: 1e-4, rtol: 1e-3 }, 'f16-weight logits, WebGPU vs reference');
      assert(got.out.join() === want.out.join(), `greedy tokens: WebGPU ${got.out} vs reference ${want.out}`);
      const rounding = Math.max(...full.first.map((v, i) => Math.abs(v - got.first[i])));
      console.log(`webgpu-gpt: f16 weights change the tiny model's logits by at most ${rounding.toExponential(2)} against f32`);
      assert(rounding > 0 && rounding < 1e-2, `f16 rounding should show, slightly: ${rounding}`);
      let refused = '';
      try {
        got.model.zeroGrad();
      } catch (e) {
        refused = (e as Error).message;
      }
      assert(/f16.*inference/.test(refused), `training an f16 model should be refused clearly, got "${refused}"`);
    } finally {
      be.destroy();
    }
  }, 300_000);

  test(`webgpu-gpt[${runtime}] int8 / int4 weights: logits and greedy decoding follow the reference's quantized model`, async () => {
    const be = createWebGPUBackend(handle.device);
    try {
      const cfg = preset('tiny', { vocabSize: 300, nEmbd: 64 });
      const src = await new GPT(new ReferenceBackend(), cfg).init(6).readParams();
      const ids = new Int32Array([5, 299, 128, 127, 3, 42, 7, 8, 9, 10, 11]); // 11 rows: the dequantize-then-tile path
      for (const weights of ['int8', 'int4'] as const) {
        const run = async (b: Backend) => {
          const m = new GPT(b, cfg, { weights });
          m.writeParams(src);
          const all = await m.forward(ids, 1, ids.length).allLogits();
          const cache = m.newKVCache(1);
          const out: number[] = [];
          let next = argmax(await m.forward(ids.slice(0, 4), 1, 4, { cache }).lastLogits());
          for (let i = 0; i < 6; i++) {
            // one row at a time: the matvec path
            out.push(next);
            next = argmax(await m.forward(new Int32Array([next]), 1, 1, { cache }).lastLogits());
          }
          return { all, out };
        };
        const got = await run(be),
          want = await run(new ReferenceBackend());
        assertClose(got.all, want.all, { atol: 1e-4, rtol: 1e-3 }, `${weights}: logits, WebGPU vs reference`);
        assert(got.out.join() === want.out.join(), `${weights} greedy tokens: WebGPU ${got.out} vs reference ${want.out}`);
      }
      if (errors.length) throw new Error(`uncaptured WebGPU errors:\n${errors.slice(0, 5).join('\n')}`);
    } finally {
      be.destroy();
    }
  }, 300_000);

  // The real case: GPT-2's (50257,768) embedding is 154 MB, lavapipe binds at most 128 MiB. Node only (it
  // needs ~1 GB for the two models and ~20 s; Deno and Bun run the same backend code in the tests above).
  if (runtime === 'node') {
    test(`webgpu-gpt[${runtime}] GPT-2 124M with its 154 MB embedding split across buffers: logits match WASM`, async () => {
      const { createNodeWasmBackend } = await import('../../adapters/node/wasm.ts');
      const ids = new Int32Array([464, 2068, 7586, 21831, 18045, 625, 262, 16931]);
      const logits = async (be: Backend, weights: 'f32' | 'f16' = 'f32') => {
        const model = new GPT(be, preset('gpt2'), { weights }).init(1);
        const out = await model.forward(ids, 1, ids.length).lastLogits();
        model.free();
        return { out, split: (model.params['wte.weight'].buffer as { parts?: unknown[] }).parts?.length ?? 1 };
      };
      const be = createWebGPUBackend(handle.device);
      const wasm = await createNodeWasmBackend({ threads: 1 });
      try {
        const got = await logits(be),
          want = await logits(wasm);
        if (be.maxBufferBytes < 50257 * 768 * 4)
          assert(got.split >= 2, `expected the embedding split on a ${be.maxBufferBytes}-byte binding limit, got ${got.split} part(s)`);
        const err = assertClose(got.out, want.out, { atol: 1e-4, rtol: 1e-3 }, 'GPT-2 logits, WebGPU vs WASM');
        console.log(
          `webgpu-gpt: GPT-2 embedding in ${got.split} buffer(s) of at most ${be.maxBufferBytes} bytes; max abs logit difference to WASM ${err.toExponential(2)}`,
        );
        if (be.f16Storage) {
          const half = await logits(be, 'f16');
          const d = assertClose(half.out, want.out, { atol: 5e-3, rtol: 0 }, 'GPT-2 logits with f16 weights vs f32 (WASM)');
          console.log(
            `webgpu-gpt: GPT-2 with f16 weights: max abs logit difference to f32 ${d.toExponential(2)} (logits span ${Math.min(...want.out).toFixed(3)}..${Math.max(...want.out).toFixed(3)})`,
          );
        }
        if (errors.length) throw new Error(`uncaptured WebGPU errors:\n${errors.slice(0, 5).join('\n')}`);
      } finally {
        be.destroy();
        wasm.dispose();
      }
    }, 600_000);
  }

  test(`webgpu-gpt[${runtime}] release the device`, () => releaseDevice(handle));
}
