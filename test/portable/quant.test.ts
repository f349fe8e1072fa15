// int8 / int4 weights (src/backend/quant.ts, src/io/quantized.ts): the quantizer's codes and layout, a
// quantized GPT on the reference backend (the oracle: it computes with the dequantized values), and
// model files that round-trip. The WASM kernels are checked against the reference in test/conformance.ts.
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import { dequantizeRows, quantizeRows, roundEven } from '../../src/backend/quant.ts';
import { f16Bits, f16Value } from '../../src/backend/f16.ts';
import { MemoryFileSystem } from '../../src/io/fs.ts';
import { loadCheckpoint, writeModelFiles } from '../../src/io/checkpoint.ts';
import { readRawTensor, readSafetensorsHeader, writeSafetensors, type RawTensor } from '../../src/io/safetensors.ts';
import { loadModel, loadModelStream } from '../../src/model/load.ts';
import { GPT } from '../../src/model/gpt.ts';
import { AdamW } from '../../src/train/optim.ts';
import { preset } from '../../src/model/config.ts';
import { assert, assertClose, assertEqual, assertRejects, assertThrows, randn, test } from '../lib/harness.ts';
import { tinyTokenizerJSON } from '../lib/helpers.ts';

/** a safetensors file's tensors as stored, and its metadata */
function readRaw(bytes: Uint8Array): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  const h = readSafetensorsHeader(bytes);
  return { tensors: new Map(h.entries.map((e) => [e.name, readRawTensor(bytes, h, e)])), metadata: h.metadata };
}

test('roundEven: ties go to the even neighbour', () => {
  assertEqual([2.5, 3.5, -2.5, -3.5, 0.5, -0.5, 2.4, -2.6].map(roundEven), [2, 4, -2, -4, 0, -0, 2, -3]);
});

test('q8: one f32 scale per row, max|row| is ±127, codes round to nearest (ties even), error ≤ scale/2, zero rows', () => {
  const K = 9;
  const data = Float32Array.from([127, 2.5, 3.5, -2.5, 1.2, -127, 0, 64.5, 65.5, /* row 1 */ ...new Array(K).fill(0), /* row 2 */ ...randn(K, 3)]);
  const q = quantizeRows('q8', data, 3, K);
  assertEqual(q.scales[0], 1);
  assertEqual(Array.from(q.codes.subarray(0, K)), [127, 2, 4, -2, 1, -127, 0, 64, 66]);
  assertEqual(q.scales[1], 0);
  assertEqual(Array.from(q.codes.subarray(K, 2 * K)), new Array(K).fill(0));
  const back = dequantizeRows('q8', q, 3, K);
  for (let k = 2 * K; k < 3 * K; k++) assert(Math.abs(back[k] - data[k]) <= q.scales[2] / 2 + 1e-7, `row 2 element ${k}`);
  assert(Math.max(...Array.from(q.codes.subarray(2 * K), Math.abs)) === 127, 'the row maximum takes code ±127');
  assertThrows(() => quantizeRows('q8', Float32Array.of(1, NaN), 1, 2), /non-finite/);
  assertThrows(() => quantizeRows('q8', new Float32Array(5), 2, 3), /5 values given/);
});

