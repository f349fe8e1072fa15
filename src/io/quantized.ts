// model.safetensors of an int8 / int4 model (`gptedge quantize`, or writeModelFiles of a quantized GPT).
// The layout, in full in docs/quantization.md:
//
//   __metadata__   "gptedge.weights": "int8" | "int4"   (and format "pt", producer "gptedge")
//   for each quantized matrix X — the token embedding and every c_attn / c_proj / c_fc weight — stored as
//   (N, K) with N rows = output channels and K = inputs, quantized along K (src/backend/quant.ts):
//     int8   X          I8   [N, K]      codes in [-127, 127]
//            X_scale    F32  [N, 1]      W[n,k] = X[n,k] · X_scale[n,0]
//     int4   X          U8   [N, G·16]   G = ceil(K/32) groups of 16 bytes: byte 16g+j holds the code of
//                                        element 32g+j in its low nibble, of 32g+16+j in its high nibble
//            X_scale    F16  [N, G]      W[n,k] = (code[n,k] - 8) · X_scale[n, k/32]
//   The linears' (N, K) is (out, in), the transpose of the f32 file's Conv1D [in, out]; the embedding's is
//   its usual [vocab, C]. Every other tensor is F32 as in an f32 file; names are the HF ones of the family.
import type { GPTConfig } from '../model/config.ts';
import { HALF_WEIGHTS, LINEAR_WEIGHTS, type GPT, type WeightsKind } from '../model/gpt.ts';
import { numel, paramSpecs, type ParamSpec } from '../model/params.ts';
import { checkQuantized, dequantizeRows, q4Groups, quantizeRows, type QuantDType, type QuantizedRows } from '../backend/quant.ts';
import { f16Bits, f16Value } from '../backend/f16.ts';
import { familyOf, toHF } from './hf-names.ts';
import type { NamedTensor, RawTensor } from './safetensors.ts';
import { FileFormatError } from './errors.ts';

/** safetensors metadata key naming the quantization of a model file */
export const WEIGHTS_META = 'gptedge.weights';
export type QuantizedKind = 'int8' | 'int4';
export const isQuantizedKind = (k: unknown): k is QuantizedKind => k === 'int8' || k === 'int4';
const DTYPE: Record<QuantizedKind, QuantDType> = { int8: 'q8', int4: 'q4' };
/** the scales of quantized matrix X are the tensor X + SCALE_SUFFIX */
export const SCALE_SUFFIX = '_scale';

/** The quantized parameters of a model file, and the rest as f32. */
export interface QuantizedWeights {
  kind: QuantizedKind;
  /** gptedge parameter name -> codes and scales of its stored (N, K) matrix */
  tensors: Map<string, QuantizedRows>;
}

/** whether a parameter is held quantized in an int8/int4 model */
export const quantizedParam = (name: string): boolean => HALF_WEIGHTS.test(name);

/** The stored (N, K) of a quantized parameter: linears (out, in), the embedding (vocab, C). */
export function storedShape(s: ParamSpec): [number, number] {
  return LINEAR_WEIGHTS.test(s.name) ? [s.shape[1], s.shape[0]] : [s.shape[0], s.shape[1]];
}

/** Quantizes f32 parameters ([in, out] / HF layout) on the host: what `gptedge quantize` does. */
export function quantizeWeights(config: GPTConfig, weights: Map<string, Float32Array>, kind: QuantizedKind): QuantizedWeights {
  const tensors = new Map<string, QuantizedRows>();
  for (const s of paramSpecs(config)) {
    if (!quantizedParam(s.name)) continue;
    const v = weights.get(s.name);
    if (!v) throw new Error(`quantize: parameter ${s.name} is missing`);
    const [N, K] = storedShape(s);
    let rows = v;
    if (LINEAR_WEIGHTS.test(s.name)) {
      rows = new Float32Array(v.length); // [in, out] -> (out, in)
      for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) rows[n * K + k] = v[k * N + n];
    }
    tensors.set(s.name, quantizeRows(DTYPE[kind], rows, N, K));
  }
  return { kind, tensors };
}

/** The tensors of a quantized model.safetensors: the quantized parameters encoded, the others f32. */
export function quantizedFileTensors(config: GPTConfig, weights: Map<string, Float32Array>, quantized: QuantizedWeights): Map<string, NamedTensor | RawTensor> {
  const fam = familyOf(config),
    out = new Map<string, NamedTensor | RawTensor>();
  for (const s of paramSpecs(config)) {
    const name = toHF(s.name, fam),
      q = quantized.tensors.get(s.name);
    if (q) {
      const [N, K] = storedShape(s),
        t = encodeQuantized(quantized.kind, q, N, K);
      out.set(name, t['']);
      out.set(name + SCALE_SUFFIX, t.scale);
    } else {
      const v = weights.get(s.name);
      if (!v) throw new Error(`parameter ${s.name} is missing`);
      out.set(name, { data: v, shape: s.shape });
    }
  }
  return out;
}

/** The tensors of a quantized GPT's model.safetensors (codes and scales read from the backend as they are). */
export async function quantizedModelTensors(model: GPT): Promise<Map<string, NamedTensor | RawTensor>> {
  const kind = model.weights;
  if (!isQuantizedKind(kind)) throw new Error(`quantizedModelTensors: the model's weights are ${kind}`);
  const tensors = new Map<string, QuantizedRows>(),
    weights = new Map<string, Float32Array>();
  for (const s of model.specs) {
    if (model.isQuantizedParam(s.name)) tensors.set(s.name, await model.readQuantizedParam(s.name));
    else weights.set(s.name, (await model.be.read(model.p(s.name))) as Float32Array);
  }
  return quantizedFileTensors(model.cfg, weights, { kind, tensors });
}

