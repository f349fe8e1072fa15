// Quantized weight storage ('q8', 'q4' tensors; GPTOptions.weights 'int8' / 'int4'): the host quantizer,
// its inverse, and the layout every backend and the file format share. A quantized tensor is a row-major
// matrix (rows, K) quantized along its rows, symmetric (no zero point):
//
//   q8   int8 codes (rows, K), one f32 scale per row (per output channel):   W[n,k] = code[n,k] · scale[n]
//   q4   groups of 32 along the row (G = ceil(K/32), the last one zero-padded), one f16 scale per group;
//        a group is 16 bytes, byte j holding element 32g+j in its low nibble and 32g+16+j in its high
//        nibble (llama.cpp's Q4_0 block order); codes 0..15:           W[n,k] = (code[n,k] - 8) · scale[n, k/32]
//
// Rounding is to nearest, ties to even, in double precision. q8: scale = f32(max|W[n,:]| / 127), codes
// in [-127, 127]. q4 (as Q4_0): scale = f16(m / -8) where m is the group's element of largest magnitude
// (the first one on a tie), so m itself is code 0 (-8·scale) and the others fall in [-8, 7]·scale; codes
// are computed with the rounded half scale. Every backend quantizes through these functions, so all hold
// the same codes, and the reference stores their dequantized values (the oracle).
import { f16Bits, f16Value } from './f16.ts';

export type QuantDType = 'q8' | 'q4';

/** elements per q4 group (one f16 scale each) */
export const Q4_GROUP = 32;

/** Codes and scales of a quantized (rows, K) matrix, as stored (see the layout above). */
export interface QuantizedRows {
  /** q8: Int8Array (rows·K); q4: Uint8Array of packed nibbles (rows·G·16) */
  codes: Int8Array | Uint8Array;
  /** q8: one per row; q4: (rows, G) row-major, each exactly representable in f16 */
  scales: Float32Array;
}

export const isQuant = (d: string): d is QuantDType => d === 'q8' || d === 'q4';
export const q4Groups = (K: number): number => Math.ceil(K / Q4_GROUP);
/** bytes of codes per row */
export const codeBytesPerRow = (dtype: QuantDType, K: number): number => (dtype === 'q8' ? K : q4Groups(K) * 16);
/** scales per row */
export const scalesPerRow = (dtype: QuantDType, K: number): number => (dtype === 'q8' ? 1 : q4Groups(K));

/** round to nearest, ties to even */
export function roundEven(v: number): number {
  const r = Math.round(v); // ties toward +infinity
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function check(dtype: QuantDType, length: number, rows: number, K: number): void {
  if (!isQuant(dtype)) throw new TypeError(`unknown quantized dtype ${JSON.stringify(dtype)} (q8 | q4)`);
  if (!(Number.isInteger(K) && K > 0 && Number.isInteger(rows) && rows >= 0)) throw new RangeError(`quantized matrix: rows ${rows}, row length ${K}`);
  if (length !== rows * K) throw new RangeError(`quantized matrix of ${rows} rows of ${K}: ${length} values given`);
}

/** Quantizes `data` (rows, K) row by row. */
export function quantizeRows(dtype: QuantDType, data: Float32Array, rows: number, K: number): QuantizedRows {
  check(dtype, data.length, rows, K);
  if (dtype === 'q8') {
    const codes = new Int8Array(rows * K),
      scales = new Float32Array(rows);
    for (let n = 0; n < rows; n++) {
      let mx = 0;
      for (let k = n * K; k < (n + 1) * K; k++) mx = Math.max(mx, Math.abs(data[k]));
      if (!Number.isFinite(mx)) throw new RangeError(`quantize: row ${n} holds a non-finite value`);
      const s = (scales[n] = Math.fround(mx / 127));
      if (s === 0) continue;
      for (let k = n * K; k < (n + 1) * K; k++) codes[k] = Math.max(-127, Math.min(127, roundEven(data[k] / s)));
    }
    return { codes, scales };
  }
  const G = q4Groups(K),
    codes = new Uint8Array(rows * G * 16),
    scales = new Float32Array(rows * G);
  const code = new Uint8Array(Q4_GROUP);
  for (let n = 0; n < rows; n++) {
    for (let g = 0; g < G; g++) {
      const k0 = g * Q4_GROUP,
        k1 = Math.min(K, k0 + Q4_GROUP),
        row = n * K;
      let m = 0;
      for (let k = k0; k < k1; k++) if (Math.abs(data[row + k]) > Math.abs(m)) m = data[row + k];
      if (!Number.isFinite(m)) throw new RangeError(`quantize: row ${n} holds a non-finite value`);
      const d = (scales[n * G + g] = f16Value(f16Bits(m / -8)));
      code.fill(8);
      if (d !== 0) for (let k = k0; k < k1; k++) code[k - k0] = Math.max(0, Math.min(15, roundEven(data[row + k] / d) + 8));
      const out = (n * G + g) * 16;
      for (let j = 0; j < 16; j++) codes[out + j] = code[j] | (code[j + 16] << 4);
    }
  }
  return { codes, scales };
}

/** The values a quantized (rows, K) matrix stands for, as f32. */
export function dequantizeRows(dtype: QuantDType, q: QuantizedRows, rows: number, K: number): Float32Array {
  check(dtype, rows * K, rows, K);
  checkQuantized(dtype, q, rows, K);
  const out = new Float32Array(rows * K);
  if (dtype === 'q8') {
    for (let n = 0; n < rows; n++) for (let k = 0; k < K; k++) out[n * K + k] = q.codes[n * K + k] * q.scales[n];
    return out;
  }
  const G = q4Groups(K);
  for (let n = 0; n < rows; n++) {
    for (let k = 0; k < K; k++) {
      const g = k >> 5,
        j = k & 31,
        b = q.codes[(n * G + g) * 16 + (j & 15)];
      out[n * K + k] = ((j < 16 ? b & 15 : b >> 4) - 8) * q.scales[n * G + g];
    }
  }
  return out;
}

/** Checks that codes and scales have the sizes of a (rows, K) matrix of `dtype` (and q4 scales are halves). */
export function checkQuantized(dtype: QuantDType, q: QuantizedRows, rows: number, K: number, what = 'quantized tensor'): void {
  const want = codeBytesPerRow(dtype, K) * rows,
    ws = scalesPerRow(dtype, K) * rows;
  if (dtype === 'q8' ? !(q.codes instanceof Int8Array) : !(q.codes instanceof Uint8Array))
    throw new TypeError(`${what}: ${dtype} codes must be ${dtype === 'q8' ? 'an Int8Array' : 'a Uint8Array'}`);
  if (q.codes.length !== want) throw new RangeError(`${what}: ${q.codes.length} code bytes, ${rows} rows of ${K} in ${dtype} need ${want}`);
  if (q.scales.length !== ws) throw new RangeError(`${what}: ${q.scales.length} scales, ${rows} rows of ${K} in ${dtype} need ${ws}`);
  for (let i = 0; i < q.scales.length; i++) {
    const s = q.scales[i];
    if (!Number.isFinite(s)) throw new RangeError(`${what}: scale ${i} is ${s}`);
    if (dtype === 'q4' && f16Value(f16Bits(s)) !== s) throw new RangeError(`${what}: q4 scale ${i} (${s}) is not a half-precision value`);
  }
}
