// Records one training step (forward, LM loss and its backward, backward, AdamW with clipping) of a GPT on
// the null device: the dispatches the WebGPU backend encodes for it, with their cost, and the memory held.
import { createWebGPUBackend, type DispatchRecord } from '../../src/backend/webgpu/webgpu.ts';
import { GPT } from '../../src/model/gpt.ts';
import { AdamW } from '../../src/train/optim.ts';
import { preset } from '../../src/model/config.ts';
import { nullDevice, type DEFAULT_LIMITS } from './webgpu-null-device.ts';

export interface StepShape {
  dispatches: number;
  /** total FLOPs */
  flops: number;
  /** the heaviest dispatch */
  maxFlops: number;
  maxFlopsKernel: string;
  /** the deepest dispatch */
  maxDepth: number;
  maxDepthKernel: string;
  /** bytes held in GPU buffers after the step */
  heldBytes: number;
  /** command buffers submitted for the step */
  submits: number;
}

/** Records one decoding step (one new token with a KV cache of `past` positions, logits read) of B rows. */
export async function recordDecode(name: string, B: number, past: number, limits: Partial<typeof DEFAULT_LIMITS> = {}): Promise<StepShape> {
  const be = createWebGPUBackend(nullDevice(limits));
  const cfg = preset(name);
  const model = new GPT(be, cfg);
  const cache = model.newKVCache(B);
  await model.forward(new Int32Array(B * past).fill(1), B, past, { cache }).lastLogits();
  const records = be.record();
  await model.forward(new Int32Array(B).fill(2), B, 1, { cache }).lastLogits();
  be.stopRecording();
  const shape = summarize(records, be.heldBytes, 0);
  be.destroy();
  return shape;
}

function summarize(records: DispatchRecord[], heldBytes: number, submits: number): StepShape {
  const heaviest = records.reduce((a, r) => (r.flops > a.flops ? r : a), records[0]);
  const deepest = records.reduce((a, r) => (r.depth > a.depth ? r : a), records[0]);
  return {
    dispatches: records.length,
    flops: records.reduce((s, r) => s + r.flops, 0),
    maxFlops: heaviest.flops,
    maxFlopsKernel: heaviest.kernel,
    maxDepth: deepest.depth,
    maxDepthKernel: deepest.kernel,
    heldBytes,
    submits,
  };
}

export async function recordStep(
  name: string,
  B: number,
  T: number,
  limits: Partial<typeof DEFAULT_LIMITS> = {},
  features: string[] = [],
): Promise<StepShape & { records: DispatchRecord[] }> {
  const device = nullDevice(limits, features);
  let submits = 0;
  const submit = device.queue.submit.bind(device.queue);
  (device.queue as { submit: GPUQueue['submit'] }).submit = (cbs) => (submits++, submit(cbs));
  const be = createWebGPUBackend(device);
  const cfg = preset(name);
  const model = new GPT(be, cfg); // weights stay zero: nothing runs
  const opt = new AdamW(be, [model.parameters()]);
  const ids = new Int32Array(B * T).map((_, i) => (i * 7919) % cfg.vocabSize);
  const w = new Float32Array(B * T).fill(1 / (B * T));
  const step = () => {
    model.zeroGrad();
    const pass = model.forward(ids, B, T, { train: { seed: 1, step: 1 } });
    pass.loss(ids, w, 1);
    pass.backward();
    opt.update({ lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, gradClip: 1 });
  };
  step(); // allocations (activations, gradients, moments) happen on the first step
  await be.sync();
  const records = be.record();
  submits = 0;
  step();
  await be.sync();
  be.stopRecording();
  const shape = { ...summarize(records, be.heldBytes, submits), records };
  be.destroy();
  return shape;
}
