// The PyTorch reference fixtures (test/fixtures/torch-reference, float64 math stored as f32) as a suite any
// backend runs: logits, loss, every gradient, and the losses of 10 AdamW steps, for the GPT-1 (post-LN)
// and GPT-2 (pre-LN) layouts. Tolerances from the fixtures' README, times `scale`: logits and loss 1e-5
// abs; gradients 1e-5 abs or 1e-3 rel; AdamW losses 1e-4 abs.
import { readFileSync } from 'node:fs';
import { GPT } from '../../src/model/gpt.ts';
import { readSafetensors } from '../../src/io/safetensors.ts';
import { configFromHF } from '../../src/io/hf-config.ts';
import { fromHF, toHF, familyOf } from '../../src/io/hf-names.ts';
import type { Backend } from '../../src/backend/backend.ts';
import { AdamW } from '../../src/train/optim.ts';
import { assertClose, test } from './harness.ts';

const dir = new URL('../fixtures/torch-reference/', import.meta.url);

export function loadFixture(name: string) {
  const cfg = configFromHF(JSON.parse(readFileSync(new URL(`${name}/config.json`, dir), 'utf8')));
  cfg.embdPdrop = cfg.attnPdrop = cfg.residPdrop = 0;
  const weights = readSafetensors(readFileSync(new URL(`${name}/model.safetensors`, dir))).tensors;
  const expected = readSafetensors(readFileSync(new URL(`${name}/expected.safetensors`, dir))).tensors;
  const ids: number[][] = JSON.parse(readFileSync(new URL(`${name}/batch.json`, dir), 'utf8')).ids;
  const B = ids.length,
    T = ids[0].length - 1;
  const inputs = new Int32Array(ids.flatMap((r) => r.slice(0, T)));
  const targets = new Int32Array(ids.flatMap((r) => r.slice(1)));
  return { cfg, weights, expected, B, T, inputs, targets };
}

export function fixtureSuite(backendName: string, make: () => Backend | Promise<Backend>, scale = 1): void {
  for (const name of ['gpt1-tiny', 'gpt2-tiny']) {
    test(`torch-reference[${backendName}] ${name}: logits, loss, every gradient`, async () => {
      const fx = loadFixture(name);
      const model = new GPT(await make(), fx.cfg);
      const fam = familyOf(fx.cfg);
      model.writeParams(new Map([...fx.weights].map(([k, v]) => [fromHF(k), v.data])));
      const BT = fx.B * fx.T;
      const w = new Float32Array(BT).fill(1 / BT);
      model.zeroGrad();
      const pass = model.forward(fx.inputs, fx.B, fx.T);
      assertClose(await pass.allLogits(), fx.expected.get('logits')!.data, { atol: 1e-5 * scale }, 'logits');
      const loss = pass.loss(fx.targets, w, 1);
      assertClose((await model.be.read(loss))[0], fx.expected.get('loss')!.data[0], { atol: 1e-5 * scale }, 'loss');
      pass.backward();
      for (const s of model.specs) {
        const g = (await model.be.read(model.grads![s.name])) as Float32Array;
        const e = fx.expected.get(`grad.${toHF(s.name, fam)}`);
        if (!e) throw new Error(`fixture lacks grad.${toHF(s.name, fam)}`);
        assertClose(g, e.data, { atol: 1e-5 * scale, rtol: 1e-3 }, `grad ${s.name}`);
      }
    });

    test(`torch-reference[${backendName}] ${name}: 10 AdamW steps`, async () => {
      const fx = loadFixture(name);
      const model = new GPT(await make(), fx.cfg);
      model.writeParams(new Map([...fx.weights].map(([k, v]) => [fromHF(k), v.data])));
      const BT = fx.B * fx.T;
      const w = new Float32Array(BT).fill(1 / BT);
      const losses: number[] = [];
      const opt = new AdamW(model.be, [model.parameters()]);
      for (let step = 0; step <= 10; step++) {
        model.zeroGrad();
        const pass = model.forward(fx.inputs, fx.B, fx.T);
        const last = step === 10;
        const loss = pass.loss(fx.targets, w, last ? undefined : 1);
        losses.push((await model.be.read(loss))[0]);
        if (last) break;
        pass.backward();
        opt.update({ lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 });
      }
      assertClose(losses, fx.expected.get('adamw_losses')!.data, { atol: 1e-4 * scale }, 'adamw losses');
    });
  }
}
