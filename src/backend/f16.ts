// IEEE half precision on the host, for f16 weight storage: the WebGPU backend uploads these bits as they
// are, and the reference backend stores the same rounded values in f32, so both compute on identical
// weights. Rounding is to nearest, ties to even; magnitudes beyond the largest half (65504) saturate to it
// rather than becoming infinite, so one outlier weight cannot turn a whole row of logits into NaN.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The half-precision bits of x, taken as f32 (round to nearest even, saturating at ±65504). */
export function f16Bits(x: number): number {
  f32[0] = x;
  const u = u32[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return mant ? 0x7e00 : sign | 0x7bff; // NaN; infinities saturate too
  const he = exp - 112; // the half's biased exponent (127 - 15)
  if (he >= 31) return sign | 0x7bff;
  if (he <= 0) {
    // a half subnormal (units of 2^-24) or zero: drop 14 - he bits of the 24-bit significand
    if (he < -10) return sign;
    const full = mant | 0x800000,
      shift = 14 - he;
    let r = full >>> shift;
    const rem = full & ((1 << shift) - 1),
      halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && r & 1)) r++;
    return sign | r; // r = 0x400 is the smallest normal, encoded correctly
  }
  let r = (he << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) r++; // a carry moves into the exponent, as it should
  return r >= 0x7c00 ? sign | 0x7bff : sign | r;
}

let table: Float32Array | null = null;

/** The value of half-precision bits. */
export function f16Value(bits: number): number {
  if (!table) {
    table = new Float32Array(0x10000);
    for (let b = 0; b < 0x10000; b++) {
      const sign = b & 0x8000 ? -1 : 1,
        e = (b >> 10) & 0x1f,
        m = b & 0x3ff;
      table[b] = e === 0 ? sign * m * 2 ** -24 : e === 31 ? (m ? NaN : sign * Infinity) : sign * (1 + m / 1024) * 2 ** (e - 15);
    }
  }
  return table[bits & 0xffff];
}

/** x rounded to the nearest half (what an f16 tensor holds after write). */
export const roundF16 = (x: number): number => f16Value(f16Bits(x));

/** Half bits of every value, padded to an even count (GPU uploads move whole 32-bit words). */
export function toF16Array(data: Float32Array): Uint16Array {
  const out = new Uint16Array(data.length + (data.length & 1));
  for (let i = 0; i < data.length; i++) out[i] = f16Bits(data[i]);
  return out;
}
