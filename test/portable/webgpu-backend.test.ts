// WebGPU-specific cases beyond the shared conformance suite: attention longer than one 64-key chunk and
// with head size > 64, arenas split over several GPUBuffers, operands that share one buffer range (copied
// aside), in-place loss backward on arena views, auto-submit past the uniform slots, i32 fill/copy, free.
// Same skip/require rules as conformance-webgpu.test.ts.
import type { Backend, Tensor } from '../../src/backend/backend.ts';
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import { createWebGPUBackend, type WebGPUBackend } from '../../src/backend/webgpu/webgpu.ts';
import { assert, assertClose, assertEqual, randn, runtime, test } from '../lib/harness.ts';
import { releaseDevice, skip, webgpuDevice } from '../lib/webgpu-util.ts';

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
  const both = async (
    what: string,
    inputs: Record<string, Data>,
    op: (be: Backend, x: Record<string, Tensor>) => void,
    outs: string[],
    be: Backend = make(),
  ) => {
    const ref = new ReferenceBackend();
    const load = (b: Backend) =>
      Object.fromEntries(
        Object.entries(inputs).map(([k, v]) => {
          const t = b.alloc(v.length, v instanceof Int32Array ? 'i32' : 'f32');
          b.write(t, v);
          return [k, t];
        }),
      );
    const tr = load(ref),
      tb = load(be);
    op(ref, tr);
    op(be, tb);
    for (const o of outs) assertClose(await be.read(tb[o]), await ref.read(tr[o]), tol, `${what}: ${o}`);
  };
  const t = (name: string, fn: () => Promise<void>) => test(`webgpu-backend[${runtime}] ${name}`, fn, 300_000);

  t('attention: T beyond one 64-key chunk, head size 96, dropout; cached decode past 64', async () => {
    const B = 1,
      T = 100,
      C = 192,
      NH = 2;
    const inputs = {
      qkv: randn(B * T * 3 * C, 11, 0.5),
      out: new Float32Array(B * T * C),
      lse: new Float32Array(B * NH * T),
      d: randn(B * T * C, 12),
      dqkv: new Float32Array(B * T * 3 * C),
    };
    for (const pDrop of [0, 0.2]) {
      const rng = pDrop ? { seed: 5, stream: 6 } : null;
      await both(
        `attention T${T} hs96 p${pDrop}`,
        inputs,
        (be, x) => {
          be.attentionForward(x.out, x.lse, x.qkv, B, T, C, NH, pDrop, rng);
          be.attentionBackward(x.dqkv, x.d, x.qkv, x.out, x.lse, B, T, C, NH, pDrop, rng);
        },
        ['out', 'lse', 'dqkv'],
      );
    }
    const Tmax = 80,
      steps = [70, 1, 2];
    const cin: Record<string, Data> = { k: new Float32Array(B * Tmax * C), v: new Float32Array(B * Tmax * C) };
    steps.forEach((n, i) => ((cin[`q${i}`] = randn(B * n * 3 * C, 20 + i, 0.5)), (cin[`o${i}`] = new Float32Array(B * n * C))));
    await both(
      'attentionCached to position 73',
      cin,
      (be, x) => {
        let p0 = 0;
        steps.forEach((n, i) => (be.attentionCached(x[`o${i}`], x[`q${i}`], x.k, x.v, B, n, C, NH, p0, Tmax), (p0 += n)));
      },
      ['o0', 'o1', 'o2', 'k', 'v'],
    );
  });

  t('quantized matmul (q8, q4) past 8 rows, W dequantized in several blocks (maxBufferBytes 8 KiB), with bias', async () => {
    for (const dtype of ['q8', 'q4'] as const) {
      const [M, K, N] = [12, 32, 150]; // blocks of 64 rows of W (8 KiB of f32): 64, 64, 22
      const w = randn(N * K, 5, 0.05);
      await both(
        `${dtype} ${M}x${K}x${N}`,
        { a: randn(M * K, 6), bias: randn(N, 7), out: randn(M * N, 8) },
        (be, x) => {
          const q = be.alloc(N * K, dtype, K);
          be.write(q, w);
          be.matmul(x.out, x.a, q, x.bias, M, K, N, false, true, 0);
        },
        ['out'],
        make(8192),
      );
    }
  });

  t('int8 matmul for up to 8 rows, with and without packed integer dot products (dot4I8Packed), K over several 256-blocks', async () => {
    for (const packed of [false, true]) {
      const be = createWebGPUBackend(handle.device, { features: { packed } });
      backends.push(be);
      if (packed && !be.features.packed) {
        console.warn(`SKIP dot4I8Packed: this adapter's WGSL lacks packed_4x8_integer_dot_product`);
        continue;
      }
      const [M, K, N] = [5, 600, 70];
      const w = randn(N * K, 9, 0.05),
        a = randn(M * K, 10);
      const ref = new ReferenceBackend(),
        outs: Float32Array[] = [];
      for (const b of [be, ref] as Backend[]) {
        const q = b.alloc(N * K, 'q8', K),
          at = b.alloc(M * K),
          o = b.alloc(M * N);
        b.write(q, w);
        b.write(at, a);
        b.matmul(o, at, q, null, M, K, N, false, true, 0);
        outs.push((await b.read(o)) as Float32Array);
      }
      // packed: activations quantized to 16 bits per block of 256 (scale max/32639): well within 1e-3
      assertClose(outs[0], outs[1], { atol: packed ? 1e-3 : 1e-4, rtol: 1e-3 }, `q8 ${M}x${K}x${N} packed=${packed}`);
    }
  });

  t(
    'flash attention: blocks and tiles past their edges (T 37, 2 batches), head sizes 64 and 24, dropout, split to a budget; cached prefill at an offset',
    async () => {
      const budget = { dispatchFlops: 2e5 }; // several dispatches per pass
      for (const [B, T, C, NH] of [
        [2, 37, 128, 2],
        [1, 37, 72, 3],
      ]) {
        const be = createWebGPUBackend(handle.device, { kernels: { attention: 'flash' }, budget });
        backends.push(be);
        const rec = be.record();
        const inputs = {
          qkv: randn(B * T * 3 * C, 31, 0.5),
          out: new Float32Array(B * T * C),
          lse: new Float32Array(B * NH * T),
          d: randn(B * T * C, 32),
          dqkv: new Float32Array(B * T * 3 * C),
        };
        for (const pDrop of [0, 0.2]) {
          const rng = pDrop ? { seed: 7, stream: 8 } : null;
          await both(
            `flash B${B} T${T} hs${C / NH} p${pDrop}`,
            inputs,
            (x, t) => {
              x.attentionForward(t.out, t.lse, t.qkv, B, T, C, NH, pDrop, rng);
              x.attentionBackward(t.dqkv, t.d, t.qkv, t.out, t.lse, B, T, C, NH, pDrop, rng);
            },
            ['out', 'lse', 'dqkv'],
            be,
          );
        }
        const Tmax = 48,
          steps = [5, 20, 1];
        const cin: Record<string, Data> = { k: new Float32Array(B * Tmax * C), v: new Float32Array(B * Tmax * C) };
        steps.forEach((n, i) => ((cin[`q${i}`] = randn(B * n * 3 * C, 40 + i, 0.5)), (cin[`o${i}`] = new Float32Array(B * n * C))));
        await both(
          `flash attentionCached B${B} hs${C / NH}`,
          cin,
          (x, t) => {
            let p0 = 0;
            steps.forEach((n, i) => (x.attentionCached(t[`o${i}`], t[`q${i}`], t.k, t.v, B, n, C, NH, p0, Tmax), (p0 += n)));
          },
          ['o0', 'o1', 'o2'],
          be,
        );
        const kinds = new Set<string>(rec.map((r) => r.kernel));
        for (const k of ['flash_forward', 'flash_backward_dq', 'flash_backward_dkv']) assert(kinds.has(k), `${k} not used: ${[...kinds]}`);
        const fwd = rec.filter((r) => r.kernel === 'flash_forward').length;
        assert(fwd > 2 * 3, `the forward should be split into several dispatches by the budget, got ${fwd}`);
        for (const r of rec)
          assert(r.flops <= budget.dispatchFlops || r.groups[0] * r.groups[1] === 1 || !/flash/.test(r.kernel), `over budget: ${JSON.stringify(r)}`);
      }
    },
  );

  t('arena split across several GPUBuffers (maxBufferBytes 4 KiB): layernorm, matmul, sumSquares, AdamW', async () => {
    const N = 9,
      C = 100; // views of 900 floats: at most one per 4 KiB buffer
    const run = async (be: Backend) => {
      const a = be.allocArena([
        { name: 'x', length: N * C },
        { name: 'w', length: C },
        { name: 'b', length: C },
        { name: 'y', length: N * C },
        { name: 'mean', length: N },
        { name: 'rstd', length: N },
        { name: 'W', length: C * 7 },
        { name: 'z', length: N * 7 },
        { name: 'm', length: N * C },
        { name: 'v', length: N * C },
        { name: 'ns', length: 1 },
      ]);
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
    const got = await run(be),
      want = await run(new ReferenceBackend());
    const buffers = new Set(Object.values(got.a).map((x) => x.buffer));
    assert(buffers.size >= 5, `expected the arena to span several buffers, got ${buffers.size}`);
    got.out.forEach((g, i) => assertClose(g, want.out[i], tol, `split arena output ${i}`));
  });

  t('one view larger than a buffer (maxBufferBytes 4 KiB) is split between rows: every op that meets the token embedding', async () => {
    const V = 100,
      C = 24,
      B = 2,
      T = 9,
      M = 5; // wte (100,24) = 2400 floats: parts of 42 rows (1008 floats)
    const ids = new Int32Array(B * T).map((_, i) => [0, 41, 42, 43, 83, 84, 99, 42, 7][i % 9]); // rows on every part's edges, repeated
    const run = async (be: Backend) => {
      const a = be.allocArena([
        { name: 'wte', length: V * C, rowLength: C },
        { name: 'dwte', length: V * C, rowLength: C },
        { name: 'm', length: V * C, rowLength: C },
        { name: 'v', length: V * C, rowLength: C },
        { name: 'dr', length: V * C, rowLength: C },
        { name: 'wpe', length: T * C },
        { name: 'dwpe', length: T * C },
        { name: 'ns', length: 1 },
      ]);
      const x = (n: number, seed: number) => {
        const t = be.alloc(n);
        be.write(t, randn(n, seed));
        return t;
      };
      be.write(a.wte, randn(V * C, 1));
      be.write(a.wpe, randn(T * C, 2));
      be.write(a.dwte, randn(1200, 3), 900); // a write that starts in part 0 and ends in part 2
      const idt = be.alloc(B * T, 'i32');
      be.write(idt, ids);
      const enc = be.alloc(B * T * C),
        h = x(M * C, 4),
        logits = be.alloc(M * V),
        dh = be.alloc(M * C),
        g = be.alloc(B * T * C);
      be.encoderForward(enc, idt, a.wte, a.wpe, B, T, C, 0);
      be.encoderBackward(a.dwte, a.dwpe, x(B * T * C, 5), idt, B, T, C);
      be.matmul(logits, h, a.wte, x(V, 6), M, C, V, false, true, 0); // b split along N, with bias
      be.matmul(dh, logits, a.wte, null, M, V, C, false, false, 0); // b split along K
      be.matmul(a.dwte, logits, h, null, V, M, C, true, false, 1); // out split along M
      const wt = x(V * 3, 7),
        o2 = x(C * 3, 8);
      be.matmul(o2, a.wte, wt, null, C, V, 3, true, false, 1); // a split along K (transposed), accumulating
      be.gatherRows(g, a.wte, idt, B * T, C);
      be.scatterAddRows(a.m, g, idt, B * T, C);
      be.dropoutForward(a.dr, a.wte, V * C, 0.3, { seed: 3, stream: 4 });
      be.dropoutForward(a.dr, a.dr, V * C, 0.5, { seed: 5, stream: 6 }); // in place, across parts
      be.fill(a.v, 0.01);
      be.sumSquares(a.ns, [a.dwte, a.dwpe, a.dr]);
      be.adamw(a.wte, a.dwte, a.m, a.v, { lr: 0.01, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1, step: 1, gradNormSq: a.ns, maxNorm: 1 });
      const cp = be.alloc(900);
      be.copy(cp, be.slice(a.m, 500, 900)); // a slice across parts
      return { a, out: [enc, logits, dh, o2, g, a.dwte, a.dwpe, a.m, a.dr, a.ns, a.v, a.wte, cp].map((t) => be.read(t)) };
    };
    const be = make(4096);
    const got = await run(be),
      want = await run(new ReferenceBackend());
    const parts = (got.a.wte.buffer as { parts?: unknown[] }).parts;
    assert(parts?.length === 3, `expected wte in 3 parts, got ${parts?.length}`);
    for (let i = 0; i < got.out.length; i++) assertClose(await got.out[i], await want.out[i], tol, `split view output ${i}`);
    let refused = '';
    try {
      be.layernormForward(got.a.dr, be.alloc(V), be.alloc(V), got.a.wte, be.alloc(C), be.alloc(C), V, C, 1e-5);
    } catch (e) {
      refused = (e as Error).message;
    }
    assert(/split across GPU buffers/.test(refused), `an op that cannot take a split tensor should say so, got "${refused}"`);
  });

  t('operands sharing a buffer range: X·Xᵀ, residual of overlapping slices, in-place loss backward on two arena views', async () => {
    const be = make();
    const ref = new ReferenceBackend();
    const N = 6,
      V = 37;
    const run = async (b: Backend) => {
      const a = b.allocArena([
        { name: 'pad', length: 5 },
        { name: 'x', length: 40 },
        { name: 'g', length: 64 },
        { name: 'z', length: N * V },
        { name: 'p', length: N * V },
        { name: 'w', length: N },
        { name: 'loss', length: 1 },
        { name: 'ls', length: N },
        { name: 'tg', length: N, dtype: 'i32' },
      ]);
      b.write(a.x, randn(40, 1));
      b.write(a.z, randn(N * V, 2, 2));
      b.write(a.p, randn(N * V, 3, 2));
      b.write(a.w, new Float32Array(N).fill(1 / N));
      b.write(a.tg, new Int32Array([0, 5, -1, 36, 2, 2]));
      b.matmul(a.g, a.x, a.x, null, 8, 5, 8, false, true, 0); // (8,5)·(8,5)ᵀ from one view
      const lo = b.slice(a.x, 0, 20),
        hi = b.slice(a.x, 10, 20);
      const o = b.slice(a.g, 0, 20);
      b.residualForward(o, lo, hi, 20);
      b.crossEntropyForward(a.ls, a.loss, a.z, a.tg, a.w, N, V);
      b.crossEntropyBackward(a.z, a.z, a.tg, a.w, N, V, 1); // in place
      b.crossEntropyBackward(a.p, a.p, a.tg, a.w, N, V, 0.8); // in place, another view
      return [await b.read(a.g), await b.read(a.z), await b.read(a.p), await b.read(a.loss)];
    };
    const got = await run(be),
      want = await run(ref);
    got.forEach((g, i) => assertClose(g, want[i], tol, `shared-range output ${i}`));
  });

  t('more dispatches than one batch holds (auto submit), i32 fill/copy, free', async () => {
    const be = make();
    const x = be.alloc(300),
      one = be.alloc(300);
    be.fill(one, 1);
    for (let i = 0; i < 5000; i++) be.accumulate(x, one, 300);
    const r = await be.read(x);
    assertEqual([r[0], r[299]], [5000, 5000], 'accumulated 5000 times');
    const ids = be.alloc(10, 'i32'),
      ids2 = be.alloc(10, 'i32');
    be.fill(ids, -7);
    be.copy(ids2, ids);
    const got = await be.read(ids2);
    assert(got instanceof Int32Array && got.every((v) => v === -7), `i32 fill/copy gave ${got}`);
    be.free(x, one);
    const y = be.alloc(4);
    be.fill(y, 2.5);
    assertEqual([...(await be.read(y))], [2.5, 2.5, 2.5, 2.5], 'alloc after free');
  });

  t('work split to a budget: matmul in K, M and N parts (every transpose, bias, accumulate) as the reference; every dispatch within it', async () => {
    const budget = { depth: 50, dispatchFlops: 2 * 64 * 64 * 50, submitFlops: 1e6 };
    const be = createWebGPUBackend(handle.device, { budget });
    backends.push(be);
    const rec = be.record();
    for (const [M, K, N] of [
      [150, 130, 200],
      [70, 333, 65],
      [5, 120, 3],
    ]) {
      for (const transA of [false, true])
        for (const transB of [false, true])
          for (const beta of [0, 1] as const) {
            await both(
              `budget matmul ${M}x${K}x${N} tA=${transA} tB=${transB} beta=${beta}`,
              { a: randn(M * K, 1), b: randn(K * N, 2), bias: randn(N, 3), out: randn(M * N, 4) },
              (b, x) => b.matmul(x.out, x.a, x.b, beta ? null : x.bias, M, K, N, transA, transB, beta),
              ['out'],
              be,
            );
          }
    }
    const mm = rec.filter((r) => /^mat/.test(r.kernel));
    assert(mm.length > 3 * 8 * 2, `expected the matmuls split into parts, got ${mm.length} dispatches`);
    for (const r of mm)
      assert(r.depth <= budget.depth && (r.flops <= budget.dispatchFlops || r.groups[0] * r.groups[1] === 1), `dispatch over budget: ${JSON.stringify(r)}`);
  });

  t('the tiled (128) and matvec matmul kernels over tile edges, every transpose, vec4 and unaligned operands, f16 b', async () => {
    // (the 64-tile kernel runs the conformance suite's shapes)
    for (const matmul of ['tiled', 'matvec'] as const) {
      const be = createWebGPUBackend(handle.device, { kernels: { matmul } });
      backends.push(be);
      const rec = be.record();
      const shapes: [number, number, number][] =
        matmul === 'tiled'
          ? [
              [130, 19, 257],
              [129, 64, 128],
            ]
          : [
              [7, 33, 300],
              [1, 768, 5],
            ];
      for (const [M, K, N] of shapes) {
        for (const transA of matmul === 'tiled' ? [false, true] : [false])
          for (const transB of [false, true]) {
            // views at element offset 0 (vec4 loads) and 1 (element loads) into their buffers
            for (const off of [0, 1]) {
              await both(
                `${matmul} ${M}x${K}x${N} tA=${transA} tB=${transB} offset ${off}`,
                { a: randn(M * K + off, M + K), b: randn(K * N + off, K + N), bias: randn(N, N), out: randn(M * N, 5) },
                (x, t) => x.matmul(t.out, x.slice(t.a, off, M * K), x.slice(t.b, off, K * N), transA ? null : t.bias, M, K, N, transA, transB, transA ? 1 : 0),
                ['out'],
                be,
              );
            }
          }
      }
      const used = new Set<string>(rec.map((r) => r.kernel));
      const want = matmul === 'matvec' ? 'matvec' : `matmul_${matmul}`;
      assert(used.has(want), `kernels used with matmul: '${matmul}': ${[...used]}`);
      if (be.f16Storage) {
        for (const transB of [false, true]) {
          const [M, K, N] = matmul === 'matvec' ? [3, 70, 133] : [131, 70, 133];
          const ref = new ReferenceBackend();
          const run = async (x: Backend) => {
            const a = x.alloc(M * K),
              w = x.alloc(K * N, 'f16'),
              o = x.alloc(M * N);
            x.write(a, randn(M * K, 1));
            x.write(w, randn(K * N, 2));
            x.matmul(o, a, w, null, M, K, N, false, transB, 0);
            return x.read(o);
          };
          assertClose(await run(be), await run(ref), tol, `${matmul} f16 b tB=${transB}`);
        }
      }
    }
  });

  t('encoder backward: many repeated ids (deterministic scatter-add)', async () => {
    const B = 4,
      T = 50,
      C = 24,
      V = 5;
    const ids = new Int32Array(B * T).map((_, i) => (i * 7) % V);
    await both(
      'encoderBackward repeated',
      { ids, d: randn(B * T * C, 1), dwte: randn(V * C, 2), dwpe: randn(T * C, 3) },
      (be, x) => be.encoderBackward(x.dwte, x.dwpe, x.d, x.ids, B, T, C),
      ['dwte', 'dwpe'],
    );
  });

  t('no uncaptured WebGPU errors; release the device', async () => {
    for (const b of backends) b.destroy();
    await releaseDevice(handle);
    if (errors.length) throw new Error(`uncaptured WebGPU errors:\n${errors.slice(0, 5).join('\n')}`);
  });
}
