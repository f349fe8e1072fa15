// The ONNX messages gptedge writes and reads, with field numbers from onnx/onnx.proto (IR version 8+).
// Writing: small builders over PbWriter. Reading: a lazy view of ModelProto — initializers keep their
// data as views into the file until a caller asks for floats.
import { f16Value } from '../../backend/f16.ts';
import { FileFormatError, quote } from '../errors.ts';
import {
  PbDecodeError,
  PbWriter,
  countFields,
  countFixed,
  countVarints,
  decodeFields,
  decodeString,
  readFixedFloats,
  readInts,
  toSigned64,
  type PbField,
} from './protobuf.ts';

/** TensorProto.DataType values used here */
export const DT = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10, DOUBLE: 11, BFLOAT16: 16 } as const;
const DT_NAMES: Record<number, string> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  16: 'bfloat16',
  17: 'float8e4m3fn',
  19: 'float8e5m2',
  21: 'uint4',
  22: 'int4',
};
export const dtypeName = (t: number): string => DT_NAMES[t] ?? `data type ${t}`;

// ---- writing ------------------------------------------------------------------------------------

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Raw little-endian bytes of a typed array (a view when the platform is little-endian). */
function leBytes(a: Float32Array | BigInt64Array | Int32Array | Int8Array): Uint8Array {
  if (LITTLE_ENDIAN || a instanceof Int8Array) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const out = new Uint8Array(a.byteLength),
    dv = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) {
    if (a instanceof Float32Array) dv.setFloat32(4 * i, a[i], true);
    else if (a instanceof Int32Array) dv.setInt32(4 * i, a[i], true);
    else dv.setBigInt64(8 * i, a[i], true);
  }
  return out;
}

export function tensorProto(name: string, data: Float32Array | BigInt64Array | Int32Array | Int8Array, dims: number[]): PbWriter {
  const w = new PbWriter();
  for (const d of dims) w.varint(1, d);
  w.varint(2, data instanceof Float32Array ? DT.FLOAT : data instanceof Int32Array ? DT.INT32 : data instanceof Int8Array ? DT.INT8 : DT.INT64);
  w.string(8, name);
  w.bytes(9, leBytes(data));
  return w;
}

export type Dim = number | string;

export function valueInfo(name: string, elemType: number, dims: Dim[]): PbWriter {
  const shape = new PbWriter();
  for (const d of dims) shape.message(1, typeof d === 'number' ? new PbWriter().varint(1, d) : new PbWriter().string(2, d));
  const tensorType = new PbWriter().varint(1, elemType).message(2, shape);
  return new PbWriter().string(1, name).message(2, new PbWriter().message(1, tensorType));
}

export type AttrValue = { f: number } | { i: number } | { ints: number[] } | { s: string } | { t: PbWriter };

const ATTR_TYPE = { f: 1, i: 2, s: 3, t: 4, ints: 7 } as const;

export function attribute(name: string, v: AttrValue): PbWriter {
  const w = new PbWriter().string(1, name);
  if ('f' in v) w.float32(2, v.f).varint(20, ATTR_TYPE.f);
  else if ('i' in v) w.varint(3, v.i).varint(20, ATTR_TYPE.i);
  else if ('s' in v) w.string(4, v.s).varint(20, ATTR_TYPE.s);
  else if ('t' in v) w.message(5, v.t).varint(20, ATTR_TYPE.t);
  else {
    for (const x of v.ints) w.varint(8, x);
    w.varint(20, ATTR_TYPE.ints);
  }
  return w;
}

export function nodeProto(op: string, inputs: string[], outputs: string[], name: string, attrs: Record<string, AttrValue> = {}): PbWriter {
  const w = new PbWriter();
  for (const i of inputs) w.string(1, i);
  for (const o of outputs) w.string(2, o);
  w.string(3, name).string(4, op);
  for (const [k, v] of Object.entries(attrs)) w.message(5, attribute(k, v));
  return w;
}

export interface GraphParts {
  name: string;
  doc?: string;
  nodes: PbWriter[];
  initializers: PbWriter[];
  inputs: PbWriter[];
  outputs: PbWriter[];
}

export function graphProto(g: GraphParts): PbWriter {
  const w = new PbWriter();
  for (const n of g.nodes) w.message(1, n);
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, t);
  if (g.doc) w.string(10, g.doc);
  for (const i of g.inputs) w.message(11, i);
  for (const o of g.outputs) w.message(12, o);
  return w;
}

export function modelProto(o: {
  irVersion: number;
  opset: number;
  producer: string;
  producerVersion: string;
  doc?: string;
  graph: PbWriter;
  metadata: Record<string, string>;
}): PbWriter {
  const w = new PbWriter().varint(1, o.irVersion).string(2, o.producer).string(3, o.producerVersion);
  if (o.doc) w.string(6, o.doc);
  w.message(7, o.graph);
  w.message(8, new PbWriter().string(1, '').varint(2, o.opset));
  for (const [k, v] of Object.entries(o.metadata)) w.message(14, new PbWriter().string(1, k).string(2, v));
  return w;
}

