// WebGPU-specific cases beyond the shared conformance suite: attention longer than one 64-key chunk and
// with head size > 64, arenas split over several GPUBuffers, operands that share one buffer range (copied
// aside), in-place loss/softmax on arena views, auto-submit past the uniform slots, i32 fill/copy, free.
// Same skip/require rules as conformance-webgpu.test.ts.
import type { Backend, Tensor } from '../src/backend/backend.ts';
import { ReferenceBackend } from '../src/backend/reference/reference.ts';
import { createWebGPUBackend, type WebGPUBackend } from '../src/backend/webgpu/webgpu.ts';
import { assert, assertClose, assertEqual, randn, runtime, test } from './harness.ts';
import { skip, webgpuDevice } from './webgpu-util.ts';

const gpu = await webgpuDevice();
const tol = { atol: 1e-4, rtol: 1e-3 };
type Data = Float32Array | Int32Array;

if (!gpu.handle) {
  skip(`webgpu-backend[${runtime}]`, gpu.reason);
} else {
  const { handle, errors } = gpu;
  const backends: WebGPUBackend[] = [];
  const make = (maxBufferBytes?: number) => {
    const b = createWebGPUBackend(handle.device, { maxBufferBytes });
    backends.push(b);
    return b;
  };
  /** Runs `op` on both backends over the same inputs and compares `outs`. */
  const both = async (what: string, inputs: Record<string, Data>, op: (be: Backend, x: Record<string, Tensor>) => void, outs: string[], be: Backend = make()) => {
    const ref = new ReferenceBackend();
    const load = (b: Backend) => Object.fromEntries(Object.entries(inputs).map(([k, v]) => {
      const t = b.alloc(v.length, v instanceof Int32Array ? 'i32' : 'f32');
      b.write(t, v);
      return [k, t];
    }));
    const tr = load(ref), tb = load(be);
    op(ref, tr);
    op(be, tb);
    for (const o of outs) assertClose(await be.read(tb[o]), await ref.read(tr[o]), tol, `${what}: ${o}`);
  };
  const t = (name: string, fn: () => Promise<void>) => test(`webgpu-backend[${runtime}] ${name}`, fn, 300_000);

  t('attention: T beyond one 64-key chunk, head size 96, dropout; cached decode past 64', async () => {
    const B = 1, T = 100, C = 192, NH = 2;
    const inputs = { qkv: randn(B * T * 3 * C, 11, 0.5), out: new Float32Array(B * T * C), lse: new Float32Array(B * NH * T), d: randn(B * T * C, 12), dqkv: new Float32Array(B * T * 3 * C) };
    for (const pDrop of [0, 0.2]) {
      const rng = pDrop ? { seed: 5, stream: 6 } : null;
      await both(`attention T${T} hs96 p${pDrop}`, inputs, (be, x) => {
        be.attentionForward(x.out, x.lse, x.qkv, B, T, C, NH, pDrop, rng);
        be.attentionBackward(x.dqkv, x.d, x.qkv, x.out, x.lse, B, T, C, NH, pDrop, rng);
      }, ['out', 'lse', 'dqkv']);
    }
    const Tmax = 80, steps = [70, 1, 2];
    const cin: Record<string, Data> = { k: new Float32Array(B * Tmax * C), v: new Float32Array(B * Tmax * C) };
    steps.forEach((n, i) => ((cin[`q${i}`] = randn(B * n * 3 * C, 20 + i, 0.5)), (cin[`o${i}`] = new Float32Array(B * n * C))));
    await both('attentionCached to position 73', cin, (be, x) => {
      let p0 = 0;
      steps.forEach((n, i) => (be.attentionCached(x[`o${i}`], x[`q${i}`], x.k, x.v, B, n, C, NH, p0, Tmax), (p0 += n)));
    }, ['o0', 'o1', 'o2', 'k', 'v']);
  });

  t('arena split across several GPUBuffers (maxBufferBytes 4 KiB): layernorm, matmul, sumSquares, AdamW', async () => {
    const N = 9, C = 100; // views of 900 floats: at most one per 4 KiB buffer
    const run = async (be: Backend) => {
      const a = be.allocArena([{ name: 'x', length: N * C }, { name: 'w', length: C }, { name: 'b', length: C }, { name: 'y', length: N * C }, { name: 'mean', length: N },
        { name: 'rstd', length: N }, { name: 'W', length: C * 7 }, { name: 'z', length: N * 7 }, { name: 'm', length: N * C }, { name: 'v', length: N * C }, { name: 'ns', length: 1 }]);
      be.write(a.x, randn(N * C, 1));
      be.write(a.w, randn(C, 2));
      be.write(a.b, randn(C, 3));
      be.write(a.W, randn(C * 7, 4));
      be.layernormForward(a.y, a.mean, a.rstd, a.x, a.w, a.b, N, C, 1e-5);
      be.matmul(a.z, a.y, a.W, null, N, C, 7, false, false, 0);
      be.sumSquares(a.ns, [a.y, a.z, a.w]);
      be.adamw(a.x, a.y, a.m, a.v, { lr: 0.01, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1, step: 1, gradNormSq: a.ns, maxNorm: 0.5 });
      return { a, out: [await be.read(a.z), await be.read(a.ns), await be.read(a.x), await be.read(a.v)] };
    };
    const be = make(4096);
    const got = await run(be), want = await run(new ReferenceBackend());
    const buffers = new Set(Object.values(got.a).map((x) => x.buffer));
    assert(buffers.size >= 5, `expected the arena to span several buffers, got ${buffers.size}`);
    got.out.forEach((g, i) => assertClose(g, want.out[i], tol, `split arena output ${i}`));
  });

  t('operands sharing a buffer range: X·Xᵀ, residual of overlapping slices, in-place loss and softmax on arena views', async () => {
    const be = make();
    const ref = new ReferenceBackend();
    const N = 6, V = 37;
    const run = async (b: Backend) => {
      const a = b.allocArena([{ name: 'pad', length: 5 }, { name: 'x', length: 40 }, { name: 'g', length: 64 }, { name: 'z', length: N * V }, { name: 'p', length: N * V }, { name: 'w', length: N }, { name: 'loss', length: 1 }, { name: 'ls', length: N }, { name: 'tg', length: N, dtype: 'i32' }]);
      b.write(a.x, randn(40, 1));
      b.write(a.z, randn(N * V, 2, 2));
      b.write(a.p, randn(N * V, 3, 2));
      b.write(a.w, new Float32Array(N).fill(1 / N));
      b.write(a.tg, new Int32Array([0, 5, -1, 36, 2, 2]));
      b.matmul(a.g, a.x, a.x, null, 8, 5, 8, false, true, 0); // (8,5)·(8,5)ᵀ from one view
      const lo = b.slice(a.x, 0, 20), hi = b.slice(a.x, 10, 20);
      const o = b.slice(a.g, 0, 20);
      b.residualForward(o, lo, hi, 20);
      b.crossEntropyForward(a.ls, a.loss, a.z, a.tg, a.w, N, V);
      b.crossEntropyBackward(a.z, a.z, a.tg, a.w, N, V, 1); // in place
      b.softmaxForward(a.p, a.p, N, V, 0.8); // in place
      return [await b.read(a.g), await b.read(a.z), await b.read(a.p), await b.read(a.loss)];
    };
    const got = await run(be), want = await run(ref);
    got.forEach((g, i) => assertClose(g, want[i], tol, `shared-range output ${i}`));
  });

  t('more dispatches than one batch holds (auto submit), i32 fill/copy, free', async () => {
    const be = make();
    const x = be.alloc(300), one = be.alloc(300);
    be.fill(one, 1);
    for (let i = 0; i < 5000; i++) be.accumulate(x, one, 300);
    const r = await be.read(x);
    assertEqual([r[0], r[299]], [5000, 5000], 'accumulated 5000 times');
    const ids = be.alloc(10, 'i32'), ids2 = be.alloc(10, 'i32');
    be.fill(ids, -7);
    be.copy(ids2, ids);
    const got = await be.read(ids2);
    assert(got instanceof Int32Array && got.every((v) => v === -7), `i32 fill/copy gave ${got}`);
    be.free(x, one);
    const y = be.alloc(4);
    be.fill(y, 2.5);
    assertEqual([...(await be.read(y))], [2.5, 2.5, 2.5, 2.5], 'alloc after free');
  });

  t('encoder backward: many repeated ids (deterministic scatter-add)', async () => {
    const B = 4, T = 50, C = 24, V = 5;
    const ids = new Int32Array(B * T).map((_, i) => (i * 7) % V);
    await both('encoderBackward repeated', { ids, d: randn(B * T * C, 1), dwte: randn(V * C, 2), dwpe: randn(T * C, 3) },
      (be, x) => be.encoderBackward(x.dwte, x.dwpe, x.d, x.ids, B, T, C), ['dwte', 'dwpe']);
  });

  t('no uncaptured WebGPU errors; release the device', async () => {
    for (const b of backends) b.destroy();
    handle.release();
    if (errors.length) throw new Error(`uncaptured WebGPU errors:\n${errors.slice(0, 5).join('\n')}`);
  });
}
