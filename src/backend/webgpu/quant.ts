// Quantized weights on WebGPU (dtypes 'q8', 'q4'; src/backend/quant.ts): their buffers and the dispatches
// of src/wgsl/quant.wgsl. A quantized tensor is one GPUBuffer of its own (never split, never sliced):
//   words [0, rows·rowWords)          the codes, each row padded to whole u32 words (q8: ceil(K/4)
//                                     words; q4: 4 words per group of 32), bytes as the file holds them
//   words [oScale, oScale + rows·spr) f32 scales, row-major: 1 per row (q8), 1 per group (q4)
// Scales are f32 here (the file's q4 scales are f16; every half is an f32 exactly), so that any row range
// can be written on word boundaries. The kernels dequantize as they read: f32 arithmetic on exactly the
// values the reference backend holds — except int8 weights for up to 8 rows where the WGSL language
// feature packed_4x8_integer_dot_product exists: there the activations are quantized per block of 256 to
// integers of 16 bits (scale max|block|/32639, split in two int8 halves) and the products summed exactly
// with dot4I8Packed (quantize_act, matvec_q8_dot4).
import type { Tensor } from '../backend.ts';
import { codeBytesPerRow, dequantizeRows, q4Groups, scalesPerRow, type QuantDType, type QuantizedRows } from '../quant.ts';
import type { GpuMemory, GpuStore } from './memory.ts';
import type { KernelName, OperandsOf, ParamsOf } from './kernels.ts';

/** What the dispatch needs of the backend (WebGPUBackend implements it). */
export interface QuantHost {
  readonly mem: GpuMemory;
  readonly maxBufferBytes: number;
  /** `packed`: int8 weights run on dot4I8Packed for up to 8 rows */
  readonly features: { packed?: boolean };
  run<K extends KernelName>(name: K, operands: OperandsOf<K>, params: ParamsOf<K>, groups: [number, number], o?: { constants?: Record<string, number> }): void;
  grid(n: number, per: number): [number, number];
  /** a block matmul of f32 operands (webgpu.ts matmulBlock): out(M,N) = beta·out + a·bᵀ [+ bias] with leading dimensions */
  matmulF32(out: Tensor, a: Tensor, b: Tensor, bias: Tensor | null, M: number, K: number, N: number, beta: 0 | 1, lda: number, ldb: number, ldo: number): void;
  slice(t: Tensor, offset: number, length: number): Tensor;
}

interface Geometry {
  dtype: QuantDType;
  rows: number;
  K: number;
  /** u32 words of codes per row */
  rowWords: number;
  /** scales per row */
  spr: number;
  /** first word of the scales */
  oScale: number;
  words: number;
}

function geometry(t: Tensor): Geometry {
  const dtype = t.dtype as QuantDType,
    K = t.rowLength!,
    rows = t.length / K;
  const rowWords = dtype === 'q8' ? Math.ceil(K / 4) : q4Groups(K) * 4,
    spr = scalesPerRow(dtype, K);
  return { dtype, rows, K, rowWords, spr, oScale: rows * rowWords, words: rows * rowWords + rows * spr };
}

/** The whole buffer of a quantized tensor as u32 words, for binding and transfers. */
const words = (t: Tensor, g: Geometry): Tensor => ({ buffer: t.buffer, offset: 0, length: g.words, dtype: 'i32' });

export function allocQuant(h: QuantHost, length: number, dtype: QuantDType, rowLength: number | undefined): Tensor {
  const K = rowLength!; // a divisor of length (checks.ts)
  const t0 = { buffer: null, offset: 0, length, dtype, rowLength: K } as Tensor;
  const g = geometry(t0);
  const store: GpuStore = h.mem.allocStore(g.words * 4, `${dtype} tensor ${g.rows}x${K}`);
  const t = { ...t0, buffer: store } as Tensor;
  if (dtype === 'q4') h.mem.upload(words(t, g), new Uint32Array(g.rows * g.rowWords).fill(0x88888888)); // zeros are code 8
  return t;
}

export function writeQuantized(h: QuantHost, t: Tensor, q: QuantizedRows, firstRow: number): void {
  const g = geometry(t),
    cb = codeBytesPerRow(g.dtype, g.K),
    n = q.codes.length / cb; // whole rows in range (checks.ts)
  const codes = new Uint8Array(n * g.rowWords * 4),
    src = new Uint8Array(q.codes.buffer, q.codes.byteOffset, q.codes.byteLength);
  for (let r = 0; r < n; r++) codes.set(src.subarray(r * cb, (r + 1) * cb), r * g.rowWords * 4);
  const view = words(t, g);
  h.mem.upload(view, new Uint32Array(codes.buffer), firstRow * g.rowWords);
  h.mem.upload(view, Float32Array.from(q.scales), g.oScale + firstRow * g.spr);
}

