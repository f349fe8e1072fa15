// What handing a kernel call to the WASM worker pool costs: a small matmul (64×64×64, ~20 µs of work) timed
// on 1 and 2 threads — the first call after 100 ms idle (the workers asleep: the OS must wake them), the call
// right after it, and 200 calls in a row (the steady state of a model's back-to-back ops). --spin sets the
// pool's spinMicros (how long a waiting thread spins before it sleeps; default the backend's).
//   node bench/run-node.mjs pool-handoff [--spin 2000] [--reps 20]
// A benchmark, never a timed test.
import { loadavg } from 'node:os';
import { benchWasmBackend, median, opt, argv } from './common.ts';

const spinMicros = argv.includes('--spin') ? opt('spin', 2000) : undefined,
  reps = opt('reps', 20);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const us = (x: number[]) => (median(x) * 1000).toFixed(0);
console.log(
  `load ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}; spinMicros ${spinMicros ?? 'default'}`,
);
for (const threads of [1, 2]) {
  const be = await benchWasmBackend({ threads, spinMicros });
  const n = 64,
    a = be.alloc(n * n),
    b = be.alloc(n * n),
    c = be.alloc(n * n);
  const mm = () => be.matmul(c, a, b, null, n, n, n, false, false, 0);
  const cold: number[] = [],
    next: number[] = [],
    loop: number[] = [];
  for (let r = 0; r < reps; r++) {
    await sleep(100);
    let t = performance.now();
    mm();
    cold.push(performance.now() - t);
    t = performance.now();
    mm();
    next.push(performance.now() - t);
    t = performance.now();
    for (let i = 0; i < 200; i++) mm();
    loop.push((performance.now() - t) / 200);
  }
  console.log(
    `${threads} thread(s), 64³ matmul: after 100 ms idle ${us(cold)} µs, the next call ${us(next)} µs, 200 in a row ${us(loop)} µs a call (medians of ${reps})`,
  );
  be.dispose();
}
