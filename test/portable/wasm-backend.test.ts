// The WASM backend's own machinery, beyond the conformance suite: the linear-memory allocator (reuse,
// coalescing, zeroing, growth) and the worker pool's start-up handshake.
import { createNodeWasmBackend, enableRelaxedSimd, loadWasmFile } from '../../adapters/node/wasm.ts';
import { createWasmBackend } from '../../src/backend/wasm/index.ts';
import { GPT } from '../../src/model/gpt.ts';
import { AdamW } from '../../src/train/optim.ts';
import { preset } from '../../src/model/config.ts';
import { Heap } from '../../src/backend/wasm/heap.ts';
import { kernelDotMatches, RELAXED_DOT_A, RELAXED_DOT_B, relaxedDotMatches, relaxedDotWant, relaxedSimdStatus } from '../../src/backend/wasm/features.ts';
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import { assert, assertClose, assertEqual, assertThrows, randn, test } from '../lib/harness.ts';

test('wasm heap: blocks are aligned, reused after free, coalesced and zeroed', () => {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 64 });
  const heap = new Heap(memory, 100, 64 * 65536);
  const a = heap.alloc(10),
    b = heap.alloc(100),
    c = heap.alloc(1000);
  assertEqual([a.addr % 64, b.addr % 64, c.addr % 64], [0, 0, 0], 'alignment');
  assert(a.addr >= 100 && b.addr >= a.addr + 10 && c.addr >= b.addr + 100, 'blocks do not overlap');
  new Uint8Array(memory.buffer, b.addr, 100).fill(7);
  heap.release(a);
  heap.release(b);
  // a and b coalesce into one run that a block larger than either fits in, at a's address, zeroed
  const d = heap.alloc(120);
  assertEqual(d.addr, a.addr, 'first fit in the coalesced run');
  assert(
    new Uint8Array(memory.buffer, d.addr, 120).every((x) => x === 0),
    'reused memory is zeroed',
  );
  heap.release(c);
  heap.release(d);
  assertEqual(heap.used, 0, 'everything returned');
  // growth: 1 page at first, a 1 MiB block grows the memory
  const big = heap.alloc(1 << 20);
  assert(memory.buffer.byteLength >= big.addr + (1 << 20), 'memory grew');
  assertThrows(() => heap.alloc(64 * 65536), /out of memory/);
});

test('wasm backend: freed tensors are rejected; views stay valid across memory growth', async () => {
  const be = await createNodeWasmBackend({ threads: 1 });
  const x = be.alloc(5),
    y = be.alloc(5);
  be.write(x, new Float32Array([1, 2, 3, 4, 5]));
  be.write(y, new Float32Array([1, 2, 3, 4, 5]));
  const big = be.alloc(50 << 20); // forces the memory to grow (a new ArrayBuffer)
  be.accumulate(x, y, 5);
  assertClose(await be.read(x), [2, 4, 6, 8, 10], { atol: 0 });
  be.free(big, x);
  assertThrows(() => be.accumulate(x, y, 5), /used after free/);
});

test('wasm fill (a kernel: f32, i32 and f16 at any offset and length) and the heap zeroing a reused block through it, 1 and 2 threads; nothing outside the tensor changes', async () => {
  for (const threads of [1, 2]) {
    const be = await createNodeWasmBackend({ threads });
    const n = 300_013; // past the work at which kernels wake the workers, and no multiple of 16
    for (const [dtype, value, off, len] of [
      ['f32', -1.25, 3, 200_001],
      ['i32', -7, 5, 150_002],
      ['f16', 0.5, 7, 100_003], // 2-byte aligned: the word's halves land on odd elements too
      ['f32', 2.5, 0, 17], // a tail shorter than a line, on the calling thread
    ] as const) {
      const t = be.alloc(n, dtype);
      const before = dtype === 'i32' ? Int32Array.from({ length: n }, (_, i) => i - 1000) : Float32Array.from({ length: n }, (_, i) => (i % 97) - 48);
      be.write(t, before);
      be.fill(be.slice(t, off, len), value);
      const got = await be.read(t);
      const want = before.slice();
      want.fill(value, off, off + len);
      assertEqual(Array.from(got), Array.from(want), `${dtype} fill of [${off}, ${off + len}) at ${threads} thread(s)`);
      be.free(t);
    }
    const a = be.alloc(n);
    be.fill(a, 3);
    be.free(a);
    const b = be.alloc(n); // the same block again: the heap zeroes it through the kernel
    assert(
      (await be.read(b)).every((x) => x === 0),
      `a reused block is zeroed at ${threads} thread(s)`,
    );
    be.free(b);
    be.dispose();
  }
});