test('q4: Q4_0 groups of 32 — f16 scale max/-8, byte j = element j (low nibble) and j+16 (high), padding is code 8', () => {
  const K = 40; // one full group and one of 8 (zero-padded to 32)
  const row = new Float32Array(K);
  row[0] = -1.6; // the largest magnitude: scale = -1.6/-8 = 0.2 (as a half), itself code 0
  row[17] = 0.4; // 0.4/0.19995 = 2.0005 -> 2, code 10: high nibble of byte 1
  row[1] = 1.6; // 8.002 -> clamped to 7, code 15 (Q4_0's range is -8..7 scales)
  row[33] = -0.3; // group 1: scale 0.3/8 = 0.0375 -> half 0.03750610..., itself code 0
  row[39] = 0.1; // 0.1/0.0375 = 2.67 -> 3, code 11
  const q = quantizeRows('q4', row, 1, K);
  const d0 = f16Value(f16Bits(0.2)),
    d1 = f16Value(f16Bits(0.0375));
  assertEqual(Array.from(q.scales), [d0, d1]);
  assertEqual(q.codes.length, 32);
  assertEqual(q.codes[0], 0x80 | 0); // element 0 code 0, element 16 code 8
  assertEqual(q.codes[1], (10 << 4) | 15); // element 1 code 15, element 17 code 10
  assertEqual(q.codes[16 + 1], 0x80 | 0); // group 1: element 33 (j = 1) code 0, element 49 (padding) code 8
  assertEqual(q.codes[16 + 7], 0x80 | 11); // element 39 code 11
  assertEqual(q.codes[16 + 8], 0x88); // padding on both nibbles
  const back = dequantizeRows('q4', q, 1, K);
  assertEqual([back[0], back[1], back[17], back[33], back[39], back[2]], [-8 * d0, 7 * d0, 2 * d0, -8 * d1, 3 * d1, 0].map(Math.fround));
  // on random rows: error ≤ scale/2 except where -m clamps to code 15 (then ≤ scale)
  const r = randn(4 * 96, 5),
    qr = quantizeRows('q4', r, 4, 96),
    br = dequantizeRows('q4', qr, 4, 96);
  for (let i = 0; i < r.length; i++) assert(Math.abs(br[i] - r[i]) <= Math.abs(qr.scales[(i / 32) | 0]) * 1.0001, `element ${i}`);
});

const cfg = (layout: 'pre-ln' | 'post-ln') => preset('tiny', { layout, vocabSize: 67 });
const ids = Int32Array.from([5, 17, 3, 66, 0, 12, 40, 9, 9, 31]);
async function logits(m: GPT): Promise<Float32Array> {
  return m.forward(ids, 1, ids.length).allLogits();
}

