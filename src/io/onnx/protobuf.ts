// A minimal protobuf wire-format encoder and decoder, just what ONNX files need.
//
// Why not a library: ONNX uses five wire features (varint, 64-bit, length-delimited, 32-bit, packed
// repeats) and a dozen message types. protobufjs — the obvious candidate — is present here only as a
// transitive dependency of onnxruntime-web, so depending on it would be an undeclared dependency; it
// also decodes into objects by copying every `bytes` field, which for a 500 MB `raw_data` means a
// second copy of the model, and it needs either a .proto parse at run time or generated code. The
// ~200 lines below have no dependencies, run unchanged in every runtime, write large tensors without
// copying them twice (an encoded message is a list of byte chunks, joined once at the end), and read
// `bytes` fields as views into the file. Errors carry byte offsets, so a truncated file says where.

// ---- writing ------------------------------------------------------------------------------------

const WT_VARINT = 0,
  WT_I64 = 1,
  WT_LEN = 2,
  WT_I32 = 5;

/** A message under construction: a list of byte chunks; small writes are batched in a scratch buffer. */
export class PbWriter {
  readonly parts: Uint8Array[] = [];
  /** bytes already moved into `parts` */
  private flushed = 0;
  private buf = new Uint8Array(1024);
  private pos = 0;

  /** the encoded size so far */
  get length(): number {
    return this.flushed + this.pos;
  }
  private flush(): void {
    if (this.pos > 0) {
      this.parts.push(this.buf.slice(0, this.pos));
      this.flushed += this.pos;
      this.pos = 0;
    }
  }
  private room(n: number): void {
    if (this.pos + n > this.buf.length) this.flush();
  }
  private rawVarint(v: number | bigint): void {
    this.room(10);
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0x7fffffff) {
      let n = v;
      while (n >= 0x80) {
        this.buf[this.pos++] = (n & 0x7f) | 0x80;
        n >>>= 7;
      }
      this.buf[this.pos++] = n;
      return;
    }
    // negative int64 values are encoded as their two's complement in 10 bytes, as protobuf does
    let x = BigInt.asUintN(64, BigInt(v));
    while (x >= 0x80n) {
      this.buf[this.pos++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.pos++] = Number(x);
  }
  private tag(field: number, wt: number): void {
    this.rawVarint(field * 8 + wt);
  }
  private chunk(bytes: Uint8Array): void {
    if (bytes.length < 64) {
      this.room(bytes.length);
      this.buf.set(bytes, this.pos);
      this.pos += bytes.length;
      return;
    }
    this.flush();
    this.parts.push(bytes);
    this.flushed += bytes.length;
  }

