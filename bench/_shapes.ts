import { benchWasmBackend, median, opt } from './common.ts';
const threads = opt('threads', 1),
  reps = opt('reps', 15);
const be = await benchWasmBackend({ simd: 'relaxed', threads });
const shapes: [number, number, number, boolean, boolean][] = [
  [2048, 384, 1152, false, false],
  [2048, 384, 384, false, false],
  [2048, 384, 1536, false, false],
  [2048, 1536, 384, false, false],
  [2048, 384, 8192, false, true],
  [2048, 384, 8192, false, false],
  [384, 2048, 1152, true, false],
  [2048, 1152, 384, false, true],
  [512, 768, 768, false, false],
  [512, 768, 3072, false, false],
  [512, 3072, 768, false, false],
  [512, 768, 2304, false, false],
];
const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
const st = shapes.map(([M, K, N]) => {
  const a = be.alloc(M * K),
    b = be.alloc(K * N),
    c = be.alloc(M * N);
  be.write(a, rand(M * K));
  be.write(b, rand(K * N));
  return { a, b, c };
});
const ms: number[][] = shapes.map(() => []);
for (let r = 0; r <= reps; r++)
  shapes.forEach(([M, K, N, tA, tB], i) => {
    const s = st[i];
    const t = performance.now();
    be.matmul(s.c, s.a, s.b, null, M, K, N, tA, tB, 0);
    if (r) ms[i].push(performance.now() - t);
  });
shapes.forEach(([M, K, N, tA, tB], i) =>
  console.log(
    `${tA ? 'AT' : 'A'}·${tB ? 'BT' : 'B'} ${M}x${K}x${N}: ${((2 * M * K * N) / median(ms[i]) / 1e6).toFixed(1)} GFLOP/s (min-time ${((2 * M * K * N) / Math.min(...ms[i]) / 1e6).toFixed(1)})`,
  ),
);
be.dispose();