test('wasm fill past 2 GiB (bytes counted in 32 unsigned bits, offsets in 64) reaches every element and stops at the end', async () => {
  const be = await createNodeWasmBackend({ threads: 2 });
  const n = 600_000_000; // 2.24 GiB of f32
  const t = be.alloc(n + 8);
  be.fill(be.slice(t, 4, n), 1.5);
  for (const at of [0, 4, 1 << 28, (1 << 28) + 4, 1 << 29, (1 << 29) + 4, n - 4, n, n + 4]) {
    const got = Array.from((await be.read(be.slice(t, at, 4))) as Float32Array);
    const want = [0, 1, 2, 3].map((i) => (at + i >= 4 && at + i < n + 4 ? 1.5 : 0));
    assertEqual(got, want, `elements [${at}, ${at + 4})`);
  }
  be.dispose();
}, 60_000);

test('wasm pool: a job posted right after start-up reaches every worker (10 pools)', async () => {
  for (let i = 0; i < 10; i++) {
    const be = await createNodeWasmBackend({ threads: 2 });
    const N = 1 << 16;
    const x = be.alloc(N),
      y = be.alloc(N);
    be.fill(x, 1);
    be.fill(y, 1);
    be.accumulate(x, y, N); // large enough to be split over both threads
    const got = (await be.read(x)) as Float32Array;
    be.dispose();
    assert(
      got.every((v) => v === 2),
      `pool ${i}: every element doubled`,
    );
  }
});

test('wasm pool: workers that sleep at once (spinMicros 0) and ones that spin between jobs both wake for every job, idle or not', async () => {
  for (const spinMicros of [0, 5000]) {
    const be = await createNodeWasmBackend({ threads: 2, spinMicros });
    const N = 1 << 16;
    const x = be.alloc(N),
      y = be.alloc(N);
    be.fill(x, 0);
    be.fill(y, 1);
    for (let i = 0; i < 200; i++) {
      be.accumulate(x, y, N); // split over both threads: a lost wake-up would hang or leave half undone
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 20)); // idle past the spin: the workers sleep
    }
    const got = (await be.read(x)) as Float32Array;
    be.dispose();
    assert(
      got.every((v) => v === 200),
      `spinMicros ${spinMicros}: every element added 200 times`,
    );
  }
});

test('GPT.free and AdamW.free release every buffer of a trained model (parameters, gradients, activations; moments)', async () => {
  const be = await createNodeWasmBackend({ threads: 1 });
  const cfg = preset('tiny');
  const trainOnce = async () => {
    const model = new GPT(be, cfg).init(1);
    const ids = Int32Array.from({ length: 32 }, (_, i) => (i * 5) % 67);
    model.zeroGrad();
    const pass = model.forward(ids, 2, 16);
    pass.loss(ids, new Float32Array(32).fill(1 / 32), 1);
    pass.backward();
    const opt = new AdamW(be, [model.parameters()]);
    opt.update({ lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, gradClip: 1 });
    await opt.gradNorm();
    return { free: () => (opt.free(), model.free()) };
  };
  (await trainOnce()).free(); // warm-up: kernel scratch stays allocated
  const before = be.bytesInUse;
  const model = await trainOnce();
  assert(be.bytesInUse > before + 4 * 4 * 30_000, `a trained tiny model holds > 480 KB, got ${be.bytesInUse - before}`);
  model.free();
  assertEqual(be.bytesInUse, before, 'bytes in use after free');
  be.dispose();
});

