// Memory-saving training as a suite any backend runs (the reference here, WASM at 1 and 2 threads,
// WebGPU): gradient accumulation over micro-batches gives the full batch's step, and activation
// recomputation gives the same gradients, bit for bit. Dropout is on throughout (p 0.1 at every site),
// so the micro-batches must draw the whole batch's masks, and the recomputed blocks the same masks again.
//
// Tolerance of "the same step": micro-batches change only the order of the sums (a gradient is a sum
// over the batch's rows, here in parts), so |micro - full| <= 1e-6 + 1e-4·|full| for every gradient
// and the loss. Parameters after two AdamW steps: within 1e-5 absolute (1% of the learning rate 1e-3),
// since AdamW's normalised update m/sqrt(v) turns a gradient's rounding into a larger relative change
// where the gradient is near zero (measured 1.2e-6 on WebGPU's lavapipe).
import type { Backend } from '../../src/backend/backend.ts';
import { GPT } from '../../src/model/gpt.ts';
import { preset, type GPTConfig } from '../../src/model/config.ts';
import { TokenDataset } from '../../src/train/data.ts';
import { pretrain } from '../../src/train/pretrain.ts';
import { assertClose, assertEqual, test } from './harness.ts';
import { patternTokens } from './helpers.ts';

const TOL = { atol: 1e-6, rtol: 1e-4 };
// 40 positions: two of the tiled attention's 32-position blocks; dropout at every site
const config = (layout: GPTConfig['layout']) => preset('tiny', { nCtx: 40, layout, embdPdrop: 0.1, attnPdrop: 0.1, residPdrop: 0.1 });

/** gradients (every parameter, by name) and loss of one step over a batch of B, in micro-batches of `micro` */
async function step(
  model: GPT,
  ids: Int32Array,
  targets: Int32Array,
  B: number,
  T: number,
  micro: number,
): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  const w = new Float32Array(B * T).fill(1 / (B * T));
  model.zeroGrad();
  let loss = 0;
  for (let start = 0; start < B; start += micro) {
    const n = Math.min(micro, B - start),
      rows = <A extends Int32Array | Float32Array>(x: A) => x.subarray(start * T, (start + n) * T) as A;
    const train = { seed: 5, step: 3, row0: start };
    const pass = model.forward(rows(ids), n, T, { train });
    const l = pass.loss(rows(targets), rows(w), 1);
    pass.backward();
    loss += (await model.be.read(l))[0];
  }
  const grads = new Map<string, Float32Array>();
  for (const s of model.specs) grads.set(s.name, (await model.be.read(model.grads![s.name])) as Float32Array);
  return { loss, grads };
}

export function accumulationSuite(backendName: string, make: () => Backend | Promise<Backend>): void {
  const B = 4,
    T = 40;
  for (const layout of ['post-ln', 'pre-ln'] as const) {
    const cfg = config(layout),
      tokens = patternTokens(B * T + 1, cfg.vocabSize, 9);
    const ids = tokens.slice(0, B * T),
      targets = tokens.slice(1, B * T + 1);

    test(`accumulation[${backendName}] ${layout}: micro-batches of 1, 3 and 2 give the full batch's gradients and loss (dropout on)`, async () => {
      const model = new GPT(await make(), cfg).init(3);
      const full = await step(model, ids, targets, B, T, B);
      for (const micro of [1, 3, 2]) {
        const got = await step(model, ids, targets, B, T, micro);
        assertClose(got.loss, full.loss, TOL, `micro ${micro}: loss`);
        for (const [name, g] of full.grads) assertClose(got.grads.get(name)!, g, TOL, `micro ${micro}: grad ${name}`);
      }
      model.free();
    });

    test(`accumulation[${backendName}] ${layout}: activation recomputation gives the same gradients, bit for bit`, async () => {
      const model = new GPT(await make(), cfg).init(3);
      const stored = await step(model, ids, targets, B, T, 2);
      model.recompute = true;
      const again = await step(model, ids, targets, B, T, 2);
      assertEqual(again.loss, stored.loss, 'loss');
      for (const [name, g] of stored.grads) assertClose(again.grads.get(name)!, g, { atol: 0, rtol: 0 }, `grad ${name}`);
      model.free();
    });
  }

  test(`accumulation[${backendName}] pretrain(): two steps in micro-batches of 2 (blocks recomputed) follow the full batch`, async () => {
    const cfg = config('post-ln'),
      data = new TokenDataset(patternTokens(3000, cfg.vocabSize, 4), T, 0.1);
    const run = async (microBatch: number, recompute: boolean) => {
      const model = new GPT(await make(), cfg).init(7);
      model.recompute = recompute;
      const st = await pretrain(model, data, { steps: 2, batchSize: B, microBatch, lr: 1e-3, warmupSteps: 1, seed: 2 });
      const params = await model.readParams();
      model.free();
      return { losses: st.history.map((h) => h.loss!), params };
    };
    const full = await run(B, false),
      micro = await run(2, true);
    assertClose(micro.losses, full.losses, TOL, 'losses');
    for (const [name, p] of full.params) assertClose(micro.params.get(name)!, p, { atol: 1e-5 }, `param ${name} after 2 steps`);
  });
}
