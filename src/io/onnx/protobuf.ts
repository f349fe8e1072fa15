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

const WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5;

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

/**
 * Splits a message into its fields (one level deep). `base` is the offset of `buf` within the file,
 * so errors name absolute positions.
 */
export function decodeFields(buf: Uint8Array, base = 0, what = 'message'): PbField[] {
  const out: PbField[] = [];
  let p = 0;
  const readVarint = (): bigint => {
    let x = 0n, shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (p >= buf.length) throw new PbDecodeError(`truncated ${what}: a varint at byte ${base + p} runs past the end of the data`);
      const b = buf[p++];
      x |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return x;
      shift += 7n;
    }
    throw new PbDecodeError(`malformed ${what}: a varint at byte ${base + p} is longer than 10 bytes`);
  };
  while (p < buf.length) {
    const start = p;
    const key = readVarint();
    const field = Number(key >> 3n), wire = Number(key & 7n);
    if (field === 0) throw new PbDecodeError(`malformed ${what}: field number 0 at byte ${base + start}`);
    const need = (n: number, kind: string) => {
      if (p + n > buf.length) {
        throw new PbDecodeError(`truncated ${what}: field ${field} (${kind}, ${n} bytes) at byte ${base + p} runs past the end of the data (${base + buf.length})`);
      }
    };
    if (wire === WT_VARINT) {
      const off = p;
      out.push({ field, wire, int: readVarint(), offset: base + off });
    } else if (wire === WT_LEN) {
      const len = readVarint();
      if (len > BigInt(buf.length)) need(Number(len), 'length-delimited');
      const n = Number(len);
      need(n, 'length-delimited');
      out.push({ field, wire, bytes: buf.subarray(p, p + n), offset: base + p });
      p += n;
    } else if (wire === WT_I64) {
      need(8, 'fixed64');
      out.push({ field, wire, bytes: buf.subarray(p, p + 8), offset: base + p });
      p += 8;
    } else if (wire === WT_I32) {
      need(4, 'fixed32');
      out.push({ field, wire, bytes: buf.subarray(p, p + 4), offset: base + p });
      p += 4;
    } else {
      throw new PbDecodeError(`malformed ${what}: unsupported wire type ${wire} for field ${field} at byte ${base + start}`);
    }
  }
  return out;
}

/** Repeated integer field, packed or not. */
export function readInts(fields: PbField[], field: number, what: string): bigint[] {
  const out: bigint[] = [];
  for (const f of fields) {
    if (f.field !== field) continue;
    if (f.wire === WT_VARINT) out.push(f.int!);
    else if (f.wire === WT_LEN) {
      const b = f.bytes!;
      let p = 0;
      while (p < b.length) {
        let x = 0n, shift = 0n, done = false;
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
    } else throw new PbDecodeError(`malformed ${what}: field ${field} has wire type ${f.wire}, expected integers`);
  }
  return out;
}

/** Repeated float field (fixed32), packed or not. */
export function readFloats(fields: PbField[], field: number): number[] {
  const out: number[] = [];
  for (const f of fields) {
    if (f.field !== field) continue;
    const b = f.bytes!;
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    for (let i = 0; i + 4 <= b.length; i += 4) out.push(dv.getFloat32(i, true));
  }
  return out;
}

export const toSigned64 = (x: bigint): bigint => BigInt.asIntN(64, x);

export const decodeString = (b: Uint8Array): string => new TextDecoder().decode(b);