test('wasm matmul, matrix-vector path (M <= 4, a not transposed): large odd K, N, both B layouts, bias, beta, simd128 and default build, 1 and 2 threads', async () => {
  const ref = new ReferenceBackend();
  for (const [simd, threads] of [
    ['simd128', 1],
    [undefined, 1],
    [undefined, 2],
  ] as const) {
    const be = await createNodeWasmBackend({ simd, threads });
    const shapes: [number, number, number][] = [
      [1, 771, 1031],
      [2, 771, 1031],
      [3, 771, 1031],
      [4, 771, 1031],
      [4, 3, 5],
      [2, 9, 17],
      [1, 6, 37],
    ];
    for (const [M, K, N] of shapes) {
      for (const transB of [false, true])
        for (const beta of [0, 1] as const)
          for (const withBias of [false, true]) {
            const inputs = { a: randn(M * K, M + K), b: randn(K * N, K + N + 1), bias: randn(N, N), out: randn(M * N, 7) };
            const run = async (b: typeof ref | typeof be) => {
              const t = Object.fromEntries(
                Object.entries(inputs).map(([k, v]) => {
                  const x = b.alloc(v.length);
                  b.write(x, v);
                  return [k, x];
                }),
              );
              b.matmul(t.out, t.a, t.b, withBias ? t.bias : null, M, K, N, false, transB, beta);
              const got = await b.read(t.out);
              b.free(...Object.values(t));
              return got;
            };
            assertClose(
              await run(be),
              await run(ref),
              { atol: 1e-4, rtol: 1e-3 },
              `${simd ?? 'default'} ${threads} thread(s) ${M}x${K}x${N} tB=${transB} beta=${beta} bias=${withBias}`,
            );
          }
    }
    be.dispose();
  }
});

test('wasm matmul, one row of a (decode): 1, 2 and 3 threads give the same bits (one thread reads b a row per pass; threads split K into slabs, or the columns where K has too few slabs; every column summed k by k within a slab, slabs added in order)', async () => {
  for (const simd of ['simd128', 'relaxed'] as const) {
    if (simd === 'relaxed' && !enableRelaxedSimd()) continue;
    const bes = await Promise.all([1, 2, 3].map((threads) => createNodeWasmBackend({ simd, threads })));
    // split by K (short rows): 771×1031 and 3072×768 at 2 and 3 threads, 768×2304 at 3; by columns: 768×2304
    // at 2 threads, 200×4100 (long rows), 13×37 (one slab of 64 rows)
    for (const [K, N] of [
      [771, 1031],
      [3072, 768],
      [768, 2304],
      [200, 4100],
      [13, 37],
    ])
      for (const transB of [false, true])
        for (const beta of [0, 1] as const) {
          const a = randn(K, K),
            b = randn(K * N, N),
            bias = randn(N, 5),
            prior = randn(N, 6);
          const got = await Promise.all(
            bes.map(async (be) => {
              const ta = be.alloc(K),
                tb = be.alloc(K * N),
                tbias = be.alloc(N),
                to = be.alloc(N);
              be.write(ta, a);
              be.write(tb, b);
              be.write(tbias, bias);
              be.write(to, prior);
              be.matmul(to, ta, tb, tbias, 1, K, N, false, transB, beta);
              const out = (await be.read(to)) as Float32Array;
              be.free(ta, tb, tbias, to);
              return out;
            }),
          );
          // and near the plain sum in f64 (every output is a sum of K products of unit normals, |error| ≲ 1e-5·√K)
          for (let j = 0; j < N; j += 97) {
            let want = bias[j] + (beta ? prior[j] : 0);
            for (let k = 0; k < K; k++) want += a[k] * (transB ? b[j * K + k] : b[k * N + j]);
            assert(Math.abs(got[0][j] - want) <= 1e-4 * Math.sqrt(K), `${simd} 1x${K}x${N} tB=${transB} beta=${beta}: column ${j} ${got[0][j]} vs ${want}`);
          }
          for (const [t, y] of got.entries())
            assert(
              got[0].every((v, i) => Object.is(v, y[i])),
              `${simd} 1x${K}x${N} tB=${transB} beta=${beta}: 1 and ${t + 1} threads differ at ${got[0].findIndex((v, i) => !Object.is(v, y[i]))}`,
            );
        }
    for (const be of bes) be.dispose();
  }
});