// ---- reading ------------------------------------------------------------------------------------
//
// Validate, then allocate: the graph's node and initializer counts are capped (counted without
// decoding) before any node is decoded; every message's field count is capped; each tensor's dims are
// checked (non-negative, a bounded product with exact arithmetic) and its declared size compared with
// the bytes actually present when it is read; data stay views into the file until asked for as floats.
// Content errors say where: `initializer "name"` or `node 3 ("name", Op): attribute "value"`.

/** Stated limits of what gptedge reads from an ONNX file. */
export const ONNX_LIMITS = {
  /** real GPT graphs have thousands (GPT-2 XL's decode graph: ~3k) */
  nodes: 1 << 16,
  initializers: 1 << 16,
  /** dimensions of one tensor */
  rank: 64,
  /** elements of one tensor: 2^32 (16 GiB of float32) */
  elements: 2 ** 32,
} as const;

/** A file's content is not what ONNX (or gptedge) allows; the message says where. */
export class OnnxContentError extends Error {}

/** A refusal of an ONNX file, naming it: a FileFormatError. */
export class OnnxImportError extends FileFormatError {
  constructor(file: string, detail: string, where: { field?: string } = {}) {
    super(file, detail, where);
    this.name = 'OnnxImportError';
  }
}

export interface OnnxTensor {
  name: string;
  dims: number[];
  dataType: number;
  /** raw_data as a view into the file, if present */
  raw: Uint8Array | null;
  /** the typed repeated fields (float_data, int32_data, int64_data, double_data) */
  fields: PbField[];
  external: boolean;
  externalLocation?: string;
  /** byte offset of the TensorProto in the file */
  offset: number;
  /** where it is, for messages: `initializer "name"` or `node 3 ("name", Constant): attribute "value"` */
  where: string;
}

export interface OnnxAttribute {
  name: string;
  type: number;
  f?: number;
  i?: bigint;
  s?: string;
  ints?: bigint[];
  t?: OnnxTensor;
}

export interface OnnxNode {
  op: string;
  domain: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, OnnxAttribute>;
}

export interface OnnxValueInfo {
  name: string;
  elemType: number;
  dims: Dim[];
}

export interface OnnxModel {
  irVersion: number;
  opsets: { domain: string; version: number }[];
  producer: string;
  metadata: Map<string, string>;
  graph: {
    name: string;
    /** decoded on first use */
    readonly nodes: OnnxNode[];
    initializers: OnnxTensor[];
    inputs: OnnxValueInfo[];
    outputs: OnnxValueInfo[];
  };
}

const str = (fs: PbField[], n: number): string => {
  const f = fs.filter((x) => x.field === n && x.wire === 2).pop();
  return f ? decodeString(f.bytes!) : '';
};
const strs = (fs: PbField[], n: number): string[] => fs.filter((x) => x.field === n && x.wire === 2).map((x) => decodeString(x.bytes!));
const int = (fs: PbField[], n: number): bigint | undefined => fs.filter((x) => x.field === n && x.wire === 0).pop()?.int;
const subs = (fs: PbField[], n: number): PbField[] => fs.filter((x) => x.field === n && x.wire === 2);

/** Width in bytes of one element of a data type's raw_data (0: not a fixed width gptedge knows). */
const WIDTH: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2 };