  varint(field: number, v: number | bigint): this {
    this.tag(field, WT_VARINT);
    this.rawVarint(v);
    return this;
  }
  float32(field: number, v: number): this {
    this.tag(field, WT_I32);
    this.room(4);
    new DataView(this.buf.buffer).setFloat32(this.pos, v, true);
    this.pos += 4;
    return this;
  }
  /** A bytes field; large payloads are referenced, not copied, until `toBytes`. */
  bytes(field: number, data: Uint8Array): this {
    this.tag(field, WT_LEN);
    this.rawVarint(data.length);
    this.chunk(data);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  message(field: number, m: PbWriter): this {
    m.flush();
    this.tag(field, WT_LEN);
    this.rawVarint(m.length);
    for (const p of m.parts) this.chunk(p);
    return this;
  }
  /** The whole message as one buffer (one allocation, one copy of each chunk). */
  toBytes(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.flushed);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

// ---- reading ------------------------------------------------------------------------------------

/** One decoded field: varints as bigint, fixed32/64 as raw bytes, length-delimited as a view. */
export interface PbField {
  field: number;
  wire: number;
  /** WT_VARINT */
  int?: bigint;
  /** WT_LEN, WT_I32, WT_I64: a view into the source buffer */
  bytes?: Uint8Array;
  /** byte offset of the field's value in the outermost buffer (for error messages) */
  offset: number;
}

export class PbDecodeError extends Error {}

/** More fields than any message of a real ONNX model has (a graph's nodes are capped separately). */
export const MAX_FIELDS = 1 << 19;

/**
 * Walks a message's fields (one level deep) without allocating per field: `visit` gets the field
 * number, the wire type, the value's byte range in `buf` and, for varints, the value. `base` is the
 * offset of `buf` within the file, so errors name absolute positions.
 */
export function walkFields(
  buf: Uint8Array,
  base: number,
  what: string,
  visit: (field: number, wire: number, start: number, end: number, int?: bigint) => void,
): void {
  let p = 0;
  // keys and lengths as doubles (exact below 2^53; anything larger is refused anyway), values as bigints
  const skipVarint = (): number => {
    let x = 0,
      scale = 1;
    for (let i = 0; i < 10; i++) {
      if (p >= buf.length) throw new PbDecodeError(`truncated ${what}: a varint at byte ${base + p} runs past the end of the data`);
      const b = buf[p++];
      x += (b & 0x7f) * scale;
      if (b < 0x80) return x;
      scale *= 128;
    }
    throw new PbDecodeError(`malformed ${what}: a varint at byte ${base + p} is longer than 10 bytes`);
  };
  const bigVarint = (from: number): bigint => {
    let x = 0n,
      shift = 0n;
    for (let q = from; q < p; q++) {
      x |= BigInt(buf[q] & 0x7f) << shift;
      shift += 7n;
    }
    return BigInt.asUintN(64, x);
  };
  while (p < buf.length) {
    const start = p;
    const key = skipVarint();
    const field = Math.floor(key / 8),
      wire = key % 8;
    if (field === 0) throw new PbDecodeError(`malformed ${what}: field number 0 at byte ${base + start}`);
    if (field >= 2 ** 29) throw new PbDecodeError(`malformed ${what}: field number ${field} at byte ${base + start} is out of range`);
    if (wire === WT_VARINT) {
      const off = p;
      skipVarint();
      visit(field, wire, off, p, bigVarint(off));
      continue;
    }
    let n: number, kind: string;
    if (wire === WT_LEN) [n, kind] = [skipVarint(), 'length-delimited'];
    else if (wire === WT_I64) [n, kind] = [8, 'fixed64'];
    else if (wire === WT_I32) [n, kind] = [4, 'fixed32'];
    else throw new PbDecodeError(`malformed ${what}: unsupported wire type ${wire} for field ${field} at byte ${base + start}`);
    if (n > buf.length - p) {
      throw new PbDecodeError(
        `truncated ${what}: field ${field} (${kind}, ${n} bytes) at byte ${base + p} runs past the end of the data (${base + buf.length})`,
      );
    }
    visit(field, wire, p, p + n);
    p += n;
  }
}

/** How many fields of each number a message holds (checked before anything is decoded). */
export function countFields(buf: Uint8Array, base = 0, what = 'message'): Map<number, number> {
  const counts = new Map<number, number>();
  walkFields(buf, base, what, (field) => counts.set(field, (counts.get(field) ?? 0) + 1));
  return counts;
}

/** Splits a message into its fields (one level deep); at most `maxFields` of them. */
export function decodeFields(buf: Uint8Array, base = 0, what = 'message', maxFields = MAX_FIELDS): PbField[] {
  const out: PbField[] = [];
  walkFields(buf, base, what, (field, wire, start, end, int) => {
    if (out.length >= maxFields) throw new PbDecodeError(`${what} at byte ${base} holds more than ${maxFields} fields`);
    out.push(wire === WT_VARINT ? { field, wire, int, offset: base + start } : { field, wire, bytes: buf.subarray(start, end), offset: base + start });
  });
  return out;
}

/** How many integers a repeated varint field holds, packed or not (nothing is decoded). */
export function countVarints(fields: PbField[], field: number, what: string): number {
  let n = 0;
  for (const f of fields) {
    if (f.field !== field) continue;
    if (f.wire === WT_VARINT) n++;
    else if (f.wire === WT_LEN) for (const b of f.bytes!) n += b < 0x80 ? 1 : 0;
    else throw new PbDecodeError(`malformed ${what}: field ${field} has wire type ${f.wire}, expected integers`);
  }
  return n;
}

/** Repeated integer field, packed or not; at most `max` values (counted before they are read). */
export function readInts(fields: PbField[], field: number, what: string, max = MAX_FIELDS): bigint[] {
  const n = countVarints(fields, field, what);
  if (n > max) throw new PbDecodeError(`${what}: ${n} values in field ${field}, more than the limit of ${max}`);
  const out: bigint[] = [];
  for (const f of fields) {
    if (f.field !== field) continue;
    if (f.wire === WT_VARINT) out.push(f.int!);
    else {
      const b = f.bytes!;
      let p = 0;
      while (p < b.length) {
        let x = 0n,
          shift = 0n,
          done = false;
        for (let i = 0; i < 10 && p < b.length; i++) {
          const c = b[p++];
          x |= BigInt(c & 0x7f) << shift;
          shift += 7n;
          if (c < 0x80) {
            done = true;
            break;
          }
        }
        if (!done) throw new PbDecodeError(`truncated ${what}: packed varint at byte ${f.offset + p}`);
        out.push(x);
      }
    }
  }
  return out;
}

/** How many values a repeated fixed-width field (fixed32: 4 bytes, fixed64: 8) holds, packed or not. */
export function countFixed(fields: PbField[], field: number, width: 4 | 8, what: string): number {
  let n = 0;
  for (const f of fields) {
    if (f.field !== field) continue;
    if (f.wire !== WT_LEN && f.wire !== (width === 4 ? WT_I32 : WT_I64))
      throw new PbDecodeError(`malformed ${what}: field ${field} has wire type ${f.wire}, expected ${width === 4 ? 'fixed32' : 'fixed64'} values`);
    if (f.bytes!.length % width !== 0)
      throw new PbDecodeError(`malformed ${what}: packed field ${field} at byte ${f.offset} holds ${f.bytes!.length} bytes, not a multiple of ${width}`);
    n += f.bytes!.length / width;
  }
  return n;
}

/** Repeated fixed-width floats (fixed32 float or fixed64 double) into `out`, which countFixed sized. */
export function readFixedFloats(fields: PbField[], field: number, width: 4 | 8, out: Float32Array): void {
  let o = 0;
  for (const f of fields) {
    if (f.field !== field) continue;
    const b = f.bytes!,
      dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    for (let i = 0; i + width <= b.length; i += width) out[o++] = width === 4 ? dv.getFloat32(i, true) : dv.getFloat64(i, true);
  }
}

export const toSigned64 = (x: bigint): bigint => BigInt.asIntN(64, x);

export const decodeString = (b: Uint8Array): string => new TextDecoder().decode(b);
