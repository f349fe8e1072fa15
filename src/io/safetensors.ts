// safetensors: an 8-byte little-endian header length, a JSON header {name: {dtype, shape,
// data_offsets: [begin, end]}} (offsets relative to the data section), then the raw tensor bytes.
//
// Reading is as strict as the format's reference implementation (huggingface/safetensors): the header
// is at most 100,000,000 bytes of UTF-8 JSON; names are unique; dtype × shape = bytes, with checked
// arithmetic; the byte ranges, sorted, tile the data section exactly — no overlap, no gap, no trailing
// bytes. The header is checked whole before any tensor is allocated (readSafetensorsHeader), so a
// caller can compare it with a config first. Weights must be finite unless `allowNonFinite` says
// otherwise. Every refusal is a FileFormatError naming the file and, where there is one, the tensor.
// Quantized model files (src/io/quantized.ts) add I8 and U8 tensors, read raw (readRawTensor); a stream
// is read header first, then tensor by tensor (streamSafetensors), with the same checks.
import { FileFormatError, quote } from './errors.ts';
import { f16Value } from '../backend/f16.ts';

export interface NamedTensor {
  data: Float32Array;
  shape: number[];
}

/** The reference implementation's MAX_HEADER_SIZE. */
export const SAFETENSORS_MAX_HEADER = 100_000_000;
/** More elements than any tensor that fits in memory; keeps the size arithmetic exact in doubles. */
const MAX_ELEMENTS = 2 ** 48;

/** The dtypes gptedge reads, and their widths in bytes: floats, and the codes of quantized weights. */
const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I8: 1, U8: 1 };
const FLOATS = new Set(['F32', 'F16', 'BF16', 'F64']);

/** A tensor as stored: its dtype and little-endian bytes (quantized weights: I8 / U8 codes, F32 / F16 scales). */
export interface RawTensor {
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

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
  if (bytes.length < 8) throw new FileFormatError(file, `truncated (${bytes.length} bytes, no header)`);
  const hlen = headerLength(bytes.subarray(0, 8), file);
  if (hlen > bytes.length - 8) throw new FileFormatError(file, `truncated or corrupted (header of ${hlen} bytes in a file of ${bytes.length})`);
  return parseHeader(bytes.subarray(8, 8 + hlen), file, bytes.length - 8 - hlen);
}

/** The header length in a file's first 8 bytes, checked against the limit. */
function headerLength(first8: Uint8Array, file: string): number {
  const hlen64 = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (hlen64 > BigInt(SAFETENSORS_MAX_HEADER))
    throw new FileFormatError(file, `header of ${hlen64} bytes is larger than the limit of ${SAFETENSORS_MAX_HEADER}`);
  return Number(hlen64);
}

/**
 * Parse and check the JSON header (its bytes after the length): entries, and that their byte ranges
 * tile the data section — of `dataLen` bytes exactly when known (a file), from 0 without gaps (a stream).
 */