test('wasm attention in shares (threads take runs of (head, block pair) units forward and whole heads backward, one at a time): the bits of one thread at 2 and 3 threads, forward with and without dropout, backward, a cached prompt and decode rows after it', async () => {
  const bes = await Promise.all([1, 2, 3].map((threads) => createNodeWasmBackend({ simd: 'relaxed', threads })));
  // B2 T77 3 heads: 12 units, forward shares straddle heads at 2 threads (8 shares) and are single units at 3;
  // B1 T130 2 heads: 6 units in 6 shares, and backward has fewer heads (2) than 3 threads
  for (const [B, T, C, NH] of [
    [2, 77, 96, 3],
    [1, 130, 128, 2],
  ])
    for (const pDrop of [0, 0.25]) {
      const qkv = randn(B * T * 3 * C, T + C),
        dout = randn(B * T * C, 5);
      const rng = pDrop > 0 ? { seed: 99, stream: 3 } : null;
      const got = await Promise.all(
        bes.map(async (be) => {
          const [tq, td, to, tl, tdq] = [qkv, dout, B * T * C, B * NH * T, B * T * 3 * C].map((v) => {
            if (typeof v === 'number') return be.alloc(v);
            const x = be.alloc(v.length);
            be.write(x, v);
            return x;
          });
          be.attentionForward(to, tl, tq, B, T, C, NH, pDrop, rng);
          be.attentionBackward(tdq, td, tq, to, tl, B, T, C, NH, pDrop, rng);
          // prompts from positions 0 and 19 (tiles, in shares), then 3 decode rows (the even split), on the same caches
          const Tmax = T + 22,
            k = be.alloc(B * Tmax * C),
            v = be.alloc(B * Tmax * C),
            first = be.alloc(B * 19 * 3 * C),
            rest = be.alloc(B * (T - 19) * 3 * C),
            o1 = be.alloc(B * 19 * C),
            o2 = be.alloc(B * (T - 19) * C),
            o3 = be.alloc(B * 3 * C);
          be.write(first, qkv.subarray(0, B * 19 * 3 * C));
          be.write(rest, qkv.subarray(0, B * (T - 19) * 3 * C));
          be.attentionCached(o1, first, k, v, B, 19, C, NH, 0, Tmax);
          be.attentionCached(o2, rest, k, v, B, T - 19, C, NH, 19, Tmax);
          be.attentionCached(o3, be.slice(rest, 0, B * 3 * 3 * C), k, v, B, 3, C, NH, T, Tmax);
          const out = await Promise.all([to, tl, tdq, o1, o2, o3].map(async (t) => Array.from((await be.read(t)) as Float32Array)));
          be.free(tq, td, to, tl, tdq, k, v, first, rest, o1, o2, o3);
          return out;
        }),
      );
      for (const [i, y] of got.entries())
        ['out', 'lse', 'dqkv', 'cached prompt from 0', 'cached prompt from 19', 'decode rows'].forEach((name, j) => {
          const at = got[0][j].findIndex((x, e) => !Object.is(x, y[j][e]));
          assert(at < 0, `B${B} T${T} C${C} NH${NH} p${pDrop} ${name}: 1 and ${i + 1} threads differ at ${at}`);
        });
      // not all zeros, nor NaN: the outputs compared are real ones
      assert(
        got[0].every((o) => o.some((x) => x !== 0) && o.every(Number.isFinite)),
        'outputs finite and not all zero',
      );
    }
  for (const be of bes) be.dispose();
});

