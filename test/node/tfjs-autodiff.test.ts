// The whole model's loss and gradients against an independent autodiff: the same GPT forward written
// in @tensorflow/tfjs-core (cpu backend, float32) with tf.valueAndGrads, on the same weights.
// Checked for both LN layouts on random odd-sized weights (test/gradcheck-util.ts, with ignored
// targets and a mean loss), and on the PyTorch fixtures (test/fixtures/torch-reference), where the
// tfjs model must also reproduce PyTorch's loss and gradients — so the two independent
// implementations (tfjs autodiff, PyTorch autograd) agree with each other, not only with gptedge.
//
// Tolerance: loss |Δ| <= 1e-5; gradients |Δ| <= 1e-5 + 1e-3·|expected|. Both sides compute in
// float32 with different summation orders (gptedge's reference accumulates matmuls in f64 and stores
// f32; tfjs sums in f32), so they differ by f32 rounding: measured ~1e-6 on gradients up to ~1.3.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-core's Node bundle carries the autodiff engine but registers no op gradients (the union package
// @tensorflow/tfjs does that); this ESM module registers them all into the shared global registry.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import { GPT } from '../../src/model/gpt.ts';
import type { GPTConfig } from '../../src/model/config.ts';
import { familyOf, fromHF, toHF } from '../../src/io/hf-names.ts';
import { gradBatch, gradConfig, randomParams } from '../lib/gradcheck-util.ts';
import { assert, assertClose, test } from '../lib/harness.ts';
import { loadFixture } from '../lib/torch-fixtures.ts';
import { tfjsTransformer } from '../lib/tfjs-gpt.ts';

const TOL_LOSS = { atol: 1e-5 };
const TOL_GRAD = { atol: 1e-5, rtol: 1e-3 };

await tf.setBackend('cpu');
await tf.ready();

/** The GPT loss Σ_n w_n·CE(h_n·W_eᵀ, target_n) in tfjs, written from the papers, not from gpt.ts. */
function tfLoss(
  cfg: GPTConfig,
  names: string[],
  ps: tf.Tensor[],
  ids: Int32Array,
  targets: Int32Array,
  weights: Float32Array,
  B: number,
  T: number,
): tf.Scalar {
  const P = (n: string): tf.Tensor => {
    const i = names.indexOf(n);
    if (i < 0) throw new Error(`no parameter ${n}`);
    return ps[i];
  };
  const V = cfg.vocabSize,
    BT = B * T;
  const pos = Int32Array.from({ length: BT }, (_, i) => i % T);
  const x0 = tf.add(tf.gather(P('wte.weight'), tf.tensor1d(ids, 'int32')), tf.gather(P('wpe.weight'), tf.tensor1d(pos, 'int32')));
  const x = tfjsTransformer(cfg, P, x0, B, T);
  const logits = tf.matMul(x as tf.Tensor2D, P('wte.weight') as tf.Tensor2D, false, true); // tied head (BT, V)
  const logp = tf.logSoftmax(logits);
  const onehot = tf.oneHot(
    tf.tensor1d(
      targets.map((t) => Math.max(t, 0)),
      'int32',
    ),
    V,
  ); // ignored rows weigh 0
  const ce = tf.neg(tf.sum(tf.mul(onehot, logp), 1));
  return tf.sum(tf.mul(ce, tf.tensor1d(weights))) as tf.Scalar;
}

async function tfLossAndGrads(
  cfg: GPTConfig,
  params: Map<string, Float32Array>,
  shapes: Map<string, number[]>,
  ids: Int32Array,
  targets: Int32Array,
  weights: Float32Array,
  B: number,
  T: number,
) {
  const names = [...params.keys()];
  const ps = names.map((n) => tf.tensor(params.get(n)!, shapes.get(n)!, 'float32'));
  const { value, grads } = tf.valueAndGrads((...args: tf.Tensor[]) => tfLoss(cfg, names, args, ids, targets, weights, B, T))(ps);
  const loss = (await value.data())[0];
  const g = new Map<string, Float32Array>();
  for (const [i, n] of names.entries()) g.set(n, (await grads[i].data()) as Float32Array);
  tf.dispose([value, ...grads, ...ps]);
  return { loss, grads: g };
}