function parseHeader(headerBytes: Uint8Array, file: string, dataLen: number | null): SafetensorsHeader {
  const fail = (detail: string, tensor?: string): never => {
    throw new FileFormatError(file, detail, { field: tensor });
  };
  const hlen = headerBytes.length;
  let text: string, header: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
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
      if (!info || typeof info !== 'object' || Array.isArray(info) || !Object.values(info).every((v) => typeof v === 'string'))
        fail('__metadata__ must map strings to strings');
      metadata = info as Record<string, string>;
      continue;
    }
    if (!info || typeof info !== 'object' || Array.isArray(info)) fail(`tensor ${name}: its entry must be an object`, name);
    const t = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const width = typeof t.dtype === 'string' && Object.hasOwn(BYTES, t.dtype) ? BYTES[t.dtype] : 0;
    if (!width)
      fail(`tensor ${name} has unsupported dtype ${quote(t.dtype)} (gptedge reads F32, F16, BF16 and F64, and I8 / U8 in quantized model files)`, name);
    const shape = t.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor ${name} has an invalid shape`, name);
    const dims = shape as number[];
    let numel = 1;
    for (const d of dims) {
      numel *= d;
      if (numel > MAX_ELEMENTS) fail(`tensor ${name}: shape [${dims}] has more elements than ${MAX_ELEMENTS}`, name);
    }
    const off = t.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((x) => Number.isSafeInteger(x) && x >= 0) || off[1] < off[0])
      fail(`tensor ${name} has invalid data_offsets`, name);
    const [begin, end] = off as [number, number];
    if (end - begin !== numel * width) fail(`tensor ${name} holds ${end - begin} bytes, its shape [${dims}] of ${t.dtype} needs ${numel * width}`, name);
    entries.push({ name, dtype: t.dtype as string, shape: dims, numel, begin, end });
  }
  // the byte ranges, in order, must tile the data section exactly
  const dataStart = 8 + hlen;
  const order = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0,
    prev: SafetensorsEntry | undefined;
  for (const e of order) {
    if (e.begin < pos) fail(`tensors ${prev!.name} and ${e.name} overlap (${prev!.name} ends at byte ${pos}, ${e.name} starts at byte ${e.begin})`, e.name);
    if (e.begin > pos)
      fail(
        `${e.begin - pos} unused bytes ${prev ? `between tensors ${prev.name} and ${e.name}` : `before tensor ${e.name}`} (tensors must tile the data section)`,
        e.name,
      );
    pos = e.end;
    prev = e;
  }
  if (dataLen !== null && pos > dataLen) fail(`truncated: tensor ${prev!.name} ends at byte ${pos} of a data section of ${dataLen}`, prev!.name);
  if (dataLen !== null && pos < dataLen)
    fail(`${dataLen - pos} trailing bytes after the last tensor (the data section holds ${dataLen} bytes, the tensors ${pos})`);
  return { entries, metadata, dataStart };
}

export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** One tensor of a checked header as float32 (F16, BF16 and F64 widened/narrowed), finite unless allowed. */
export function decodeTensor(bytes: Uint8Array, header: SafetensorsHeader, e: SafetensorsEntry, file = 'safetensors', o: ReadOptions = {}): Float32Array {
  if (!FLOATS.has(e.dtype))
    throw new FileFormatError(
      file,
      `tensor ${e.name} has dtype ${e.dtype}, not floating point (integer codes belong to quantized model files, read by loadCheckpoint)`,
      { field: e.name },
    );
  const n = e.numel,
    off = header.dataStart + e.begin;
  const data = new Float32Array(n);
  if (e.dtype === 'F32' && LITTLE_ENDIAN) new Uint8Array(data.buffer).set(bytes.subarray(off, off + 4 * n));
  else {
    const dv = new DataView(bytes.buffer, bytes.byteOffset + off, e.end - e.begin);
    const u = new Uint32Array(1),
      f = new Float32Array(u.buffer);
    for (let i = 0; i < n; i++) {
      if (e.dtype === 'F32') data[i] = dv.getFloat32(4 * i, true);
      else if (e.dtype === 'F64') data[i] = dv.getFloat64(8 * i, true);
      else if (e.dtype === 'F16') data[i] = f16Value(dv.getUint16(2 * i, true));
      else {
        u[0] = dv.getUint16(2 * i, true) << 16; // BF16: the top half of a float32
        data[i] = f[0];
      }
    }
  }
  if (!o.allowNonFinite) checkFinite(data, file, e.name);
  return data;
}

/** One tensor of a checked header as it is stored (a view into `bytes`). */
export function readRawTensor(bytes: Uint8Array, header: SafetensorsHeader, e: SafetensorsEntry): RawTensor {
  return { dtype: e.dtype, shape: e.shape, bytes: bytes.subarray(header.dataStart + e.begin, header.dataStart + e.end) };
}

/** The file's error naming tensor `name` and its first NaN or ±Inf, if `a` holds one; `at`: a's first index in the tensor. */
export function checkFinite(a: Float32Array, file: string, name: string, at = 0): void {
  const i = firstNonFinite(a);
  if (i >= 0) throw new FileFormatError(file, `tensor ${name} holds a non-finite value (${a[i]}) at index ${at + i}`, { field: name });
}

/** Index of the first NaN or ±Inf, or -1. */
export function firstNonFinite(a: Float32Array): number {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return i;
  return -1;
}

/** Parse safetensors bytes into f32 tensors (F16, BF16 and F64 are widened/narrowed to f32). */
export function readSafetensors(
  bytes: Uint8Array,
  file = 'safetensors',
  o: ReadOptions = {},
): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
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
  let depth = 0,
    i = 0,
    expectKey = false;
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

/**
 * Serialize tensors: f32 ones (NamedTensor) and stored ones (RawTensor), sorted by name, 8-byte aligned
 * header, as the reference implementation does; `dataOrder` (every name once) lays the data out in
 * another order (the header, a JSON object, says where each tensor is either way).
 */
export function writeSafetensors(tensors: Map<string, NamedTensor | RawTensor>, metadata?: Record<string, string>, dataOrder?: string[]): Uint8Array {
  const names = dataOrder ?? [...tensors.keys()].sort();
  if (dataOrder && (dataOrder.length !== tensors.size || new Set(dataOrder).size !== tensors.size || !dataOrder.every((n) => tensors.has(n))))
    throw new Error('writeSafetensors: dataOrder must name every tensor once');
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  const parts = new Map<string, Uint8Array>();
  for (const n of names) {
    const t = tensors.get(n)!;
    const expected = t.shape.reduce((x, y) => x * y, 1);
    if ('data' in t && expected !== t.data.length) throw new Error(`tensor ${n}: shape [${t.shape}] needs ${expected} values, has ${t.data.length}`);
    const raw = 'bytes' in t ? t : { dtype: 'F32', shape: t.shape, bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) };
    if (!Object.hasOwn(BYTES, raw.dtype) || raw.bytes.byteLength !== expected * BYTES[raw.dtype])
      throw new Error(`tensor ${n}: shape [${t.shape}] of ${raw.dtype} needs ${expected * (BYTES[raw.dtype] ?? NaN)} bytes, has ${raw.bytes.byteLength}`);
    parts.set(n, raw.bytes);
    header[n] = { dtype: raw.dtype, shape: t.shape, data_offsets: [off, off + raw.bytes.byteLength] };
    off += raw.bytes.byteLength;
  }
  let h = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (h.length % 8)) % 8;
  if (pad) h = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(8 + h.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  let p = 8 + h.length;
  for (const n of names) {
    const d = parts.get(n)!;
    out.set(d, p);
    p += d.byteLength;
  }
  return out;
}

/**
 * A piece of a tensor's bytes as a stream delivers it: bytes [offset, offset + bytes.length) of `total`,
 * valid until the next piece is read (a byte stream's reader reuses one buffer).
 */
export interface TensorPiece {
  name: string;
  dtype: string;
  shape: number[];
  offset: number;
  total: number;
  bytes: Uint8Array;
}

/**
 * Reads safetensors from a stream (a fetch body): the header first, checked as a file's is, then the
 * tensors in data order, in pieces of at most `pieceBytes` as their bytes arrive — what is held at a
 * time is one piece, never the whole file. A stream that ends early, or goes on after the last tensor,
 * is a FileFormatError naming the file.
 */
export async function streamSafetensors(
  stream: ReadableStream<Uint8Array>,
  file = 'safetensors',
  pieceBytes = 1 << 20,
): Promise<{ header: SafetensorsHeader; pieces: AsyncGenerator<TensorPiece> }> {
  // A byte stream (a fetch body) is read with a BYOB reader into one buffer that every read reuses, so
  // streaming a file allocates nothing per chunk (garbage array buffers would pile up until a GC: tens of
  // MB inside a 128 MB isolate); other streams are copied out of their chunks.
  let byob: ReadableStreamBYOBReader | null = null;
  try {
    byob = stream.getReader({ mode: 'byob' });
  } catch {
    // not a byte stream
  }
  const reader = byob ? null : stream.getReader();
  let chunk: Uint8Array = new Uint8Array(0),
    at = 0; // default reader: the unread part of the current chunk is chunk[at..]
  let buf = new ArrayBuffer(0); // BYOB reader: the reused buffer
  /** the next n bytes, or null when the stream ends first (BYOB: valid until the next call) */
  const take = async (n: number): Promise<Uint8Array | null> => {
    if (byob) {
      if (buf.byteLength < n) buf = new ArrayBuffer(Math.max(n, pieceBytes));
      let got = 0;
      while (got < n) {
        const r = await byob.read(new Uint8Array(buf, got, n - got));
        if (r.done || !r.value) return null;
        buf = r.value.buffer as ArrayBuffer; // the buffer was transferred to the stream and back
        got += r.value.byteLength;
      }
      return new Uint8Array(buf, 0, n);
    }
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      if (at === chunk.length) {
        const r = await reader!.read();
        if (r.done) return null;
        chunk = r.value;
        at = 0;
      }
      const k = Math.min(n - got, chunk.length - at);
      out.set(chunk.subarray(at, at + k), got);
      got += k;
      at += k;
    }
    return out;
  };
  const release = () => {
    (byob ?? reader)!.releaseLock();
    void stream.cancel().catch(() => undefined);
  };
  let header: SafetensorsHeader;
  try {
    const len = await take(8);
    if (!len) throw new FileFormatError(file, 'truncated (no header)');
    const hlen = headerLength(len, file);
    const hb = await take(hlen);
    if (!hb) throw new FileFormatError(file, `truncated or corrupted (the stream ends inside a header of ${hlen} bytes)`);
    header = parseHeader(hb.slice(), file, null);
  } catch (err) {
    release();
    throw err;
  }
  const order = [...header.entries].sort((a, b) => a.begin - b.begin);
  async function* pieces(): AsyncGenerator<TensorPiece> {
    try {
      for (const e of order) {
        const total = e.end - e.begin;
        for (let off = 0; off < total; off += pieceBytes) {
          const bytes = await take(Math.min(pieceBytes, total - off));
          if (!bytes) throw new FileFormatError(file, `truncated: the stream ends inside tensor ${e.name}`, { field: e.name });
          yield { name: e.name, dtype: e.dtype, shape: e.shape, offset: off, total, bytes };
        }
        if (total === 0) yield { name: e.name, dtype: e.dtype, shape: e.shape, offset: 0, total, bytes: new Uint8Array(0) };
      }
      if (await take(1)) throw new FileFormatError(file, 'trailing bytes after the last tensor');
    } finally {
      release();
    }
  }
  return { header, pieces: pieces() };
}
