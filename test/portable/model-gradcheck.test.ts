// The whole model's gradients (every parameter tensor, ~20 sampled entries each) against finite
// differences of the loss, on the reference backend, for both LN layouts, dropout off, odd sizes
// (vocab 37, context 9, C 12, 3 heads of 4, 2 layers, FFN 20, B 2, T 7, two ignored targets, mean loss).
//
// Numeric gradient: a parameter entry is perturbed in place (backend.write on its view), the forward
// and loss recomputed, and the central differences D(h) = (L(x+h) − L(x−h)) / (x₊ − x₋) at h and 2h
// combined by Richardson extrapolation, (4·D(h) − D(2h)) / 3, which cancels the O(h²) truncation term
// and lets h be large (0.02) against the loss's f32 rounding (~3e-7 on a loss of ~5).
//
// Tolerance: |analytic − numeric| <= 1e-4 + 1e-3·|numeric|. Measured max errors are ~1.5e-5 on
// gradients up to ~1.3 (plain central differences at h = 1e-2 give ~5e-5); a wrong gradient path,
// even one scaled by a percent, is far outside this.
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import { GPT } from '../../src/model/gpt.ts';
import { gradBatch, gradConfig, randomParams, sampleIndices } from '../lib/gradcheck-util.ts';
import { assert, assertClose, test } from '../lib/harness.ts';

const TOL = { atol: 1e-4, rtol: 1e-3 };
const H = 0.02;
const SAMPLES = 20;

for (const layout of ['post-ln', 'pre-ln'] as const) {
  test(`model gradcheck (${layout}): every parameter vs finite differences of the loss`, async () => {
    const cfg = gradConfig(layout),
      B = 2,
      T = 7;
    const model = new GPT(new ReferenceBackend(), cfg);
    model.writeParams(randomParams(model.specs, layout === 'post-ln' ? 1 : 2));
    const { ids, targets, weights } = gradBatch(cfg, B, T, 5);
    const be = model.be;

    model.zeroGrad();
    const pass = model.forward(ids, B, T);
    const loss0 = (await be.read(pass.loss(targets, weights, 1)))[0];
    pass.backward();
    const grads = new Map<string, Float32Array>();
    for (const s of model.specs) grads.set(s.name, (await be.read(model.grads![s.name])) as Float32Array);

    const lossAt = async (): Promise<number> => {
      return (await be.read(model.forward(ids, B, T).loss(targets, weights)))[0];
    };
    // the loss without the backward pass is the same loss (the FD baseline is the analytic one's)
    assertClose(await lossAt(), loss0, { atol: 0 }, 'loss recomputed');

    let worst = 0,
      worstName = '',
      checked = 0;
    for (const [k, s] of model.specs.entries()) {
      const view = model.params[s.name];
      const p = (await be.read(view)) as Float32Array;
      const g = grads.get(s.name)!;
      const idx = sampleIndices(p.length, SAMPLES, 100 + k);
      const an: number[] = [],
        nu: number[] = [];
      for (const i of idx) {
        const x = p[i];
        const D = async (h: number) => {
          const xp = Math.fround(x + h),
            xm = Math.fround(x - h);
          be.write(view, Float32Array.of(xp), i);
          const lp = await lossAt();
          be.write(view, Float32Array.of(xm), i);
          const lm = await lossAt();
          be.write(view, Float32Array.of(x), i);
          return (lp - lm) / (xp - xm);
        };
        const d1 = await D(H),
          d2 = await D(2 * H);
        nu.push((4 * d1 - d2) / 3);
        an.push(g[i]);
      }
      // every tensor's sample must carry real gradient, or its check would be vacuous
      const big = Math.max(...nu.map(Math.abs));
      assert(big > 1e-3, `${layout} ${s.name}: sampled gradients all ~0 (max ${big})`);
      const e = assertClose(an, nu, TOL, `${layout} grad ${s.name}`);
      if (e > worst) [worst, worstName] = [e, s.name];
      checked += idx.length;
    }
    console.log(
      `model gradcheck ${layout}: loss ${loss0.toFixed(4)}, ${checked} entries of ${model.specs.length} tensors, max abs error ${worst.toExponential(2)} (${worstName})`,
    );

    // the parameters are restored exactly
    assertClose(await lossAt(), loss0, { atol: 0 }, 'loss after the perturbations');

    // gradients accumulate: a second forward/backward without zeroGrad doubles them
    const again = model.forward(ids, B, T);
    again.loss(targets, weights, 1);
    again.backward();
    for (const s of model.specs) {
      const g2 = (await be.read(model.grads![s.name])) as Float32Array;
      assertClose(
        g2,
        grads.get(s.name)!.map((v) => 2 * v),
        { atol: 1e-6, rtol: 1e-6 },
        `${layout} accumulated grad ${s.name}`,
      );
    }
  }, 60_000);
}
