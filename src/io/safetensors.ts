// safetensors: an 8-byte little-endian header length, a JSON header {name: {dtype, shape,
// data_offsets: [begin, end]}} (offsets relative to the data section), then the raw tensor bytes.
// Reading validates everything a truncated or corrupted file can get wrong, naming file and tensor.

export interface NamedTensor {
  data: Float32Array;
  shape: number[];
}

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I32: 4, I64: 8 };

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Parse safetensors bytes into f32 tensors (F16, BF16 and F64 are widened/narrowed to f32). */
export function readSafetensors(bytes: Uint8Array, file = 'safetensors'): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new Error(`${file}: truncated (${bytes.length} bytes, no header)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = Number(dv.getBigUint64(0, true));
  if (hlen > bytes.length - 8) throw new Error(`${file}: truncated or corrupted (header of ${hlen} bytes in a file of ${bytes.length})`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + hlen)));
  } catch (err) {
    throw new Error(`${file}: corrupted header (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new Error(`${file}: corrupted header (not a JSON object)`);
  const dataStart = 8 + hlen, dataLen = bytes.length - dataStart;
  const tensors = new Map<string, NamedTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = info as Record<string, string>;
      continue;
    }
    const t = info as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const width = BYTES[t?.dtype];
    if (!width || t.dtype === 'I32' || t.dtype === 'I64') throw new Error(`${file}: tensor ${name} has unsupported dtype ${JSON.stringify(t?.dtype)}`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`${file}: tensor ${name} has an invalid shape`);
    const [b, e] = t.data_offsets ?? [];
    const n = t.shape.reduce((x, y) => x * y, 1);
    if (!Number.isInteger(b) || !Number.isInteger(e) || b < 0 || e < b) throw new Error(`${file}: tensor ${name} has invalid data_offsets`);
    if (e - b !== n * width) throw new Error(`${file}: tensor ${name} holds ${e - b} bytes, its shape [${t.shape}] of ${t.dtype} needs ${n * width}`);
    if (e > dataLen) throw new Error(`${file}: truncated: tensor ${name} ends at byte ${e} of a data section of ${dataLen}`);
    const data = new Float32Array(n);
    const off = dataStart + b;
    for (let i = 0; i < n; i++) {
      const p = off + i * width;
      data[i] = t.dtype === 'F32' ? dv.getFloat32(p, true) : t.dtype === 'F64' ? dv.getFloat64(p, true) : t.dtype === 'F16' ? f16ToF32(dv.getUint16(p, true)) : new Float32Array(new Uint32Array([dv.getUint16(p, true) << 16]).buffer)[0];
    }
    tensors.set(name, { data, shape: t.shape });
  }
  return { tensors, metadata };
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
