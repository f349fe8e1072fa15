// How threads share the matmuls (src/backend/wasm/pool.ts ShareBalancer): shares follow each thread's
// measured speed toward equal finishing times, and any shares give the same bits as one thread.
import { createNodeWasmBackend } from '../../adapters/node/wasm.ts';
import { ShareBalancer } from '../../src/backend/wasm/pool.ts';
import type { Backend } from '../../src/backend/backend.ts';
import { GPT, type WeightsKind } from '../../src/model/gpt.ts';
import { preset } from '../../src/model/config.ts';
import { assert, assertClose, assertEqual, assertThrows, randn, test } from '../lib/harness.ts';

test('ShareBalancer: shares converge to equal finishing times, within [1/2, 3/2] of equal; short or degenerate calls are ignored', () => {
  // thread 1 runs at half the speed of thread 0: the balanced shares are 2/3 and 1/3
  const b = new ShareBalancer(2);
  assertEqual([...b.bounds()], [0, 32768, 65536], 'equal at first');
  const speed = [1, 0.5];
  const times = () => b.frac.map((f, i) => (20 * f) / speed[i]);
  for (let i = 0; i < 40; i++) b.observe(times());
  assertClose(b.frac, [2 / 3, 1 / 3], { atol: 0.01 }, 'shares after 40 calls');
  const t = times();
  assert(Math.abs(t[0] - t[1]) < 0.03 * Math.max(...t), `finishing times ${t} nearly equal`);
  const bounds = b.bounds();
  assertEqual([bounds[0], bounds[2]], [0, 65536], 'bounds span the work');
  assertClose([bounds[1] / 65536], [b.frac[0]], { atol: 1 / 65536 }, 'the bound is the first share');

  // a thread 10× slower is held at half an equal share
  const c = new ShareBalancer(2);
  for (let i = 0; i < 60; i++) c.observe(c.frac.map((f, j) => (20 * f) / [1, 0.1][j]));
  assertClose(c.frac, [0.75, 0.25], { atol: 1e-4 }, 'clamped');

  // calls too short to measure, and a thread that had nothing to do, change nothing
  const d = new ShareBalancer(3);
  assertEqual(d.observe([0.5, 0.2, 0.9]), false, 'under MIN_MS');
  assertEqual(d.observe([10, 0.1, 10]), false, 'a thread with (almost) no work');
  assertClose(d.frac, [1 / 3, 1 / 3, 1 / 3], { atol: 1e-4 }, 'unchanged');
  assertClose(
    d.frac.reduce((x, y) => x + y, 0),
    [1],
    { atol: 0 },
    'shares sum to 1',
  );
  assertThrows(() => new ShareBalancer(2, [1]), /2 positive fractions/);
  assertThrows(() => new ShareBalancer(2, [1, 0]), /2 positive fractions/);
});

test('wasm matmuls: any thread shares give the same bits as one thread (f32 A·B, A·Bᵀ, Aᵀ·B, matrix-vector; int8 and int4 weights)', async () => {
  const one = await createNodeWasmBackend({ threads: 1 });
  const skews: (number[] | 'equal' | 'measured')[] = ['equal', [0.2, 0.8], [0.85, 0.15], 'measured'];
  const many = await Promise.all(skews.map((s) => createNodeWasmBackend({ threads: 2, threadShares: s })));
  try {
    assertClose(many[1].threadShares, [0.2, 0.8], { atol: 1e-4 }, 'fixed shares as given');
    // shapes that take each path: column split (N ≥ 8 groups of 16), row split (narrow N), matrix-vector (M ≤ 4)
    const shapes: [number, number, number, boolean, boolean][] = [
      [64, 48, 200, false, false],
      [50, 64, 300, false, true],
      [130, 64, 96, true, false],
      [200, 64, 40, false, false],
      [3, 100, 200, false, false],
      [2, 96, 333, false, true],
      [4, 3, 5, false, false], // too small to wake the pool: the calling thread does it all
    ];
    const run = async (be: Backend, [M, K, N, tA, tB]: (typeof shapes)[number], beta: 0 | 1) => {
      const a = be.alloc(M * K),
        b = be.alloc(K * N),
        bias = be.alloc(N),
        out = be.alloc(M * N);
      be.write(a, randn(M * K, 1));
      be.write(b, randn(K * N, 2));
      be.write(bias, randn(N, 3));
      be.write(out, randn(M * N, 4));
      be.matmul(out, a, b, bias, M, K, N, tA, tB, beta);
      const got = await be.read(out);
      be.free(a, b, bias, out);
      return got;
    };
    for (const s of shapes)
      for (const beta of [0, 1] as const) {
        const want = await run(one, s, beta);
        for (const [i, be] of many.entries()) assertClose(await run(be, s, beta), want, { atol: 0 }, `${s} beta ${beta}, shares ${JSON.stringify(skews[i])}`);
      }
    // quantized weights through a model (prefill rows and the matrix-vector path), same bits everywhere
    const cfg = { ...preset('small'), nLayer: 1 };
    for (const weights of ['f32', 'int8', 'int4'] as WeightsKind[]) {
      const params = await new GPT(one, cfg).init(5).readParams();
      for (const T of [64, 3]) {
        const ids = Int32Array.from({ length: T }, (_, i) => (i * 37) % cfg.vocabSize);
        const logits = async (be: Backend) => {
          const m = new GPT(be, cfg, { weights });
          m.writeParams(params);
          const l = await m.forward(ids, 1, T).allLogits();
          m.free();
          return l;
        };
        const want = await logits(one);
        for (const [i, be] of many.entries()) assertClose(await logits(be), want, { atol: 0 }, `${weights} T ${T}, shares ${JSON.stringify(skews[i])}`);
      }
    }
  } finally {
    one.dispose();
    for (const be of many) be.dispose();
  }
});