function readTensor(f: PbField, where: (name: string) => string): OnnxTensor {
  const fs = decodeFields(f.bytes!, f.offset, 'TensorProto');
  const name = str(fs, 8);
  const at = where(name);
  const fail = (detail: string): never => {
    throw new OnnxContentError(`${at}: ${detail}`);
  };
  const dims64 = readInts(fs, 1, `${at}: dims`, ONNX_LIMITS.rank).map(toSigned64);
  let elements = 1n;
  for (const d of dims64) {
    if (d < 0n) fail(`dimension ${d} is negative`);
    elements *= d;
  }
  if (elements > BigInt(ONNX_LIMITS.elements)) fail(`dims [${dims64}] make ${elements} elements, more than the limit of ${ONNX_LIMITS.elements}`);
  const dims = dims64.map(Number),
    n = Number(elements);
  const dataType = Number(int(fs, 2) ?? 0n);
  const raw = subs(fs, 9).pop()?.bytes ?? null;
  const loc = int(fs, 14);
  const ext = subs(fs, 13).map((e) => decodeFields(e.bytes!, e.offset, 'StringStringEntryProto'));
  const location = ext.find((e) => str(e, 1) === 'location');
  const external = loc === 1n || ext.length > 0;
  const fields = fs.filter((x) => x.field === 4 || x.field === 5 || x.field === 7 || x.field === 10);
  if (!external) {
    // the declared size against the bytes actually present, before anyone allocates by it
    const width = WIDTH[dataType] ?? 0;
    if (raw && width && raw.length !== n * width) fail(`dims [${dims}] of ${dtypeName(dataType)} need ${n * width} bytes, raw_data holds ${raw.length}`);
    if (!raw && (dataType === DT.FLOAT || dataType === DT.DOUBLE)) {
      const [field, w, label] = dataType === DT.FLOAT ? ([4, 4, 'float_data'] as const) : ([10, 8, 'double_data'] as const);
      const have = countFixed(fields, field, w, at);
      if (have !== n) fail(`dims [${dims}] need ${n} values, ${label} holds ${have}`);
    }
    if (!raw && (dataType === DT.INT32 || dataType === DT.INT64)) {
      const [field, label] = dataType === DT.INT32 ? ([5, 'int32_data'] as const) : ([7, 'int64_data'] as const);
      const have = countVarints(fields, field, at);
      if (have !== n) fail(`dims [${dims}] need ${n} values, ${label} holds ${have}`);
    }
  }
  return { name, dims, dataType, raw, fields, external, externalLocation: location ? str(location, 2) : undefined, offset: f.offset, where: at };
}

function readAttribute(f: PbField, where: string): OnnxAttribute {
  const fs = decodeFields(f.bytes!, f.offset, 'AttributeProto');
  const a: OnnxAttribute = { name: str(fs, 1), type: Number(int(fs, 20) ?? 0n) };
  const at = `${where}: attribute ${quote(a.name)}`;
  const ff = fs.find((x) => x.field === 2 && x.wire === 5);
  if (ff) a.f = new DataView(ff.bytes!.buffer, ff.bytes!.byteOffset, 4).getFloat32(0, true);
  const i = int(fs, 3);
  if (i !== undefined) a.i = toSigned64(i);
  const s = subs(fs, 4).pop();
  if (s) a.s = decodeString(s.bytes!);
  const t = subs(fs, 5).pop();
  if (t) a.t = readTensor(t, () => at);
  const ints = readInts(fs, 8, at);
  if (ints.length) a.ints = ints.map(toSigned64);
  return a;
}

function readNode(nf: PbField, index: number): OnnxNode {
  const fs = decodeFields(nf.bytes!, nf.offset, 'NodeProto');
  const op = str(fs, 4),
    name = str(fs, 3);
  if (!op) throw new OnnxContentError(`node ${index}${name ? ` (${quote(name)})` : ''} has no op_type`);
  const where = `node ${index} (${quote(name)}, ${op})`;
  const attrs = new Map<string, OnnxAttribute>();
  for (const a of subs(fs, 5)) {
    const at = readAttribute(a, where);
    attrs.set(at.name, at);
  }
  return { op, domain: str(fs, 7), name, inputs: strs(fs, 1), outputs: strs(fs, 2), attrs };
}

function readValueInfo(f: PbField): OnnxValueInfo {
  const fs = decodeFields(f.bytes!, f.offset, 'ValueInfoProto');
  const v: OnnxValueInfo = { name: str(fs, 1), elemType: 0, dims: [] };
  const type = subs(fs, 2).pop();
  if (!type) return v;
  const tt = subs(decodeFields(type.bytes!, type.offset, 'TypeProto'), 1).pop();
  if (!tt) return v;
  const tfs = decodeFields(tt.bytes!, tt.offset, 'TypeProto.Tensor');
  v.elemType = Number(int(tfs, 1) ?? 0n);
  const shape = subs(tfs, 2).pop();
  if (shape) {
    const dims = subs(decodeFields(shape.bytes!, shape.offset, 'TensorShapeProto'), 1);
    if (dims.length > ONNX_LIMITS.rank)
      throw new OnnxContentError(`value ${quote(v.name)}: ${dims.length} dimensions, more than the limit of ${ONNX_LIMITS.rank}`);
    for (const d of dims) {
      const dfs = decodeFields(d.bytes!, d.offset, 'Dimension');
      const val = int(dfs, 1);
      v.dims.push(val !== undefined ? Number(toSigned64(val)) : str(dfs, 2) || '?');
    }
  }
  return v;
}

