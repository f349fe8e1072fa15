// Host half-precision rounding (src/backend/f16.ts), checked against the definition on every one of the
// 65,536 half values and the midpoints between neighbours.
import { f16Bits, f16Value, roundF16 } from '../../src/backend/f16.ts';
import { assert, assertEqual, test } from '../lib/harness.ts';

test('f16: every finite half round-trips; midpoints round to even; saturation; subnormals', () => {
  let checked = 0;
  for (let b = 0; b < 0x10000; b++) {
    const e = (b >> 10) & 0x1f;
    if (e === 31) continue; // inf/NaN
    const v = f16Value(b);
    if (Object.is(v, -0) || v === 0) {
      assert((f16Bits(v) & 0x7fff) === 0, `zero ${b}`);
      continue;
    }
    assertEqual(f16Bits(v), b, `half ${b.toString(16)} (${v})`);
    // the midpoint to the next half up (away from zero) rounds to whichever of the two has an even mantissa
    const nb = b + 1;
    if (((nb >> 10) & 0x1f) !== 31) {
      const mid = (v + f16Value(nb)) / 2;
      assertEqual(f16Bits(mid), b % 2 === 0 ? b : nb, `midpoint after ${b.toString(16)}`);
      assertEqual(f16Bits(v + (f16Value(nb) - v) * 0.49), b, `below midpoint after ${b.toString(16)}`);
    }
    checked++;
  }
  assert(checked === 63486, `checked ${checked} nonzero finite halves`);
  assertEqual(roundF16(1e6), 65504, 'saturates');
  assertEqual(roundF16(-70000), -65504, 'saturates negative');
  assertEqual(roundF16(2 ** -25), 0, 'half the smallest subnormal rounds to even (zero)');
  assertEqual(roundF16(3 * 2 ** -25), 2 ** -23, '1.5 subnormal ulps round to even (2 ulps)');
  assertEqual(roundF16(0.1), 0.0999755859375, '0.1');
  assert(Number.isNaN(roundF16(NaN)), 'NaN stays NaN');
});