async function gptedgeLossAndGrads(
  cfg: GPTConfig,
  params: Map<string, Float32Array>,
  ids: Int32Array,
  targets: Int32Array,
  weights: Float32Array,
  B: number,
  T: number,
) {
  const model = new GPT(new ReferenceBackend(), cfg);
  model.writeParams(params);
  model.zeroGrad();
  const pass = model.forward(ids, B, T);
  const loss = (await model.be.read(pass.loss(targets, weights, 1)))[0];
  pass.backward();
  const grads = new Map<string, Float32Array>();
  for (const s of model.specs) grads.set(s.name, (await model.be.read(model.grads![s.name])) as Float32Array);
  return { loss, grads, specs: model.specs };
}

for (const layout of ['post-ln', 'pre-ln'] as const) {
  test(`tfjs autodiff (${layout}, odd sizes, random weights): loss and every gradient match gptedge`, async () => {
    const cfg = gradConfig(layout),
      B = 2,
      T = 7;
    const specs = new GPT(new ReferenceBackend(), cfg).specs;
    const params = randomParams(specs, layout === 'post-ln' ? 11 : 12);
    const { ids, targets, weights } = gradBatch(cfg, B, T, 13);
    const ours = await gptedgeLossAndGrads(cfg, params, ids, targets, weights, B, T);
    const theirs = await tfLossAndGrads(cfg, params, new Map(specs.map((s) => [s.name, s.shape])), ids, targets, weights, B, T);
    const lossErr = assertClose(ours.loss, theirs.loss, TOL_LOSS, `${layout} loss`);
    let worst = 0,
      worstName = '';
    for (const s of specs) {
      const e = theirs.grads.get(s.name)!;
      assert(
        e.some((v) => Math.abs(v) > 1e-3),
        `${layout} ${s.name}: tfjs gradient is ~0 everywhere`,
      );
      const err = assertClose(ours.grads.get(s.name)!, e, TOL_GRAD, `${layout} grad ${s.name}`);
      if (err > worst) [worst, worstName] = [err, s.name];
    }
    console.log(
      `tfjs vs gptedge ${layout}: loss ${ours.loss.toFixed(5)} (|Δ| ${lossErr.toExponential(1)}), ${specs.length} gradients, max abs error ${worst.toExponential(2)} (${worstName})`,
    );
  });
}

// The PyTorch fixtures, loaded as the fixture suite loads them.
for (const name of ['gpt1-tiny', 'gpt2-tiny']) {
  test(`tfjs autodiff on the PyTorch fixture ${name}: tfjs = PyTorch = gptedge (loss, every gradient)`, async () => {
    const fx = loadFixture(name);
    const fam = familyOf(fx.cfg);
    const specs = new GPT(new ReferenceBackend(), fx.cfg).specs;
    const params = new Map([...fx.weights].map(([k, v]) => [fromHF(k), v.data as Float32Array]));
    const BT = fx.B * fx.T;
    const w = new Float32Array(BT).fill(1 / BT);
    const theirs = await tfLossAndGrads(fx.cfg, params, new Map(specs.map((s) => [s.name, s.shape])), fx.inputs, fx.targets, w, fx.B, fx.T);
    const ours = await gptedgeLossAndGrads(fx.cfg, params, fx.inputs, fx.targets, w, fx.B, fx.T);
    const torchLoss = fx.expected.get('loss')!.data[0];
    assertClose(theirs.loss, torchLoss, TOL_LOSS, `${name} tfjs loss vs PyTorch`);
    assertClose(ours.loss, theirs.loss, TOL_LOSS, `${name} gptedge loss vs tfjs`);
    let worstTorch = 0,
      worstOurs = 0;
    for (const s of specs) {
      const torch = fx.expected.get(`grad.${toHF(s.name, fam)}`);
      if (!torch) throw new Error(`fixture lacks grad.${toHF(s.name, fam)}`);
      worstTorch = Math.max(worstTorch, assertClose(theirs.grads.get(s.name)!, torch.data, TOL_GRAD, `${name} tfjs grad ${s.name} vs PyTorch`));
      worstOurs = Math.max(worstOurs, assertClose(ours.grads.get(s.name)!, theirs.grads.get(s.name)!, TOL_GRAD, `${name} gptedge grad ${s.name} vs tfjs`));
    }
    console.log(
      `tfjs on ${name}: loss ${theirs.loss.toFixed(6)} (PyTorch ${torchLoss.toFixed(6)}); max abs grad error tfjs-PyTorch ${worstTorch.toExponential(2)}, gptedge-tfjs ${worstOurs.toExponential(2)}`,
    );
  });
}
