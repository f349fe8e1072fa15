// ONNX import validates before it allocates: node and initializer counts are capped before anything is
// decoded, each declared tensor size is checked (dimensions, checked arithmetic, against the bytes
// actually present) before an array is made, and errors name the file and the initializer or node
// (issue 14, finding 4).
import { exportOnnx } from '../../src/io/onnx/export.ts';
import { importOnnx, OnnxImportError, ONNX_LIMITS } from '../../src/io/onnx/import.ts';
import { graphProto, nodeProto, tensorProto } from '../../src/io/onnx/onnx-proto.ts';
import { PbWriter } from '../../src/io/onnx/protobuf.ts';
import { toHF } from '../../src/io/hf-names.ts';
import { assert, assertEqual, test } from '../lib/harness.ts';
import { tinyModel } from '../lib/helpers.ts';
import { assertFileError } from '../lib/file-errors.ts';

function model(graph: PbWriter | Uint8Array): Uint8Array {
  const w = new PbWriter().varint(1, 8).string(2, 'test');
  if (graph instanceof PbWriter) w.message(7, graph);
  else w.bytes(7, graph);
  w.message(8, new PbWriter().string(1, '').varint(2, 17));
  return w.toBytes();
}

/** A raw TensorProto: any dims (negative and huge included), float32, the given raw bytes. */
function rawTensor(name: string, dims: number[], raw: Uint8Array): PbWriter {
  const w = new PbWriter();
  for (const d of dims) w.varint(1, BigInt(d));
  return w.varint(2, 1).string(8, name).bytes(9, raw);
}

/** An OnnxImportError (a FileFormatError) naming `file`. */
async function assertOnnxError(fn: () => unknown, file: string, pattern: RegExp): Promise<void> {
  assert((await assertFileError(fn, file, pattern)) instanceof OnnxImportError, "OnnxImportError is the ONNX reader's FileFormatError");
}

const tinyInits = () =>
  [...tinyModel().specs].map((s) => tensorProto(`transformer.${toHF(s.name, 'openai-gpt')}`, new Float32Array(s.shape.reduce((a, b) => a * b, 1)), s.shape));

test('ONNX: an 8 MB file of empty nodes is rejected from a count, before any node is decoded', async () => {
  const n = 4 << 20; // 4,194,304 empty NodeProtos (2 bytes each)
  const graph = new Uint8Array(2 * n);
  for (let i = 0; i < n; i++) graph[2 * i] = 0x0a; // field 1 (node), length 0
  const t0 = Date.now();
  await assertOnnxError(
    () => importOnnx(model(graph), { file: 'nodes.onnx' }),
    'nodes.onnx',
    new RegExp(`graph holds 4194304 nodes, more than the limit of ${ONNX_LIMITS.nodes}`),
  );
  // generous for a loaded CI machine (~0.3 s idle): 73110d9 decoded every node, 14-33 s and 1.7 GB
  assert(Date.now() - t0 < 10_000, `rejected in ${Date.now() - t0} ms`);
  // a few empty nodes: the first one is named
  const few = graphProto({ name: 'g', nodes: [new PbWriter(), new PbWriter()], initializers: tinyInits(), inputs: [], outputs: [] });
  await assertOnnxError(() => importOnnx(model(few), { file: 'few.onnx', nHead: 4 }), 'few.onnx', /node 0 has no op_type/);
});

test('ONNX: declared tensor sizes are checked against the bytes before allocation, naming the initializer', async () => {
  const inits = tinyInits();
  const cases: [number[], RegExp][] = [
    [[-128, 32], /initializer "transformer\.tokens_embed\.weight": dimension -128 is negative/],
    [[1e12, 32], /initializer "transformer\.tokens_embed\.weight": dims \[1000000000000,32\] make 32000000000000 elements, more than the limit/],
    [[1e9, 4], /initializer "transformer\.tokens_embed\.weight": dims \[1000000000,4\] of float32 need 16000000000 bytes, raw_data holds 8/],
    [[2 ** 62, 2 ** 62], /more than the limit/],
  ];
  for (const [dims, pattern] of cases) {
    const bad = rawTensor('transformer.tokens_embed.weight', dims, new Uint8Array(8));
    const t0 = Date.now();
    await assertOnnxError(
      () =>
        importOnnx(model(graphProto({ name: 'g', nodes: [], initializers: [bad, ...inits.slice(1)], inputs: [], outputs: [] })), {
          file: 'big.onnx',
          nHead: 4,
        }),
      'big.onnx',
      pattern,
    );
    assert(Date.now() - t0 < 5000, `rejected in ${Date.now() - t0} ms`);
  }
  // typed float_data: the count is checked before the values are read
  const typed = new PbWriter().varint(1, 67).varint(1, 32).varint(2, 1).string(8, 'transformer.tokens_embed.weight').bytes(4, new Uint8Array(12));
  await assertOnnxError(
    () =>
      importOnnx(model(graphProto({ name: 'g', nodes: [], initializers: [typed, ...inits.slice(1)], inputs: [], outputs: [] })), { file: 't.onnx', nHead: 4 }),
    't.onnx',
    /initializer "transformer\.tokens_embed\.weight": dims \[67,32\] need 2144 values, float_data holds 3/,
  );
});

test('ONNX: a malformed node names the node (index and name)', async () => {
  const badValue = rawTensor('', [-1], new Uint8Array(0));
  const constant = nodeProto('Constant', [], ['c_out'], 'const_7', { value: { t: badValue } });
  const g = graphProto({ name: 'g', nodes: [nodeProto('Identity', ['a'], ['b'], 'id_0'), constant], initializers: tinyInits(), inputs: [], outputs: [] });
  await assertOnnxError(
    () => importOnnx(model(g), { file: 'n.onnx', nHead: 4 }),
    'n.onnx',
    /node 1 \("const_7", Constant\): attribute "value": dimension -1 is negative/,
  );
});

test('ONNX: non-finite weights are an error naming the initializer (allowed on request)', async () => {
  const m = tinyModel({}, 2);
  const p = await m.readParams();
  p.get('h.0.mlp.c_fc.bias')![3] = Infinity;
  m.writeParams(p);
  const bytes = await exportOnnx(m);
  await assertOnnxError(
    () => importOnnx(bytes, { file: 'inf.onnx' }),
    'inf.onnx',
    /initializer "transformer\.h\.0\.mlp\.c_fc\.bias" holds a non-finite value \(Infinity\) at index 3/,
  );
  const ok = importOnnx(bytes, { file: 'inf.onnx', allowNonFinite: true });
  assertEqual(ok.weights.get('h.0.mlp.c_fc.bias')![3], Infinity);
});

test('ONNX: every rejection of a damaged export is our error type naming the file', async () => {
  const bytes = await exportOnnx(tinyModel({ layout: 'pre-ln' }, 3));
  for (const frac of [0, 0.001, 0.3, 0.7, 0.9999]) {
    const cut = bytes.slice(0, Math.floor(bytes.length * frac));
    await assertOnnxError(() => importOnnx(cut, { file: 'cut.onnx' }), 'cut.onnx', /cut\.onnx: /);
  }
});