export async function readQuantized(h: QuantHost, t: Tensor): Promise<QuantizedRows> {
  const g = geometry(t),
    cb = codeBytesPerRow(g.dtype, g.K);
  const all = new Uint8Array(await h.mem.readBytes(words(t, g)));
  const codes = new Uint8Array(g.rows * cb);
  for (let r = 0; r < g.rows; r++) codes.set(all.subarray(r * g.rowWords * 4, r * g.rowWords * 4 + cb), r * cb);
  const scales = new Float32Array(all.buffer, g.oScale * 4, g.rows * g.spr).slice();
  return { codes: g.dtype === 'q8' ? new Int8Array(codes.buffer) : codes, scales };
}

export async function readDequantized(h: QuantHost, t: Tensor): Promise<Float32Array> {
  return dequantizeRows(t.dtype as QuantDType, await readQuantized(h, t), t.length / t.rowLength!, t.rowLength!);
}

/** Columns of W dequantized at once for the tiled matmul (M > 8): a block of at most 64 MiB of f32. */
const DEQUANT_BLOCK_BYTES = 64 * 2 ** 20;

/**
 * out(M,N) = beta·out + a(M,K)·W(N,K)ᵀ [+ bias], W quantized: up to 8 rows in one matvec_q dispatch (the
 * weights dequantized as they are read); more rows a block of W's rows at a time, dequantized to f32 into
 * scratch by dequant_q and multiplied by the f32 tiled kernels.
 */
export function matmulQ(h: QuantHost, out: Tensor, a: Tensor, b: Tensor, bias: Tensor | null, M: number, K: number, N: number, beta: 0 | 1): void {
  const g = geometry(b),
    constants = { Q4: +(g.dtype === 'q4') };
  const geo = { row_words: g.rowWords, o_scale: g.oScale, groups: g.spr };
  if (M <= 8 && g.dtype === 'q8' && h.features.packed) {
    const blocks = Math.ceil(K / 256),
      act = h.mem.scratchView('quantized activations', M * (2 * g.rowWords + blocks), 'i32');
    h.run('quantize_act', { act, aq: a }, { M, K, lda: K, row_words: g.rowWords, blocks }, h.grid(M * blocks, 64));
    h.run(
      'matvec_q8_dot4',
      { dout: out, dact: act, w: words(b, g), dbias: bias },
      { M, K, N, beta, has_bias: +!!bias, ldo: N, row_words: g.rowWords, o_scale: g.oScale, blocks },
      h.grid(N, 8),
    );
    return;
  }
  if (M <= 8) {
    h.run('matvec_q', { out, a, w: words(b, g), bias }, { M, K, N, beta, has_bias: +!!bias, lda: K, ldo: N, n0: 0, ...geo }, h.grid(N, 8), { constants });
    return;
  }
  const rowsPerBlock = Math.max(64, Math.floor(Math.min(DEQUANT_BLOCK_BYTES, h.maxBufferBytes) / (4 * K) / 64) * 64);
  for (let n0 = 0; n0 < N; n0 += rowsPerBlock) {
    const nb = Math.min(rowsPerBlock, N - n0);
    const wf = h.mem.scratchView('dequantized weights', nb * K);
    h.run('dequant_q', { out: wf, w: words(b, g) }, { M: 0, K, N: nb, beta: 0, has_bias: 0, lda: 0, ldo: 0, n0, ...geo }, h.grid(nb * K, 256), { constants });
    // the block's columns of out (row stride N), and its part of the bias
    h.matmulF32(h.slice(out, n0, (M - 1) * N + nb), a, wf, bias && h.slice(bias, n0, nb), M, K, nb, beta, K, K, N);
  }
}

/** out(B,T,C) = dequant(wte)[ids] + wpe[pos0 + t] */
export function encoderQ(h: QuantHost, out: Tensor, ids: Tensor, wte: Tensor, wpe: Tensor, B: number, T: number, C: number, pos0: number): void {
  const g = geometry(wte),
    n = B * T * C;
  h.run(
    'encoder_forward_q',
    { eout: out, ids, w: words(wte, g), wpe },
    { n, C, T, pos0, row_words: g.rowWords, o_scale: g.oScale, groups: g.spr },
    h.grid(n, 256),
    { constants: { Q4: +(g.dtype === 'q4') } },
  );
}
