// Runs inside headless Chromium (bundled by test/webgpu-browser.test.ts): the WebGPU backend on the page's
// navigator.gpu, checked against the reference backend on a few ops, then a tiny training run (a GELU MLP
// with softmax cross-entropy and AdamW, 25 steps) whose per-step losses are returned for the test to check.
import type { Backend, Tensor } from '../../src/backend/backend.ts';
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import { createWebGPUBackend } from '../../src/backend/webgpu/webgpu.ts';
import { requestDevice } from '../../adapters/webgpu-browser.ts';

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

/** Losses of `steps` AdamW steps of a 2-layer GELU MLP on a fixed random classification task. */
async function train(be: Backend, steps: number): Promise<number[]> {
  const N = 32, D = 16, H = 32, V = 8;
  const p = be.allocArena([{ name: 'W1', length: D * H }, { name: 'b1', length: H }, { name: 'W2', length: H * V }]);
  const gr = be.allocArena([{ name: 'W1', length: D * H }, { name: 'b1', length: H }, { name: 'W2', length: H * V }]);
  const m = be.allocArena([{ name: 'W1', length: D * H }, { name: 'b1', length: H }, { name: 'W2', length: H * V }]);
  const v = be.allocArena([{ name: 'W1', length: D * H }, { name: 'b1', length: H }, { name: 'W2', length: H * V }]);
  const act = be.allocArena([{ name: 'x', length: N * D }, { name: 'h', length: N * H }, { name: 'g', length: N * H }, { name: 'z', length: N * V },
    { name: 'dg', length: N * H }, { name: 'dh', length: N * H }, { name: 'losses', length: N }, { name: 'loss', length: 1 }, { name: 'w', length: N }, { name: 'ns', length: 1 },
    { name: 'y', length: N, dtype: 'i32' }]);
  be.write(p.W1, randn(D * H, 1, 0.3));
  be.write(p.W2, randn(H * V, 2, 0.3));
  const x = randn(N * D, 3);
  be.write(act.x, x);
  const y = new Int32Array(N);
  for (let n = 0; n < N; n++) y[n] = (x[n * D] > 0 ? 1 : 0) + (x[n * D + 1] > 0 ? 2 : 0) + (x[n * D + 2] > 0 ? 4 : 0);
  be.write(act.y, y);
  be.write(act.w, new Float32Array(N).fill(1 / N));
  const names = ['W1', 'b1', 'W2'] as const;
  const losses: number[] = [];
  for (let step = 1; step <= steps; step++) {
    for (const k of names) be.fill(gr[k], 0);
    be.fill(act.loss, 0);
    be.fill(act.dh, 0);
    be.fill(act.dg, 0);
    be.matmul(act.h, act.x, p.W1, p.b1, N, D, H, false, false, 0); // h (N,H) = x·W1 + b1
    be.geluForward(act.g, act.h, N * H);
    be.matmul(act.z, act.g, p.W2, null, N, H, V, false, false, 0); // z (N,V)
    be.crossEntropyForward(act.losses, act.loss, act.z, act.y, act.w, N, V);
    be.crossEntropyBackward(act.z, act.z, act.y, act.w, N, V, 1); // dz in place
    be.matmul(gr.W2, act.g, act.z, null, H, N, V, true, false, 1); // dW2 += gᵀ·dz
    be.matmul(act.dg, act.z, p.W2, null, N, V, H, false, true, 0); // dg = dz·W2ᵀ
    be.geluBackward(act.dh, act.h, act.dg, N * H);
    be.matmul(gr.W1, act.x, act.dh, null, D, N, H, true, false, 1); // dW1 += xᵀ·dh
    be.biasBackward(gr.b1, act.dh, N, H);
    be.sumSquares(act.ns, names.map((k) => gr[k]));
    for (const k of names) be.adamw(p[k], gr[k], m[k], v[k], { lr: 0.02, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: k === 'b1' ? 0 : 0.01, step, gradNormSq: act.ns, maxNorm: 1 });
    losses.push((await be.read(act.loss))[0]);
  }
  return losses;
}

async function opsCheck(be: Backend): Promise<Record<string, number>> {
  const ref = new ReferenceBackend();
  const out: Record<string, number> = {};
  const B = 2, T = 9, C = 16, NH = 2;
  const run = async (b: Backend) => {
    const t = (data: Float32Array): Tensor => { const x = b.alloc(data.length); b.write(x, data); return x; };
    const qkv = t(randn(B * T * 3 * C, 4)), o = b.alloc(B * T * C), lse = b.alloc(B * NH * T), dq = b.alloc(B * T * 3 * C), d = t(randn(B * T * C, 5));
    b.attentionForward(o, lse, qkv, B, T, C, NH, 0.1, { seed: 1, stream: 2 });
    b.attentionBackward(dq, d, qkv, o, lse, B, T, C, NH, 0.1, { seed: 1, stream: 2 });
    const x = t(randn(7 * 33, 6)), w = t(randn(33, 7)), bb = t(randn(33, 8)), y = b.alloc(7 * 33), mu = b.alloc(7), rs = b.alloc(7);
    b.layernormForward(y, mu, rs, x, w, bb, 7, 33, 1e-5);
    return { attention: await b.read(o), attentionBackward: await b.read(dq), layernorm: await b.read(y) };
  };
  const got = await run(be), want = await run(ref);
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
    return { adapter: handle.adapterName, software: handle.software, limits: { invocations: handle.device.limits.maxComputeInvocationsPerWorkgroup }, ops, gpuLosses, refLosses };
  } catch (err) {
    return { error: String(err instanceof Error ? err.stack ?? err.message : err) };
  } finally {
    handle.release();
  }
}
