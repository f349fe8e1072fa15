// Whole-model figures of the WebGPU backend on this runtime's adapter: one training step (forward,
// backward, AdamW with clipping; the loss the only readback), prefill and decode with a KV cache, with f32
// and (where the adapter offers shader-f16) f16 weights. Medians of several timings. Software adapters are
// refused unless --allow-software (then the figures are labelled: they are not GPU speed).
//   ./node_modules/.bin/deno run -A bench/webgpu-gpt.ts [--preset gpt1] [--batch 8] [--seq 512]
//   ./node_modules/.bin/bun bench/webgpu-gpt.ts [...]                                  (Dawn, as Node uses)
// Defaults: GPT-1, B 8 × T 512 on a real GPU; the `demo` preset, B 4 × T 64 with --allow-software.
import { createWebGPUBackend } from '../src/backend/webgpu/webgpu.ts';
import { GPT } from '../src/model/gpt.ts';
import { AdamW } from '../src/train/optim.ts';
import { preset } from '../src/model/config.ts';
import { args, benchDevice, exit } from './webgpu-device.ts';

const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const handle = await benchDevice();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

{
  const soft = handle.software;
  const name = opt('preset') ?? (soft ? 'demo' : 'gpt1');
  const B = Number(opt('batch') ?? (soft ? 4 : 8)),
    T = Number(opt('seq') ?? (soft ? 64 : 512));
  const be = createWebGPUBackend(handle.device);
  console.log(`backend features ${JSON.stringify(be.features)}`);
  const cfg = preset(name);
  const ids = new Int32Array(B * T).map((_, i) => (i * 7919) % cfg.vocabSize);
  const targets = new Int32Array(B * T).map((_, i) => (i * 104729 + 1) % cfg.vocabSize);
  const w = new Float32Array(B * T).fill(1 / (B * T));

  const model = new GPT(be, cfg).init(1);
  const optimizer = new AdamW(be, [model.parameters()]);
  const step = async () => {
    const t0 = performance.now();
    model.zeroGrad();
    const pass = model.forward(ids, B, T);
    const loss = pass.loss(targets, w, 1);
    pass.backward();
    optimizer.update({ lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, gradClip: 1 });
    const l = (await be.read(loss))[0];
    if (!Number.isFinite(l)) throw new Error(`loss ${l}`);
    return performance.now() - t0;
  };
  await step(); // pipelines compile
  const steps: number[] = [];
  for (let i = 0; i < (soft ? 3 : 10); i++) steps.push(await step());
  const ms = median(steps);
  console.log(`${name} training step B ${B} × T ${T}: ${ms.toFixed(1)} ms median of ${steps.length} (${((B * T) / (ms / 1000)).toFixed(0)} tokens/s)`);
  model.free();

  for (const weights of be.f16Storage ? (['f32', 'f16'] as const) : (['f32'] as const)) {
    const m = new GPT(be, cfg, { weights }).init(1);
    const P = Math.min(T, cfg.nCtx - 40),
      n = soft ? 8 : 32;
    // prefill: P tokens into a fresh cache, first logits read back (the first run compiles pipelines)
    const prefill: number[] = [];
    for (let i = 0; i < (soft ? 2 : 6); i++) {
      const c = m.newKVCache(1);
      const t0 = performance.now();
      await m.forward(ids.subarray(0, P), 1, P, { cache: c }).lastLogits();
      if (i > 0) prefill.push(performance.now() - t0);
      m.freeKVCache(c);
    }
    console.log(
      `${name} prefill of ${P} tokens, ${weights} weights: ${median(prefill).toFixed(1)} ms median of ${prefill.length} (${(P / (median(prefill) / 1000)).toFixed(0)} tokens/s)`,
    );
    const cache = m.newKVCache(1);
    await m.forward(ids.subarray(0, P), 1, P, { cache }).lastLogits();
    const per: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await m.forward(Int32Array.of(i + 1), 1, 1, { cache }).lastLogits();
      per.push(performance.now() - t0);
    }
    console.log(`${name} decode after ${P} tokens, ${weights} weights: ${median(per).toFixed(2)} ms/token median of ${n}`);
    m.freeKVCache(cache);
    m.free();
  }
  be.destroy();
  handle.release();
}
exit(0);