test('wasm matmul in shares (threads take 4 shares each, one at a time, from a shared counter: columns of a wide out, or rows against b packed once) and with A packed once for all column blocks: the bits of one thread, at 2 and 3 threads, all four transposes, bias and beta; near the f64 sum', async () => {
  const bes = await Promise.all([1, 2, 3].map((threads) => createNodeWasmBackend({ simd: 'relaxed', threads })));
  // columns: N 2081 (131 groups of 16: 8 shares at 2 threads, the even split at 3), N 3100 (12 shares at 3 threads);
  // rows against b packed whole: M 515 (172 panels of 3: 8 shares at 2 threads, the even split at 3) with N 770 and K 600
  // (two NC blocks, three KC blocks, edge panels), M 800 with K 7 (12 shares at 3 threads).
  // One thread packs A once for all NC column blocks on the first three (one chunk of rows) and on 1100×1000×1600
  // (chunks of 512 rows: 512, 512, 76), where 2 and 3 threads take row shares: against the blocks packed per column block.
  // Fewer column shares than 4 per thread, against A packed once: 300×700×1100 (100 row panels, too few for row
  // shares; 4 shares of 256+ columns fit: 4 at 2 threads, the even split at 3).
  for (const [M, K, N] of [
    [300, 700, 1100],
    [70, 65, 2081],
    [9, 300, 3100],
    [515, 600, 770],
    [800, 7, 61],
    [1100, 1000, 1600],
  ])
    for (const [transA, transB] of [
      [false, false],
      [false, true],
      [true, false],
      [true, true],
    ])
      for (const beta of [0, 1] as const) {
        const a = randn(M * K, M + K),
          b = randn(K * N, N),
          bias = randn(N, 3),
          prior = randn(M * N, 4);
        const got = await Promise.all(
          bes.map(async (be) => {
            const t = [a, b, bias, prior].map((v) => {
              const x = be.alloc(v.length);
              be.write(x, v);
              return x;
            });
            be.matmul(t[3], t[0], t[1], t[2], M, K, N, transA, transB, beta);
            const out = (await be.read(t[3])) as Float32Array;
            be.free(...t);
            return out;
          }),
        );
        for (const [i, y] of got.entries())
          assert(
            got[0].every((v, j) => Object.is(v, y[j])),
            `${M}x${K}x${N} tA=${transA} tB=${transB} beta=${beta}: 1 and ${i + 1} threads differ at ${got[0].findIndex((v, j) => !Object.is(v, y[j]))}`,
          );
        // sampled outputs near the f64 sum (each a sum of K products of unit normals: |error| ≲ 1e-5·√K); the
        // stride visits every row and column residue, the edge panels included
        for (let o = 0; o < M * N; o += 1009) {
          const m = Math.floor(o / N),
            n = o % N;
          let want = bias[n] + (beta ? prior[o] : 0);
          for (let k = 0; k < K; k++) want += (transA ? a[k * M + m] : a[m * K + k]) * (transB ? b[n * K + k] : b[k * N + n]);
          assert(
            Math.abs(got[0][o] - want) <= 1e-4 * Math.sqrt(K),
            `${M}x${K}x${N} tA=${transA} tB=${transB} beta=${beta}: out[${m},${n}] ${got[0][o]} vs ${want}`,
          );
        }
      }
  for (const be of bes) be.dispose();
});

test("relaxed SIMD's int8 dot (i16x8.relaxed_dot_i8x16_i7x16_s) is checked for exactness before the relaxed build is chosen; a wrong answer is caught", () => {
  const exact: number[] = [],
    twice: number[] = [];
  for (let i = 0; i < 16; i += 2) {
    const s = RELAXED_DOT_A[i] * RELAXED_DOT_B[i] + RELAXED_DOT_A[i + 1] * RELAXED_DOT_B[i + 1];
    exact.push(s);
    twice.push(((2 * s) << 16) >> 16); // V8 11.3's error on the i32x4 form: twice the dot product (i16 lanes wrap)
  }
  assert(exact.includes(32258) && exact.includes(-32258), 'the operands reach the largest pair sums the kernels can form');
  if (!enableRelaxedSimd()) return; // this engine has none (or an inexact one): the SIMD128 build runs, and nothing here to check
  assert(relaxedDotMatches(exact), 'the engine gives the exact pair sums');
  assert(!relaxedDotMatches(twice), 'an engine answering twice the dot product would be refused');
});

