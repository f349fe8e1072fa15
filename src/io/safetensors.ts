// safetensors: an 8-byte little-endian header length, a JSON header {name: {dtype, shape,
// data_offsets: [begin, end]}} (offsets relative to the data section), then the raw tensor bytes.
//
// Reading is as strict as the format's reference implementation (huggingface/safetensors): the header
// is at most 100,000,000 bytes of UTF-8 JSON; names are unique; dtype × shape = bytes, with checked
// arithmetic; the byte ranges, sorted, tile the data section exactly — no overlap, no gap, no trailing
// bytes. The header is checked whole before any tensor is allocated (readSafetensorsHeader), so a
// caller can compare it with a config first. Weights must be finite unless `allowNonFinite` says
// otherwise. Every refusal is a FileFormatError naming the file and, where there is one, the tensor.
import { FileFormatError, quote } from './errors.ts';

export interface NamedTensor {
  data: Float32Array;
  shape: number[];
}

/** The reference implementation's MAX_HEADER_SIZE. */
export const SAFETENSORS_MAX_HEADER = 100_000_000;
/** More elements than any tensor that fits in memory; keeps the size arithmetic exact in doubles. */
const MAX_ELEMENTS = 2 ** 48;

/** The float dtypes gptedge reads, and their widths in bytes. */
const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  numel: number;
  /** byte range within the data section */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** in the header's order */
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
  /** offset of the data section in the file */
  dataStart: number;
}

export interface ReadOptions {
  /** keep NaN and ±Inf weights (for debugging a diverged run); by default they are an error naming the tensor */
  allowNonFinite?: boolean;
}