for (const weights of ['int8', 'int4'] as const) {
  for (const layout of ['pre-ln', 'post-ln'] as const) {
    test(`GPT ${weights} (${layout}) on the reference: computes with the dequantized weights; readParams gives them in the [in, out] layout`, async () => {
      const be = new ReferenceBackend();
      const f32 = new GPT(be, cfg(layout)).init(3);
      const q = new GPT(be, cfg(layout), { weights });
      q.writeParams(await f32.readParams());
      const deq = await q.readParams();
      const same = new GPT(be, cfg(layout));
      same.writeParams(deq);
      // the f32 model holding the dequantized values computes what the quantized one does
      assertClose(await logits(q), await logits(same), { atol: 1e-5 }, 'logits');
      // and the dequantized values are near the originals, with the error of their kind
      const orig = await f32.readParams();
      for (const [name, v] of deq) {
        const o = orig.get(name)!;
        let err = 0,
          mx = 0;
        for (let i = 0; i < v.length; i++) {
          err = Math.max(err, Math.abs(v[i] - o[i]));
          mx = Math.max(mx, Math.abs(o[i]));
        }
        if (q.isQuantizedParam(name)) assert(err > 0 && err <= mx / (weights === 'int8' ? 127 : 8), `${name}: error ${err} for max ${mx}`);
        else assertEqual(err, 0, `${name} stays f32`);
      }
    });
  }

  test(`GPT ${weights}: training is refused; a backend without quantized storage is refused`, () => {
    const m = new GPT(new ReferenceBackend(), cfg('pre-ln'), { weights }).init(1);
    assertThrows(() => m.zeroGrad(), new RegExp(`stored in ${weights}, for inference; train with f32 weights`));
    assertThrows(() => new AdamW(m.be, [m.parameters()]), /for inference/);
    const noQuant = Object.defineProperty(new ReferenceBackend(), 'quantStorage', { value: false });
    assertThrows(() => new GPT(noQuant, cfg('pre-ln'), { weights }), new RegExp(`${weights} weights: backend reference has no quantized storage`));
  });

  test(`${weights} model files: written in the documented layout, loaded bit for bit, re-saved identically, or loaded as f32`, async () => {
    const be = new ReferenceBackend(),
      fs = new MemoryFileSystem();
    const src = new GPT(be, cfg('post-ln')).init(5);
    const q = new GPT(be, cfg('post-ln'), { weights });
    q.writeParams(await src.readParams());
    await fs.mkdir('m');
    await writeModelFiles(fs, 'm', q, tinyTokenizerJSON());
    const bytes = await fs.readFile('m/model.safetensors');
    const st = readRaw(bytes);
    assertEqual(st.metadata['gptedge.weights'], weights);
    const C = 32,
      G = 1,
      c_fc = st.tensors.get('h.0.mlp.c_fc.weight')!,
      s_fc = st.tensors.get('h.0.mlp.c_fc.weight_scale')!;
    // c_fc is [in 32, out 128] in f32 files; quantized it is (out, in): rows = output channels
    if (weights === 'int8') {
      assertEqual([c_fc.dtype, c_fc.shape, s_fc.dtype, s_fc.shape], ['I8', [128, C], 'F32', [128, 1]]);
    } else {
      assertEqual([c_fc.dtype, c_fc.shape, s_fc.dtype, s_fc.shape], ['U8', [128, G * 16], 'F16', [128, G]]);
    }
    assertEqual(st.tensors.get('tokens_embed.weight')!.shape[0], 67, 'the embedding keeps its [vocab, C] rows (GPT-1 names)');
    assertEqual(st.tensors.get('h.0.mlp.c_fc.bias')!.dtype, 'F32');
    const cfgJSON = JSON.parse(new TextDecoder().decode(await fs.readFile('m/config.json')));
    assertEqual(cfgJSON.quantization_config.weights, weights);

    const ck = await loadCheckpoint(fs, 'm');
    assertEqual(ck.quantized?.kind, weights);
    const { model } = await loadModel(fs, 'm', be);
    assertEqual(model.weights, weights, 'a quantized folder loads quantized');
    assertClose(await logits(model), await logits(q), { atol: 0 }, 'the same logits');
    await fs.mkdir('m2');
    await writeModelFiles(fs, 'm2', model, tinyTokenizerJSON());
    const again = await fs.readFile('m2/model.safetensors');
    assert(again.length === bytes.length && again.every((b, i) => b === bytes[i]), 're-saved byte for byte');
    const asF32 = await loadModel(fs, 'm', be, { weights: 'f32' });
    assertEqual(asF32.model.weights, 'f32');
    assertClose(await logits(asF32.model), await logits(q), { atol: 1e-5 }, 'loaded as f32: the dequantized model');

    // corrupted files name the tensor
    const t = new Map(st.tensors);
    t.delete('h.1.attn.c_proj.weight_scale');
    await fs.writeFile('m/model.safetensors', writeSafetensors(t, st.metadata));
    await assertRejects(() => loadCheckpoint(fs, 'm'), /model\.safetensors: tensor h\.1\.attn\.c_proj\.weight_scale is missing/);
    t.set('h.1.attn.c_proj.weight_scale', { dtype: 'F32', shape: [3], bytes: new Uint8Array(12) });
    await fs.writeFile('m/model.safetensors', writeSafetensors(t, st.metadata));
    await assertRejects(() => loadCheckpoint(fs, 'm'), /tensor h\.1\.attn\.c_proj\.weight_scale is F32 \[3\], an int\d file needs/);
    await fs.writeFile('m/model.safetensors', writeSafetensors(st.tensors, { ...st.metadata, 'gptedge.weights': 'int3' }));
    await assertRejects(() => loadCheckpoint(fs, 'm'), /gptedge\.weights is "int3"/);
  });
}

test('unknown weights kinds are refused', () => {
  assertThrows(() => new GPT(new ReferenceBackend(), cfg('pre-ln'), { weights: 'int2' as 'int8' }), /weights must be one of f32, f16, int8, int4/);
});

/** the bytes as a stream of small chunks, as a fetch body delivers them (a byte stream: read with a BYOB reader) */
function chunked(bytes: Uint8Array, size: number, type?: 'bytes'): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    type,
    pull(c: ReadableStreamDefaultController<Uint8Array> | ReadableByteStreamController) {
      if (at >= bytes.length) {
        c.close();
        if ('byobRequest' in c) c.byobRequest?.respond(0); // a pending BYOB read learns of the end (as the Streams spec asks)
      } else {
        c.enqueue(bytes.slice(at, at + size));
        at += size;
      }
    },
  } as UnderlyingDefaultSource<Uint8Array>);
}