test("an embedder that will not compile WebAssembly from bytes (workerd): relaxed SIMD is checked on the relaxed build's own dotI8Pairs, and a wrong dot is refused", async () => {
  if (!enableRelaxedSimd()) return; // no relaxed SIMD here: nothing to choose
  const [relaxed, simd128] = await Promise.all(
    ['relaxed', 'simd128'].map(async (v) => new WebAssembly.Module((await loadWasmFile(v as 'relaxed' | 'simd128')).slice())),
  );
  // both builds' dotI8Pairs: the relaxed instruction and the SIMD128 build's exact sums
  for (const m of [relaxed, simd128]) {
    const memory = new WebAssembly.Memory({ initial: 64, maximum: 65536 });
    const ex = new WebAssembly.Instance(m, { env: { memory } }).exports as { heapBase(): number; dotI8Pairs(a: number, b: number, out: number): void };
    assert(kernelDotMatches(ex.dotI8Pairs, memory, ex.heapBase()), `dotI8Pairs of the ${m === relaxed ? 'relaxed' : 'SIMD128'} build is exact`);
    assert(
      new Uint8Array(memory.buffer, ex.heapBase(), 48).every((x) => x === 0),
      'the scratch is zeroed again',
    );
  }
  const memory = new WebAssembly.Memory({ initial: 1 }),
    want = relaxedDotWant();
  const answering = (f: (w: number) => number) => (_a: number, _b: number, out: number) => new Int16Array(memory.buffer, out, 8).set(want.map(f));
  assert(
    kernelDotMatches(
      answering((w) => w),
      memory,
      64,
    ),
    'the exact sums pass',
  );
  assert(
    !kernelDotMatches(
      answering((w) => ((2 * w) << 16) >> 16),
      memory,
      64,
    ),
    'twice the dot product is refused',
  );
  // workerd's refusal, as its V8 words it, while the modules the runtime compiled are given
  const Module = WebAssembly.Module;
  const refusing = (() => {
    throw new WebAssembly.CompileError('WebAssembly.Module(): Wasm code generation disallowed by embedder');
  }) as unknown as typeof WebAssembly.Module;
  refusing.prototype = Module.prototype;
  (WebAssembly as { Module: typeof WebAssembly.Module }).Module = refusing;
  try {
    assertEqual(relaxedSimdStatus(), 'unchecked', 'validates, but the dot cannot be probed from bytes');
    const both = await createWasmBackend({ modules: { relaxed, simd128 }, threads: 1 });
    assertEqual(both.name, 'wasm-relaxed', 'both builds given: the relaxed one, its dot checked');
    both.dispose();
    const only = await createWasmBackend({ modules: { simd128 }, threads: 1 });
    assertEqual(only.name, 'wasm-simd128', 'the SIMD128 build alone');
    only.dispose();
  } finally {
    (WebAssembly as { Module: typeof WebAssembly.Module }).Module = Module;
  }
  assertEqual(relaxedSimdStatus(), 'exact');
});

test("wasm cross-entropy and GELU: a NaN or infinite logit makes its row's loss NaN wherever it sits (the max skips NaN in its pmax chains, the sum of exps does not), and GELU keeps NaN", async () => {
  for (const threads of [1, 2]) {
    const be = await createNodeWasmBackend({ threads });
    const V = 37; // two 16-wide blocks of the max, one 4-wide step, one scalar
    for (const [at, bad] of [
      [0, NaN],
      [5, NaN],
      [17, NaN],
      [33, NaN],
      [36, NaN],
      [20, Infinity],
    ] as const) {
      const z = randn(2 * V, at + 1),
        nonFinite = new Set<number>();
      z[V + at] = bad; // row 1 only
      const t = { z: be.alloc(2 * V), tg: be.alloc(2, 'i32'), w: be.alloc(2), losses: be.alloc(2), loss: be.alloc(1), dz: be.alloc(2 * V) };
      be.write(t.z, z);
      be.write(t.tg, new Int32Array([3, 3]));
      be.write(t.w, new Float32Array([0.5, 0.5]));
      be.crossEntropyForward(t.losses, t.loss, t.z, t.tg, t.w, 2, V);
      const losses = (await be.read(t.losses)) as Float32Array;
      assert(Number.isFinite(losses[0]) && Number.isNaN(losses[1]), `${bad} at ${at}: losses ${losses[0]}, ${losses[1]}`);
      assert(Number.isNaN(((await be.read(t.loss)) as Float32Array)[0]), 'the summed loss is NaN');
      be.crossEntropyBackward(t.dz, t.z, t.tg, t.w, 2, V, 1);
      const dz = (await be.read(t.dz)) as Float32Array;
      for (let i = 0; i < 2 * V; i++) if (!Number.isFinite(dz[i])) nonFinite.add(i < V ? 0 : 1);
      assertEqual([...nonFinite], [1], `${bad} at ${at}: non-finite gradients in row 1 only`);
      be.free(...Object.values(t));
    }
    const x = be.alloc(9),
      y = be.alloc(9);
    be.write(x, new Float32Array([NaN, 1, NaN, -2, 0, NaN, 3, 4, NaN]));
    be.geluForward(y, x, 9);
    const g = (await be.read(y)) as Float32Array;
    assertEqual(
      [...g].map((v) => Number.isNaN(v)),
      [true, false, true, false, false, true, false, false, true],
      'GELU of NaN is NaN, of numbers a number',
    );
    be.dispose();
  }
});

