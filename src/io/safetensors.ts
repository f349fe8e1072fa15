// safetensors: an 8-byte little-endian header length, a JSON header {name: {dtype, shape,
// data_offsets: [begin, end]}} (offsets relative to the data section), then the raw tensor bytes.
// Reading validates everything a truncated or corrupted file can get wrong, naming file and tensor.
import { f16Value } from '../backend/f16.ts';

export interface NamedTensor {
  data: Float32Array;
  shape: number[];
}

/** A tensor as stored: its dtype and little-endian bytes (quantized weights: I8 codes, U8 nibbles, F16 scales). */
export interface RawTensor {
  dtype: SafetensorsDType;
  shape: number[];
  bytes: Uint8Array;
}

export type SafetensorsDType = 'F32' | 'F16' | 'BF16' | 'F64' | 'I32' | 'I64' | 'I8' | 'U8';
const BYTES: Record<SafetensorsDType, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I32: 4, I64: 8, I8: 1, U8: 1 };

/** Parse safetensors bytes into f32 tensors (F16, BF16 and F64 are widened/narrowed to f32; integer dtypes are refused). */
export function readSafetensors(bytes: Uint8Array, file = 'safetensors'): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  const raw = readSafetensorsRaw(bytes, file);
  return { tensors: floatTensors(raw.tensors, file), metadata: raw.metadata };
}

/** Raw float tensors as f32 ones (a tensor of another dtype is an error naming it). */
export function floatTensors(raw: Map<string, RawTensor>, file: string): Map<string, NamedTensor> {
  const tensors = new Map<string, NamedTensor>();
  for (const [name, t] of raw) {
    if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16' && t.dtype !== 'F64') throw new Error(`${file}: tensor ${name} has unsupported dtype ${JSON.stringify(t.dtype)}`);
    tensors.set(name, { data: rawToF32(t), shape: t.shape });
  }
  return tensors;
}

/** A float tensor's values as f32. */
export function rawToF32(t: RawTensor): Float32Array {
  if (t.dtype !== 'F32' && t.dtype !== 'F64' && t.dtype !== 'F16' && t.dtype !== 'BF16') throw new TypeError(`a ${t.dtype} tensor is not floating point`);
  const dv = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength), n = t.bytes.byteLength / BYTES[t.dtype];
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    data[i] = t.dtype === 'F32' ? dv.getFloat32(i * 4, true) : t.dtype === 'F64' ? dv.getFloat64(i * 8, true) : t.dtype === 'F16' ? f16Value(dv.getUint16(i * 2, true)) : new Float32Array(new Uint32Array([dv.getUint16(i * 2, true) << 16]).buffer)[0];
  }
  return data;
}

/** A tensor entry of a safetensors header, validated: data offsets relative to the data section. */
interface HeaderEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