/** The two file tensors of one quantized (N, K) matrix: codes ('') and scales ('scale'). */
export function encodeQuantized(kind: QuantizedKind, q: QuantizedRows, N: number, K: number): Record<'' | 'scale', RawTensor> {
  checkQuantized(DTYPE[kind], q, N, K);
  const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (kind === 'int8') {
    return { '': { dtype: 'I8', shape: [N, K], bytes: bytes(q.codes) }, scale: { dtype: 'F32', shape: [N, 1], bytes: bytes(q.scales) } };
  }
  const G = q4Groups(K),
    half = new Uint8Array(N * G * 2),
    dv = new DataView(half.buffer);
  for (let i = 0; i < N * G; i++) dv.setUint16(i * 2, f16Bits(q.scales[i]), true);
  return { '': { dtype: 'U8', shape: [N, G * 16], bytes: bytes(q.codes) }, scale: { dtype: 'F16', shape: [N, G], bytes: half } };
}

/** Checks the dtype and shape a quantized (N, K) matrix's codes ('') or scales ('scale') tensor must have. */
export function checkQuantizedTensor(
  kind: QuantizedKind,
  part: '' | 'scale',
  t: { dtype: string; shape: number[] },
  N: number,
  K: number,
  name: string,
  file: string,
): void {
  const G = q4Groups(K);
  const [d, shape] = part === '' ? (kind === 'int8' ? ['I8', [N, K]] : ['U8', [N, G * 16]]) : kind === 'int8' ? ['F32', [N, 1]] : ['F16', [N, G]];
  if (t.dtype !== d || t.shape.join(',') !== (shape as number[]).join(','))
    throw new FileFormatError(file, `tensor ${name}${part ? SCALE_SUFFIX : ''} is ${t.dtype} [${t.shape}], an ${kind} file needs ${d} [${shape}]`, {
      field: name + (part ? SCALE_SUFFIX : ''),
    });
}

/** A quantized file's codes bytes as the typed array QuantizedRows holds (a view, not a copy). */
export const codesOf = (kind: QuantizedKind, b: Uint8Array): Int8Array | Uint8Array => (kind === 'int8' ? new Int8Array(b.buffer, b.byteOffset, b.length) : b);

/** A quantized file's scale bytes (F32 for int8, F16 for int4, little-endian) as f32 values, in `into` when it is long enough. */
export function scalesOf(kind: QuantizedKind, b: Uint8Array, into?: Float32Array): Float32Array {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength),
    n = b.length / (kind === 'int8' ? 4 : 2),
    out = into && into.length >= n ? into.subarray(0, n) : new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = kind === 'int8' ? dv.getFloat32(4 * i, true) : f16Value(dv.getUint16(2 * i, true));
  return out;
}

/** One quantized (N, K) matrix from its two file tensors, validated (errors name the file and tensor). */
export function decodeQuantized(
  kind: QuantizedKind,
  codes: RawTensor | undefined,
  scales: RawTensor | undefined,
  N: number,
  K: number,
  name: string,
  file: string,
): QuantizedRows {
  if (!codes) throw new FileFormatError(file, `tensor ${name} is missing`, { field: name });
  if (!scales) throw new FileFormatError(file, `tensor ${name}${SCALE_SUFFIX} is missing`, { field: name + SCALE_SUFFIX });
  checkQuantizedTensor(kind, '', codes, N, K, name, file);
  checkQuantizedTensor(kind, 'scale', scales, N, K, name, file);
  const q: QuantizedRows = { codes: codesOf(kind, codes.bytes), scales: scalesOf(kind, scales.bytes) };
  try {
    checkQuantized(DTYPE[kind], q, N, K, `tensor ${name}`); // finite scales, halves for int4
  } catch (err) {
    throw new FileFormatError(file, (err as Error).message, { field: name + SCALE_SUFFIX });
  }
  return q;
}

/**
 * The order of a quantized file's data section: by name, except that every matrix's scales come just
 * before its codes, so a streaming reader has them when the codes arrive and writes the codes row by row
 * without holding the whole matrix (the header, a JSON object, says where each tensor is either way).
 */
export function quantizedDataOrder(names: string[]): string[] {
  const set = new Set(names),
    out: string[] = [];
  for (const n of [...names].sort()) {
    if (n.endsWith(SCALE_SUFFIX) && set.has(n.slice(0, -SCALE_SUFFIX.length))) continue;
    if (set.has(n + SCALE_SUFFIX)) out.push(n + SCALE_SUFFIX);
    out.push(n);
  }
  return out;
}

/** Every parameter as f32 in the [in, out] / HF layout: the f32 ones, and the quantized ones dequantized. */
export function dequantizedWeights(config: GPTConfig, weights: Map<string, Float32Array>, quantized: QuantizedWeights | null): Map<string, Float32Array> {
  if (!quantized) return weights;
  const out = new Map(weights);
  for (const s of paramSpecs(config)) {
    const q = quantized.tensors.get(s.name);
    if (!q) continue;
    const [N, K] = storedShape(s),
      v = dequantizeRows(DTYPE[quantized.kind], q, N, K);
    if (!LINEAR_WEIGHTS.test(s.name)) out.set(s.name, v);
    else {
      const t = new Float32Array(numel(s.shape)); // (out, in) -> [in, out]
      for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) t[k * N + n] = v[n * K + k];
      out.set(s.name, t);
    }
  }
  return out;
}

/** What a quantized folder's config.json says besides the HF keys (informative; the file's metadata decides). */
export function quantizationConfig(kind: WeightsKind): Record<string, unknown> | null {
  if (!isQuantizedKind(kind)) return null;
  return { quant_method: 'gptedge', weights: kind, bits: kind === 'int8' ? 8 : 4, group_size: kind === 'int8' ? -1 : 32, symmetric: true };
}