test('wasm quantized matmul: the matrix-vector path (decode) and the GEMM (prefill) give the same bits for a row, and so does a matrix written in two row ranges; threads too', async () => {
  for (const threads of [1, 2]) {
    const be = await createNodeWasmBackend({ threads });
    for (const dtype of ['q8', 'q4'] as const) {
      const [M, K, N] = [9, 600, 203]; // K: two full activation blocks and a partial one; N: partial tiles
      const w = be.alloc(N * K, dtype, K),
        a = be.alloc(M * K),
        bias = be.alloc(N),
        out = be.alloc(M * N),
        row = be.alloc(N),
        one = be.alloc(K);
      be.write(w, randn(N * K, 1, 0.05));
      be.write(a, randn(M * K, 2));
      be.write(bias, randn(N, 3));
      be.matmul(out, a, w, bias, M, K, N, false, true, 0);
      const all = (await be.read(out)) as Float32Array;
      // the same codes written in two row ranges (as the streaming loader does): the same bits, so whatever
      // the backend derives from the codes (q8's per-block code sums) follows each range
      const q = await be.readQuantized!(w),
        cb = q.codes.length / N,
        sc = q.scales.length / N,
        w2 = be.alloc(N * K, dtype, K);
      be.writeQuantized!(w2, { codes: q.codes.subarray(0, 70 * cb), scales: q.scales.subarray(0, 70 * sc) } as typeof q, 0);
      be.writeQuantized!(w2, { codes: q.codes.subarray(70 * cb), scales: q.scales.subarray(70 * sc) } as typeof q, 70);
      for (const m of [M, 1]) {
        be.matmul(out, a, w2, bias, m, K, N, false, true, 0);
        assertClose(
          ((await be.read(out)) as Float32Array).subarray(0, m * N),
          all.subarray(0, m * N),
          { atol: 0, rtol: 0 },
          `${dtype} written in two row ranges, M ${m}`,
        );
      }
      be.free(w2);
      for (let m = 0; m < M; m++) {
        be.write(one, ((await be.read(a)) as Float32Array).subarray(m * K, (m + 1) * K));
        be.matmul(row, one, w, bias, 1, K, N, false, true, 0);
        assertClose(await be.read(row), all.subarray(m * N, (m + 1) * N), { atol: 0, rtol: 0 }, `${dtype} row ${m}, ${threads} thread(s)`);
      }
      be.free(w, a, bias, out, row, one);
    }
    be.dispose();
  }
});

test("GPT int8 / int4 on WASM: the reference's logits within the activation-quantization error; KV-cached decode equals the full forward; memory freed", async () => {
  const ref = new ReferenceBackend(),
    cfg = preset('tiny', { layout: 'pre-ln' });
  const src = await new GPT(ref, cfg).init(2).readParams();
  const ids = Int32Array.from([5, 17, 3, 66, 0, 12, 40, 9, 9, 31, 2, 8]),
    T = ids.length,
    V = cfg.vocabSize;
  for (const weights of ['int8', 'int4'] as const) {
    for (const threads of [1, 2]) {
      const be = await createNodeWasmBackend({ threads });
      const before = be.bytesInUse;
      const q = new GPT(be, cfg, { weights }),
        qr = new GPT(ref, cfg, { weights });
      q.writeParams(src);
      qr.writeParams(src);
      const full = await q.forward(ids, 1, T).allLogits();
      // the activations become 7-bit codes (int8) or 8-bit integers (int4) per block of 256
      // (wasm/assembly/quant.ts): about 1% of the logits' range here (measured max 6.2e-3 int8, 3.4e-3
      // int4, against |logit| ≤ 0.62; tiny pre-/post-ln, seeds 2–5)
      const tol = weights === 'int8' ? 1.5e-2 : 1e-2;
      assertClose(full, await qr.forward(ids, 1, T).allLogits(), { atol: tol, rtol: 1e-3 }, `${weights} ${threads} thread(s): logits against the reference`);
      const cache = q.newKVCache(1);
      let p = 0;
      for (const n of [5, 1, 1, 4, 1]) {
        const pass = q.forward(ids.slice(p, p + n), 1, n, { cache });
        p += n;
        assertClose(await pass.lastLogits(), full.subarray((p - 1) * V, p * V), { atol: 1e-5 }, `${weights} cached position ${p - 1}`);
      }
      q.freeKVCache(cache);
      q.free();
      assert(be.bytesInUse <= before + 1_100_000, `after free: ${be.bytesInUse - before} bytes beyond the start (kernel scratch only)`);
      be.dispose();
    }
  }
});