/** Parses a ModelProto; initializer data stay views into `bytes`, nodes are decoded on first use. */
export function parseModel(bytes: Uint8Array): OnnxModel {
  const top = decodeFields(bytes, 0, 'ModelProto');
  const graphF = subs(top, 7).pop();
  if (!graphF) throw new PbDecodeError('no graph in the file (ModelProto.graph is missing)');
  const counts = countFields(graphF.bytes!, graphF.offset, 'GraphProto');
  const nNodes = counts.get(1) ?? 0,
    nInits = counts.get(5) ?? 0;
  if (nNodes > ONNX_LIMITS.nodes) throw new OnnxContentError(`the graph holds ${nNodes} nodes, more than the limit of ${ONNX_LIMITS.nodes}`);
  if (nInits > ONNX_LIMITS.initializers)
    throw new OnnxContentError(`the graph holds ${nInits} initializers, more than the limit of ${ONNX_LIMITS.initializers}`);
  const gfs = decodeFields(graphF.bytes!, graphF.offset, 'GraphProto');
  const metadata = new Map<string, string>();
  for (const m of subs(top, 14)) {
    const fs = decodeFields(m.bytes!, m.offset, 'StringStringEntryProto');
    metadata.set(str(fs, 1), str(fs, 2));
  }
  let nodes: OnnxNode[] | undefined;
  return {
    irVersion: Number(int(top, 1) ?? 0n),
    opsets: subs(top, 8).map((o) => {
      const fs = decodeFields(o.bytes!, o.offset, 'OperatorSetIdProto');
      return { domain: str(fs, 1), version: Number(toSigned64(int(fs, 2) ?? 0n)) };
    }),
    producer: str(top, 2),
    metadata,
    graph: {
      name: str(gfs, 2),
      get nodes() {
        return (nodes ??= subs(gfs, 1).map(readNode));
      },
      initializers: subs(gfs, 5).map((f) => readTensor(f, (name) => `initializer ${quote(name)}`)),
      inputs: subs(gfs, 11).map(readValueInfo),
      outputs: subs(gfs, 12).map(readValueInfo),
    },
  };
}

// ---- tensor values ------------------------------------------------------------------------------

/** A tensor's values as float32 (f32 exact; f16, bf16 and f64 converted). Sizes were checked when it was read. */
export function tensorFloats(t: OnnxTensor, file: string): Float32Array {
  const fail = (detail: string): never => {
    throw new OnnxImportError(file, `${t.where}: ${detail}`, { field: t.name });
  };
  if (t.external) {
    fail(
      `keeps its data in an external file (${t.externalLocation ?? 'location not given'}); ` +
        'gptedge reads self-contained .onnx files only — re-save the model with its weights inside (onnx.save_model(m, path, save_as_external_data=False))',
    );
  }
  const n = t.dims.reduce((a, b) => a * b, 1);
  const floatTypes = [DT.FLOAT, DT.DOUBLE, DT.FLOAT16, DT.BFLOAT16] as number[];
  if (!floatTypes.includes(t.dataType))
    fail(`is ${dtypeName(t.dataType)}; gptedge loads float32, float16, bfloat16 and float64 weights (quantized models are not supported)`);
  const out = new Float32Array(n);
  if (t.raw) {
    const b = t.raw,
      dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    if (t.dataType === DT.FLOAT) {
      if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(b);
      else for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
    } else if (t.dataType === DT.DOUBLE) for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true);
    else if (t.dataType === DT.FLOAT16) for (let i = 0; i < n; i++) out[i] = f16Value(dv.getUint16(2 * i, true));
    else {
      const u = new Uint32Array(1),
        f = new Float32Array(u.buffer);
      for (let i = 0; i < n; i++) {
        u[0] = dv.getUint16(2 * i, true) << 16;
        out[i] = f[0];
      }
    }
    return out;
  }
  if (t.dataType === DT.FLOAT) readFixedFloats(t.fields, 4, 4, out);
  else if (t.dataType === DT.DOUBLE) readFixedFloats(t.fields, 10, 8, out);
  else fail(`is ${dtypeName(t.dataType)} without raw_data; gptedge loads float32, float16, bfloat16 and float64 weights`);
  return out;
}

/** Small integer tensors (shape constants): int64 / int32 values. */
export function tensorInts(t: OnnxTensor): number[] | null {
  if (t.external) return null;
  if (t.raw) {
    const dv = new DataView(t.raw.buffer, t.raw.byteOffset, t.raw.byteLength);
    if (t.dataType === DT.INT64) return Array.from({ length: Math.floor(t.raw.length / 8) }, (_, i) => Number(dv.getBigInt64(8 * i, true)));
    if (t.dataType === DT.INT32) return Array.from({ length: Math.floor(t.raw.length / 4) }, (_, i) => dv.getInt32(4 * i, true));
    return null;
  }
  if (t.dataType === DT.INT64) return readInts(t.fields, 7, t.where, 64).map((x) => Number(toSigned64(x)));
  if (t.dataType === DT.INT32) return readInts(t.fields, 5, t.where, 64).map((x) => Number(BigInt.asIntN(32, x)));
  return null;
}