/** Parse and check a safetensors header against the file's bytes; allocates nothing per tensor. */
export function readSafetensorsHeader(bytes: Uint8Array, file = 'safetensors'): SafetensorsHeader {
  const fail = (detail: string, tensor?: string): never => {
    throw new FileFormatError(file, detail, { field: tensor });
  };
  if (bytes.length < 8) fail(`truncated (${bytes.length} bytes, no header)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen64 = dv.getBigUint64(0, true);
  if (hlen64 > BigInt(SAFETENSORS_MAX_HEADER)) fail(`header of ${hlen64} bytes is larger than the limit of ${SAFETENSORS_MAX_HEADER}`);
  const hlen = Number(hlen64);
  if (hlen > bytes.length - 8) fail(`truncated or corrupted (header of ${hlen} bytes in a file of ${bytes.length})`);
  let text: string, header: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + hlen));
    header = JSON.parse(text);
  } catch (err) {
    return fail(`corrupted header (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) fail('the header is not a JSON object');
  const seen = new Set<string>();
  for (const k of topLevelKeys(text)) {
    if (seen.has(k)) fail(`tensor name ${quote(k)} appears twice in the header`, k);
    seen.add(k);
  }
  let metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (!info || typeof info !== 'object' || Array.isArray(info) || !Object.values(info).every((v) => typeof v === 'string')) fail('__metadata__ must map strings to strings');
      metadata = info as Record<string, string>;
      continue;
    }
    if (!info || typeof info !== 'object' || Array.isArray(info)) fail(`tensor ${name}: its entry must be an object`, name);
    const t = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const width = typeof t.dtype === 'string' && Object.hasOwn(BYTES, t.dtype) ? BYTES[t.dtype] : 0;
    if (!width) fail(`tensor ${name} has unsupported dtype ${quote(t.dtype)} (gptedge reads F32, F16, BF16 and F64)`, name);
    const shape = t.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor ${name} has an invalid shape`, name);
    const dims = shape as number[];
    let numel = 1;
    for (const d of dims) {
      numel *= d;
      if (numel > MAX_ELEMENTS) fail(`tensor ${name}: shape [${dims}] has more elements than ${MAX_ELEMENTS}`, name);
    }
    const off = t.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((x) => Number.isSafeInteger(x) && x >= 0) || off[1] < off[0]) fail(`tensor ${name} has invalid data_offsets`, name);
    const [begin, end] = off as [number, number];
    if (end - begin !== numel * width) fail(`tensor ${name} holds ${end - begin} bytes, its shape [${dims}] of ${t.dtype} needs ${numel * width}`, name);
    entries.push({ name, dtype: t.dtype as string, shape: dims, numel, begin, end });
  }
  // the byte ranges, in order, must tile the data section exactly
  const dataStart = 8 + hlen, dataLen = bytes.length - dataStart;
  const order = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0, prev: SafetensorsEntry | undefined;
  for (const e of order) {
    if (e.begin < pos) fail(`tensors ${prev!.name} and ${e.name} overlap (${prev!.name} ends at byte ${pos}, ${e.name} starts at byte ${e.begin})`, e.name);
    if (e.begin > pos) fail(`${e.begin - pos} unused bytes ${prev ? `between tensors ${prev.name} and ${e.name}` : `before tensor ${e.name}`} (tensors must tile the data section)`, e.name);
    pos = e.end;
    prev = e;
  }
  if (pos > dataLen) fail(`truncated: tensor ${prev!.name} ends at byte ${pos} of a data section of ${dataLen}`, prev!.name);
  if (pos < dataLen) fail(`${dataLen - pos} trailing bytes after the last tensor (the data section holds ${dataLen} bytes, the tensors ${pos})`);
  return { entries, metadata, dataStart };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** One tensor of a checked header as float32 (F16, BF16 and F64 widened/narrowed), finite unless allowed. */
export function decodeTensor(bytes: Uint8Array, header: SafetensorsHeader, e: SafetensorsEntry, file = 'safetensors', o: ReadOptions = {}): Float32Array {
  const n = e.numel, off = header.dataStart + e.begin;
  const data = new Float32Array(n);
  if (e.dtype === 'F32' && LITTLE_ENDIAN) new Uint8Array(data.buffer).set(bytes.subarray(off, off + 4 * n));
  else {
    const dv = new DataView(bytes.buffer, bytes.byteOffset + off, e.end - e.begin);
    const u = new Uint32Array(1), f = new Float32Array(u.buffer);
    for (let i = 0; i < n; i++) {
      if (e.dtype === 'F32') data[i] = dv.getFloat32(4 * i, true);
      else if (e.dtype === 'F64') data[i] = dv.getFloat64(8 * i, true);
      else if (e.dtype === 'F16') data[i] = f16ToF32(dv.getUint16(2 * i, true));
      else {
        u[0] = dv.getUint16(2 * i, true) << 16; // BF16: the top half of a float32
        data[i] = f[0];
      }
    }
  }
  if (!o.allowNonFinite) {
    const i = firstNonFinite(data);
    if (i >= 0) throw new FileFormatError(file, `tensor ${e.name} holds a non-finite value (${data[i]}) at index ${i}`, { field: e.name });
  }
  return data;
}

/** Index of the first NaN or ±Inf, or -1. */
export function firstNonFinite(a: Float32Array): number {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return i;
  return -1;
}

/** Parse safetensors bytes into f32 tensors (F16, BF16 and F64 are widened/narrowed to f32). */
export function readSafetensors(bytes: Uint8Array, file = 'safetensors', o: ReadOptions = {}): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  const header = readSafetensorsHeader(bytes, file);
  const tensors = new Map<string, NamedTensor>();
  for (const e of header.entries) tensors.set(e.name, { data: decodeTensor(bytes, header, e, file, o), shape: e.shape });
  return { tensors, metadata: header.metadata };
}

/**
 * The top-level keys of a JSON object text, duplicates included (JSON.parse keeps only the last).
 * `text` must already have parsed as an object; strings are decoded, so "\u0061" and "a" are one name.
 */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0, i = 0, expectKey = false;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      const start = i++;
      while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
      if (depth === 1 && expectKey) {
        keys.push(JSON.parse(text.slice(start, i)));
        expectKey = false;
      }
      continue;
    }
    if (c === '{' || c === '[') {
      depth++;
      if (depth === 1) expectKey = true;
    } else if (c === '}' || c === ']') depth--;
    else if (c === ',' && depth === 1) expectKey = true;
    i++;
  }
  return keys;
}

/** Serialize f32 tensors (sorted by name, 8-byte aligned header, as the reference implementation does). */
export function writeSafetensors(tensors: Map<string, NamedTensor>, metadata?: Record<string, string>): Uint8Array {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  for (const n of names) {
    const t = tensors.get(n)!;
    const expected = t.shape.reduce((x, y) => x * y, 1);
    if (expected !== t.data.length) throw new Error(`tensor ${n}: shape [${t.shape}] needs ${expected} values, has ${t.data.length}`);
    header[n] = { dtype: 'F32', shape: t.shape, data_offsets: [off, off + t.data.length * 4] };
    off += t.data.length * 4;
  }
  let h = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (h.length % 8)) % 8;
  if (pad) h = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(8 + h.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  let p = 8 + h.length;
  for (const n of names) {
    const d = tensors.get(n)!.data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), p);
    p += d.byteLength;
  }
  return out;
}