test("GPT with a half-precision KV cache (kvCache f16) on WASM: cached prefill and decode, single and ragged, against the reference's halves; near the f32 cache; half its memory; refused where a backend has none", async () => {
  const ref = new ReferenceBackend(),
    cfg = preset('tiny', { layout: 'pre-ln' });
  const src = await new GPT(ref, cfg).init(4).readParams();
  const ids = Int32Array.from([5, 17, 3, 66, 0, 12, 40, 9, 9, 31, 2, 8]);
  const steps = [5, 1, 1, 4, 1];
  const decode = async (m: GPT) => {
    const cache = m.newKVCache(1),
      out: Float32Array[] = [];
    let p = 0;
    for (const n of steps) {
      const pass = m.forward(ids.slice(p, p + n), 1, n, { cache });
      p += n;
      out.push(await pass.lastLogits());
    }
    m.freeKVCache(cache);
    return out;
  };
  // two sequences in one cache of 2 slots: a chunk of each, then a chunk and a decode together
  const ragged = async (m: GPT) => {
    const cache = m.newKVCache(2, 16),
      out: Float32Array[] = [];
    out.push(
      await m
        .forward(Int32Array.from([5, 17, 3, 66, 0, 40, 9]), 1, 7, {
          ragged: [
            { slot: 0, pos: 0, length: 5 },
            { slot: 1, pos: 0, length: 2 },
          ],
          cache,
        })
        .rowLogits(Int32Array.of(4, 6)),
    );
    out.push(
      await m
        .forward(Int32Array.from([12, 9, 31, 2]), 1, 4, {
          ragged: [
            { slot: 0, pos: 5, length: 1 },
            { slot: 1, pos: 2, length: 3 },
          ],
          cache,
        })
        .rowLogits(Int32Array.of(0, 3)),
    );
    m.freeKVCache(cache);
    return out;
  };
  for (const threads of [1, 2]) {
    const be = await createNodeWasmBackend({ threads });
    for (const weights of ['f32', 'int4'] as const) {
      const h = new GPT(be, cfg, { weights, kvCache: 'f16' }),
        hr = new GPT(ref, cfg, { weights, kvCache: 'f16' }),
        f = new GPT(be, cfg, { weights });
      for (const m of [h, hr, f]) m.writeParams(src);
      for (const run of [decode, ragged]) {
        const [a, b, c] = [await run(h), await run(hr), await run(f)];
        a.forEach((x, i) => {
          // int4: the activations' 8-bit quantization (measured 1.9e-3 here), as in the test above
          assertClose(
            x,
            b[i],
            { atol: weights === 'int4' ? 1e-2 : 1e-3, rtol: 1e-3 },
            `${weights} ${run.name} step ${i}, ${threads} thread(s): f16 cache against the reference's`,
          );
          assertClose(x, c[i], { atol: 2e-2, rtol: 1e-2 }, `${weights} ${run.name} step ${i}: f16 cache near the f32 cache`);
        });
      }
      const before = be.bytesInUse,
        c16 = h.newKVCache(1),
        mid = be.bytesInUse,
        c32 = f.newKVCache(1);
      assertEqual((mid - before) * 2, be.bytesInUse - mid, 'the f16 cache takes half the bytes');
      h.freeKVCache(c16);
      f.freeKVCache(c32);
      for (const m of [h, hr, f]) m.free();
    }
    be.dispose();
  }
  const noHalf = Object.assign(new ReferenceBackend(), { halfKVCache: false });
  assertThrows(() => new GPT(noHalf, cfg, { kvCache: 'f16' }), /f16 KV cache: backend reference has none/);
});