test("loadModelStream: a folder's files from streams (f32 quantized on load, int8/int4 as stored) = loadModel; truncated and incomplete streams are errors", async () => {
  const be = new ReferenceBackend(),
    fs = new MemoryFileSystem();
  const src = new GPT(be, cfg('pre-ln')).init(9);
  await fs.mkdir('f32');
  await writeModelFiles(fs, 'f32', src, tinyTokenizerJSON());
  const files = async (dir: string, chunk = 1000) => ({
    config: new TextDecoder().decode(await fs.readFile(`${dir}/config.json`)),
    tokenizer: tinyTokenizerJSON(),
    weights: chunked(await fs.readFile(`${dir}/model.safetensors`), chunk),
  });
  {
    // an f32 tensor goes to the backend piece by piece: a non-finite value is still refused, with its index
    const st = readRaw(await fs.readFile('f32/model.safetensors'));
    const wpe = st.tensors.get('wpe.weight')!,
      bad = new Float32Array(wpe.bytes.slice().buffer);
    bad[37] = Number.NaN;
    st.tensors.set('wpe.weight', { ...wpe, bytes: new Uint8Array(bad.buffer) });
    await assertRejects(
      async () =>
        loadModelStream({ ...(await files('f32')), weights: chunked(writeSafetensors(st.tensors, st.metadata), 333, 'bytes') }, be, { pieceBytes: 64 }),
      /tensor wpe\.weight holds a non-finite value \(NaN\) at index 37/,
    );
  }
  for (const weights of ['f32', 'int8', 'int4'] as const) {
    const whole = await loadModel(fs, 'f32', be, { weights });
    const streamed = await loadModelStream(await files('f32', 777), be, { weights });
    assertEqual(streamed.model.weights, weights);
    assertClose(await logits(streamed.model), await logits(whole.model), { atol: 0 }, `f32 file streamed as ${weights}`);
    if (weights === 'f32') continue;
    await fs.mkdir(weights);
    await writeModelFiles(fs, weights, whole.model, tinyTokenizerJSON());
    for (const [pieceBytes, type] of [
      [undefined, undefined],
      [100, undefined],
      [100, 'bytes'],
    ] as const) {
      // 100: codes rows split across pieces
      const f = await files(weights);
      const q = await loadModelStream({ ...f, weights: chunked(await fs.readFile(`${weights}/model.safetensors`), 333, type) }, be, { pieceBytes });
      assertEqual(q.model.weights, weights, 'a quantized stream loads as stored');
      assertClose(
        await logits(q.model),
        await logits(whole.model),
        { atol: 0 },
        `${weights} file streamed in pieces of ${pieceBytes ?? '1 MiB'} (${type ?? 'default'} stream)`,
      );
    }
    // other tensor orders: codes before their scales (kept until the scales come), and every scale first
    // (several matrices' scales held at once)
    const st0 = readRaw(await fs.readFile(`${weights}/model.safetensors`));
    const names = [...st0.tensors.keys()];
    const orders: [string, string[]][] = [
      ['codes first', [...names].sort()],
      ['scales first', [...names.filter((n) => n.endsWith('_scale')), ...names.filter((n) => !n.endsWith('_scale'))]],
    ];
    for (const [what, order] of orders) {
      for (const pieceBytes of [100, undefined]) {
        const q = await loadModelStream({ ...(await files(weights)), weights: chunked(writeSafetensors(st0.tensors, st0.metadata, order), 333, 'bytes') }, be, {
          pieceBytes,
        });
        assertClose(await logits(q.model), await logits(whole.model), { atol: 0 }, `${weights}, ${what}, pieces of ${pieceBytes ?? '1 MiB'}`);
      }
    }
    await assertRejects(
      async () => loadModelStream(await files(weights), be, { weights: 'f32' }),
      new RegExp(`holds ${weights} weights; streamed, they load as stored`),
    );
    const bytes = await fs.readFile(`${weights}/model.safetensors`);
    await assertRejects(
      async () => loadModelStream({ ...(await files(weights)), weights: chunked(bytes.slice(0, bytes.length - 100), 512) }, be),
      /model\.safetensors: truncated: the stream ends inside tensor \S+/,
    );
    const st = readRaw(bytes),
      t = new Map(st.tensors);
    t.delete('wte.weight_scale');
    await assertRejects(
      async () => loadModelStream({ ...(await files(weights)), weights: chunked(writeSafetensors(t, st.metadata), 512) }, be),
      /tensor wte\.weight_scale is missing/,
    );
  }
});