/** Parses and validates a header (everything but whether the data section is long enough). */
function parseHeader(headerBytes: Uint8Array, file: string): { entries: HeaderEntry[]; metadata: Record<string, string> } {
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (err) {
    throw new Error(`${file}: corrupted header (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new Error(`${file}: corrupted header (not a JSON object)`);
  const entries: HeaderEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = info as Record<string, string>;
      continue;
    }
    const t = info as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const width = Object.hasOwn(BYTES, t?.dtype) ? BYTES[t.dtype as SafetensorsDType] : 0;
    if (!width) throw new Error(`${file}: tensor ${name} has unsupported dtype ${JSON.stringify(t?.dtype)}`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`${file}: tensor ${name} has an invalid shape`);
    const [b, e] = t.data_offsets ?? [];
    const n = t.shape.reduce((x, y) => x * y, 1);
    if (!Number.isInteger(b) || !Number.isInteger(e) || b < 0 || e < b) throw new Error(`${file}: tensor ${name} has invalid data_offsets`);
    if (e - b !== n * width) throw new Error(`${file}: tensor ${name} holds ${e - b} bytes, its shape [${t.shape}] of ${t.dtype} needs ${n * width}`);
    entries.push({ name, dtype: t.dtype as SafetensorsDType, shape: t.shape, begin: b, end: e });
  }
  return { entries, metadata };
}

/** Parse safetensors bytes into raw tensors (views into `bytes`), validating the header against the data. */
export function readSafetensorsRaw(bytes: Uint8Array, file = 'safetensors'): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new Error(`${file}: truncated (${bytes.length} bytes, no header)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = Number(dv.getBigUint64(0, true));
  if (hlen > bytes.length - 8) throw new Error(`${file}: truncated or corrupted (header of ${hlen} bytes in a file of ${bytes.length})`);
  const { entries, metadata } = parseHeader(bytes.subarray(8, 8 + hlen), file);
  const dataStart = 8 + hlen, dataLen = bytes.length - dataStart;
  const tensors = new Map<string, RawTensor>();
  for (const t of entries) {
    if (t.end > dataLen) throw new Error(`${file}: truncated: tensor ${t.name} ends at byte ${t.end} of a data section of ${dataLen}`);
    tensors.set(t.name, { dtype: t.dtype, shape: t.shape, bytes: bytes.subarray(dataStart + t.begin, dataStart + t.end) });
  }
  return { tensors, metadata };
}

/**
 * A piece of a tensor's bytes as a stream delivers it: bytes [offset, offset + bytes.length) of `total`,
 * valid until the next piece is read (a byte stream's reader reuses one buffer).
 */
export interface TensorPiece {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  offset: number;
  total: number;
  bytes: Uint8Array;
}

/**
 * Reads safetensors from a stream (a fetch body): the header first, then the tensors in data order, in
 * pieces of at most `pieceBytes` as their bytes arrive — what is held at a time is one piece, never the
 * whole file (a reader may assemble a tensor from its pieces, or use them as they come).
 */
export async function streamSafetensors(stream: ReadableStream<Uint8Array>, file = 'safetensors', pieceBytes = 1 << 20): Promise<{ metadata: Record<string, string>; names: string[]; tensors: AsyncGenerator<TensorPiece> }> {
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
  let chunk: Uint8Array = new Uint8Array(0), at = 0; // default reader: the unread part of the current chunk is chunk[at..]
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
  const len = await take(8);
  if (!len) throw new Error(`${file}: truncated (no header)`);
  const hlen = Number(new DataView(len.buffer, len.byteOffset, 8).getBigUint64(0, true));
  if (hlen > 100_000_000) throw new Error(`${file}: corrupted (a header of ${hlen} bytes)`);
  const hb = await take(hlen);
  if (!hb) throw new Error(`${file}: truncated or corrupted (the stream ends inside a header of ${hlen} bytes)`);
  const { entries, metadata } = parseHeader(hb, file);
  entries.sort((x, y) => x.begin - y.begin);
  for (let i = 1; i < entries.length; i++) {
    if (entries[i].begin < entries[i - 1].end) throw new Error(`${file}: tensors ${entries[i - 1].name} and ${entries[i].name} overlap`);
  }
  async function* tensors(): AsyncGenerator<TensorPiece> {
    let pos = 0;
    try {
      for (const t of entries) {
        if (t.begin > pos && !(await take(t.begin - pos))) throw new Error(`${file}: truncated before tensor ${t.name}`);
        const total = t.end - t.begin;
        for (let off = 0; off < total || (total === 0 && off === 0); off += pieceBytes) {
          const bytes = await take(Math.min(pieceBytes, total - off));
          if (!bytes) throw new Error(`${file}: truncated: the stream ends inside tensor ${t.name}`);
          yield { name: t.name, dtype: t.dtype, shape: t.shape, offset: off, total, bytes };
          if (total === 0) break;
        }
        pos = t.end;
      }
    } finally {
      (byob ?? reader)!.releaseLock();
      void stream.cancel().catch(() => undefined);
    }
  }
  return { metadata, names: entries.map((e) => e.name), tensors: tensors() };
}

/**
 * Serialize tensors: f32 ones (NamedTensor) and raw ones, sorted by name, 8-byte aligned header, as the
 * reference implementation does; `dataOrder` (every name once) lays the data out in another order.
 */
export function writeSafetensors(tensors: Map<string, NamedTensor | RawTensor>, metadata?: Record<string, string>, dataOrder?: string[]): Uint8Array {
  const names = dataOrder ?? [...tensors.keys()].sort();
  if (dataOrder && (dataOrder.length !== tensors.size || !dataOrder.every((n) => tensors.has(n)))) throw new Error('writeSafetensors: dataOrder must name every tensor once');
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  const parts = new Map<string, Uint8Array>();
  for (const n of names) {
    const t = tensors.get(n)!;
    const expected = t.shape.reduce((x, y) => x * y, 1);
    const raw = 'bytes' in t ? t : { dtype: 'F32' as const, shape: t.shape, bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) };
    if ('data' in t && expected !== t.data.length) throw new Error(`tensor ${n}: shape [${t.shape}] needs ${expected} values, has ${t.data.length}`);
    if (!Object.hasOwn(BYTES, raw.dtype)) throw new Error(`tensor ${n}: unsupported dtype ${raw.dtype}`);
    if (raw.bytes.byteLength !== expected * BYTES[raw.dtype]) throw new Error(`tensor ${n}: shape [${t.shape}] of ${raw.dtype} needs ${expected * BYTES[raw.dtype]} bytes, has ${raw.bytes.byteLength}`);
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
