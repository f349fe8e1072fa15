// The worker pool's stall watch (src/backend/wasm/pool.ts): workers that do not finish long after the
// caller's share are reported as lost, but a whole process that was suspended (SIGSTOP, a laptop asleep)
// is not mistaken for lost workers — a killed transfer-study run on 2026-12-01 was exactly that.
import { StallWatch } from '../../src/backend/wasm/pool.ts';
import { assert, test } from '../lib/harness.ts';

test("wasm pool stall watch: steady checks expire 60 s (or 50 × the caller's share) after the caller finished", () => {
  const w = new StallWatch(0, 10);
  for (let t = 1000; t <= 60_000; t += 1000) assert(!w.expired(t), `not expired at ${t} ms`);
  assert(w.expired(61_000), 'expired at 61 s');
  const slow = new StallWatch(0, 2000); // a 2 s share: 100 s
  for (let t = 1000; t <= 100_000; t += 1000) assert(!slow.expired(t), `not expired at ${t} ms`);
  assert(slow.expired(101_000), 'expired at 101 s');
});

test('wasm pool stall watch: a suspended process (one gap of minutes between checks) does not count against the workers', () => {
  const w = new StallWatch(0, 10);
  assert(!w.expired(1000), '1 s');
  assert(!w.expired(1000 + 10 * 60_000), 'resumed after 10 minutes stopped');
  for (let t = 2000; t <= 60_000; t += 1000) assert(!w.expired(10 * 60_000 + t), `${t} ms after the resume`);
  assert(w.expired(10 * 60_000 + 62_000), 'still lost when no progress follows the resume');
});
