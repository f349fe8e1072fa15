// Runs inside headless Chromium (bundled by test/browser/webgpu-browser.test.ts): the WebGPU backend on the page's
// navigator.gpu, checked against the reference backend on a few ops, then a tiny pretraining run of the
// package's GPT (25 steps, dropout on) whose per-step losses are returned for the test to check.
import type { Backend, Tensor } from '../../src/backend/backend.ts';
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import { createWebGPUBackend } from '../../src/backend/webgpu/webgpu.ts';
import { requestDevice } from '../../adapters/browser/webgpu.ts';
import { GPT } from '../../src/model/gpt.ts';
import { preset } from '../../src/model/config.ts';
import { TokenDataset } from '../../src/train/data.ts';
import { pretrain } from '../../src/train/pretrain.ts';
import { patternTokens } from '../lib/helpers.ts';

function randn(n: number, seed: number, std = 1): Float32Array {
  let a = seed >>> 0;
  const r = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = std * Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  return out;
}
/** max over elements of |a - b| / (atol + rtol·|b|) with the conformance suite's atol 1e-4, rtol 1e-3: ≤ 1 passes */
function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / (1e-4 + 1e-3 * Math.abs(b[i])));
  return Number.isNaN(m) ? Infinity : m;
}

/** Losses of `steps` pretraining steps of the package's tiny GPT (dropout on) on a patterned token stream. */
async function train(be: Backend, steps: number): Promise<number[]> {
  const model = new GPT(be, preset('tiny', { embdPdrop: 0.1, attnPdrop: 0.1, residPdrop: 0.1 })).init(1);
  const st = await pretrain(model, new TokenDataset(patternTokens(4000, 67), 16, 0.1), { steps, batchSize: 4, lr: 1e-2, warmupSteps: 3, seed: 7 });
  return st.history.filter((h) => h.loss !== undefined).map((h) => h.loss as number);
}

async function opsCheck(be: Backend): Promise<Record<string, number>> {
  const ref = new ReferenceBackend();
  const out: Record<string, number> = {};
  const B = 2,
    T = 9,
    C = 16,
    NH = 2;
  const run = async (b: Backend) => {
    const t = (data: Float32Array): Tensor => {
      const x = b.alloc(data.length);
      b.write(x, data);
      return x;
    };
    const qkv = t(randn(B * T * 3 * C, 4)),
      o = b.alloc(B * T * C),
      lse = b.alloc(B * NH * T),
      dq = b.alloc(B * T * 3 * C),
      d = t(randn(B * T * C, 5));
    b.attentionForward(o, lse, qkv, B, T, C, NH, 0.1, { seed: 1, stream: 2 });
    b.attentionBackward(dq, d, qkv, o, lse, B, T, C, NH, 0.1, { seed: 1, stream: 2 });
    const x = t(randn(7 * 33, 6)),
      w = t(randn(33, 7)),
      bb = t(randn(33, 8)),
      y = b.alloc(7 * 33),
      mu = b.alloc(7),
      rs = b.alloc(7);
    b.layernormForward(y, mu, rs, x, w, bb, 7, 33, 1e-5);
    return { attention: await b.read(o), attentionBackward: await b.read(dq), layernorm: await b.read(y) };
  };
  const got = await run(be),
    want = await run(ref);
  for (const k of Object.keys(got) as (keyof typeof got)[]) out[k] = maxRelErr(got[k], want[k]);
  return out;
}

export async function main(): Promise<unknown> {
  const handle = await requestDevice();
  if (!handle) return { error: 'no WebGPU adapter in this browser' };
  try {
    const be = createWebGPUBackend(handle.device, { name: 'webgpu-browser' });
    const ops = await opsCheck(be);
    const gpuLosses = await train(be, 25);
    const refLosses = await train(new ReferenceBackend(), 25);
    be.destroy();
    return {
      adapter: handle.adapterName,
      software: handle.software,
      limits: { invocations: handle.device.limits.maxComputeInvocationsPerWorkgroup },
      ops,
      gpuLosses,
      refLosses,
    };
  } catch (err) {
    return { error: String(err instanceof Error ? (err.stack ?? err.message) : err) };
  } finally {
    handle.release();
  }
}
