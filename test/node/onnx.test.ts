// ONNX interop: the exported graphs run in onnxruntime-web (WASM EP, 1 thread) and onnxruntime-node and
// give gptedge's reference logits (full sequence; prefill + 20 decode steps with past key/values),
// greedy generation picks the same tokens, export -> import is bit-identical, HF-style files (other
// names, transposed weights, no metadata) import, and bad files are clear errors.
// Tolerance: 1e-4 max abs on logits (measured ~1e-7 on tiny: both sides are float32, the reference
// accumulates matmuls in f64).
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import * as ortWeb from 'onnxruntime-web';
import { exportOnnx } from '../../src/io/onnx/export.ts';
import { importOnnx } from '../../src/io/onnx/import.ts';
import { DT, graphProto, modelProto, nodeProto, parseModel, tensorProto } from '../../src/io/onnx/onnx-proto.ts';
import { PbWriter } from '../../src/io/onnx/protobuf.ts';
import { OrtGPT, generateOrt, type OrtModuleLike } from '../../src/infer/ort.ts';
import { generate } from '../../src/infer/generate.ts';
import { GPTTokenizer } from '../../src/tokenizer/tokenizer.ts';
import { saveCheckpoint, loadCheckpoint } from '../../src/io/checkpoint.ts';
import { toHF } from '../../src/io/hf-names.ts';
import { GPT as GPTModel, type GPT } from '../../src/model/gpt.ts';
import { exportCommand, importCommand } from '../../adapters/cli/commands/onnx.ts';
import { NodeFileSystem } from '../../adapters/node/fs.ts';
import { createBackend } from '../../adapters/node/backend.ts';
import type { CommandContext } from '../../adapters/cli/context.ts';
import { assert, assertClose, assertEqual, assertThrows, test } from '../lib/harness.ts';
import { tinyModel, tinyTokenizerJSON } from '../lib/helpers.ts';

ortWeb.env.wasm.numThreads = 1;
const web = ortWeb as unknown as OrtModuleLike;
const node = createRequire(import.meta.url)('onnxruntime-node') as OrtModuleLike;
const TOL = { atol: 1e-4 };
const V = 67;

const seq = (n: number, seed: number): number[] => Array.from({ length: n }, (_, i) => (i * 13 + seed * 7 + ((i * i) % 5)) % V);

async function referenceLogits(m: GPT, ids: number[], B: number): Promise<Float32Array> {
  const T = ids.length / B;
  return m.forward(Int32Array.from(ids), B, T).allLogits();
}

/** prefill `pre` tokens, then one token per step; checks every step's logits against the full forward */
async function checkDecode(og: OrtGPT, ref: Float32Array, ids: number[], pre: number, what: string): Promise<number> {
  const cache = og.newCache(1);
  let worst = assertClose(await og.step(ids.slice(0, pre), 1, pre, cache), ref.subarray(0, pre * V), TOL, `${what} prefill`);
  for (let p = pre; p < ids.length; p++) {
    const l = await og.step([ids[p]], 1, 1, cache);
    worst = Math.max(worst, assertClose(l, ref.subarray(p * V, (p + 1) * V), TOL, `${what} decode position ${p}`));
  }
  og.freeCache(cache);
  return worst;
}

for (const layout of ['post-ln', 'pre-ln'] as const) {
  test(`tiny ${layout}: logits graph in onnxruntime-web = reference (full sequences, batch 2), within 1e-4`, async () => {
    const m = tinyModel({ layout, initStd: 0.5 }, 3); // a wide init: GELU's cubic term and every op matter
    const ids = [...seq(16, 1), ...seq(16, 2)]; // B=2, T=16 = the tiny context
    const ref = await referenceLogits(m, ids, 2);
    const og = await OrtGPT.create(web, await exportOnnx(m, { graph: 'logits' }));
    assert(!og.hasPast);
    const got = await og.logits(ids, 2, 16);
    const err = assertClose(got, ref, TOL, 'logits');
    // and a shorter sequence through the same session (dynamic axes)
    const ref5 = await referenceLogits(m, ids.slice(0, 5), 1);
    assertClose(await og.logits(ids.slice(0, 5), 1, 5), ref5, TOL, 'logits T=5');
    console.log(`tiny ${layout} logits graph: max abs error ${err.toExponential(2)}`);
  });

  test(`tiny ${layout}: decode graph (past_key_values) in onnxruntime-web and -node: prefill + 20 steps = full forward, within 1e-4`, async () => {
    const m = tinyModel({ layout, nCtx: 32, initStd: 0.5 }, 5); // context 32 so that 4 + 20 positions fit
    const ids = seq(24, 3);
    const ref = await referenceLogits(m, ids, 1);
    const bytes = await exportOnnx(m, { graph: 'decode' });
    for (const [name, ort] of [
      ['onnxruntime-web', web],
      ['onnxruntime-node', node],
    ] as const) {
      const og = await OrtGPT.create(ort, bytes);
      assert(og.hasPast);
      const err = await checkDecode(og, ref, ids, 4, name);
      // a full sequence through the decode graph with an empty past (prefill only)
      assertClose(await og.logits(ids, 1, 24), ref, TOL, `${name} prefill 24`);
      console.log(`tiny ${layout} decode graph, ${name}: max abs error ${err.toExponential(2)} over 20 steps`);
      await og.release();
    }
  });

  test(`tiny ${layout}: greedy generation through ort equals the reference backend token for token`, async () => {
    // a larger init spread so that greedy decoding does not repeat one token
    const m = tinyModel({ layout, nCtx: 32, initStd: 0.5 }, 8);
    const tok = GPTTokenizer.fromJSON(tinyTokenizerJSON());
    const ref = await generate(m, tok, 'ABC', { maxTokens: 20, temperature: 0 });
    assert(new Set(ref.tokens).size >= 5, `the reference generation should vary (got ${ref.tokens})`);
    for (const graph of ['decode', 'logits'] as const) {
      const bytes = await exportOnnx(m, { graph });
      for (const [name, ort] of [
        ['web', web],
        ['node', node],
      ] as const) {
        const og = await OrtGPT.create(ort, bytes);
        const got = await generateOrt(og, tok, 'ABC', { maxTokens: 20, temperature: 0 });
        assertEqual(got.tokens, ref.tokens, `${graph} graph on onnxruntime-${name}`);
        assertEqual(got.text, ref.text);
        assertEqual(got.finishReason, ref.finishReason);
      }
      // the prompt in chunks: each chunk is a step queued after the one before, only the last one's logits read
      const chunked = await generateOrt(await OrtGPT.create(web, bytes), tok, 'ABC', { maxTokens: 20, temperature: 0, prefillChunk: 2 });
      assertEqual(chunked.tokens, ref.tokens, `${graph} graph, prompt in chunks of 2`);
    }
    // seeded sampling reuses the same sampler: same tokens too
    const og = await OrtGPT.create(web, await exportOnnx(m));
    const s1 = await generate(m, tok, 'AB', { maxTokens: 12, temperature: 1, topK: 10, seed: 11 });
    const s2 = await generateOrt(og, tok, 'AB', { maxTokens: 12, temperature: 1, topK: 10, seed: 11 });
    assertEqual(s2.tokens, s1.tokens, 'sampled with seed 11');
  });

  test(`tiny ${layout}: export -> import gives bit-identical weights and the same config; without metadata the config is inferred`, async () => {
    const m = tinyModel({ layout, lnEps: 1e-6 }, 9);
    const params = await m.readParams();
    for (const metadata of [true, false]) {
      const imp = importOnnx(await exportOnnx(m, { metadata }));
      assertEqual(imp.config.nHead, 4);
      assertEqual(imp.config.layout, layout);
      assertEqual(imp.config.lnEps, 1e-6);
      if (metadata) assertEqual(imp.config, m.cfg);
      for (const [name, v] of params) {
        const w = imp.weights.get(name);
        assert(w, `${name} imported`);
        assertEqual(
          Array.from(new Uint32Array(w!.buffer, w!.byteOffset, w!.length)),
          Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length)),
          `${name} bits`,
        );
      }
      assertEqual(imp.weights.size, params.size);
    }
  });
}

test('HF-style file: openai-gpt / gpt2 names without the prefix, weights stored [out, in] (shape and Transpose evidence), given nHead', async () => {
  for (const layout of ['post-ln', 'pre-ln'] as const) {
    const m = tinyModel({ layout }, 2);
    const params = await m.readParams();
    const fam = layout === 'pre-ln' ? 'gpt2' : 'openai-gpt';
    const inits: PbWriter[] = [],
      nodes: PbWriter[] = [];
    const transpose = (a: Float32Array, r: number, c: number) => {
      const o = new Float32Array(a.length);
      for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) o[j * r + i] = a[i * c + j];
      return o;
    };
    for (const s of m.specs) {
      const name = toHF(s.name, fam); // no "transformer." prefix
      const v = params.get(s.name)!;
      if (/c_proj\.weight$|c_fc\.weight$/.test(s.name)) {
        // stored [out, in], consumed through Transpose — square attn.c_proj needs the graph to tell
        const [i, o] = s.shape;
        inits.push(tensorProto(name, transpose(v, i, o), [o, i]));
        nodes.push(nodeProto('Transpose', [name], [`${name}_T`], `T_${name}`, { perm: { ints: [1, 0] } }));
        nodes.push(nodeProto('MatMul', ['x', `${name}_T`], [`y_${name}`], `M_${name}`));
      } else inits.push(tensorProto(name, v, s.shape));
    }
    inits.push(tensorProto('h.0.attn.bias', new Float32Array(16 * 16), [1, 1, 16, 16])); // HF buffer, ignored
    const bytes = modelProto({
      irVersion: 7,
      opset: 13,
      producer: 'pytorch',
      producerVersion: '2',
      graph: graphProto({ name: 'g', nodes, initializers: inits, inputs: [], outputs: [] }),
      metadata: {},
    }).toBytes();
    assertThrows(() => importOnnx(bytes, { file: 'hf.onnx' }), /hf\.onnx: cannot tell the number of attention heads/);
    const imp = importOnnx(bytes, { nHead: 4 });
    assertEqual(imp.config.layout, layout);
    assert(
      imp.notes.some((n) => /6 linear weights were stored \[out, in\]/.test(n)),
      imp.notes.join('; '),
    );
    for (const [name, v] of params) assertEqual(Array.from(imp.weights.get(name)!), Array.from(v), name);
  }
});

// ---- bad input --------------------------------------------------------------------------------------

function minimalModel(opset: number, inits: PbWriter[], domain = ''): Uint8Array {
  const w = new PbWriter().varint(1, 8).string(2, 'test');
  w.message(7, graphProto({ name: 'g', nodes: [], initializers: inits, inputs: [], outputs: [] }));
  w.message(8, new PbWriter().string(1, domain).varint(2, opset));
  return w.toBytes();
}

test('bad input: truncated, empty and garbage files, unsupported opsets, non-GPT graphs, external data — clear errors', async () => {
  const m = tinyModel({}, 1);
  const bytes = await exportOnnx(m);
  for (const frac of [0.5, 0.9, 0.999]) {
    const cut = bytes.slice(0, Math.floor(bytes.length * frac));
    assertThrows(() => importOnnx(cut, { file: 'cut.onnx' }), /^cut\.onnx: not a valid ONNX file .*truncated.*runs past the end.*cut short/, `cut at ${frac}`);
  }
  assertThrows(() => importOnnx(new Uint8Array(0), { file: 'e.onnx' }), /e\.onnx: the file is empty/);
  assertThrows(() => importOnnx(new TextEncoder().encode('{"not": "onnx"} '.repeat(20)), { file: 'j.onnx' }), /j\.onnx: not a valid ONNX file/);
  // and onnxruntime itself rejects the truncated file (so the test input really is broken)
  let ortErr = '';
  await ortWeb.InferenceSession.create(bytes.slice(0, bytes.length >> 1)).catch((e: Error) => (ortErr = e.message));
  assert(ortErr.length > 0, 'onnxruntime-web also refuses the truncated file');

  const good = [...m.specs].map((s) => tensorProto(`transformer.${toHF(s.name, 'openai-gpt')}`, new Float32Array(s.shape.reduce((a, b) => a * b, 1)), s.shape));
  assertThrows(() => importOnnx(minimalModel(99, good), { file: 'o.onnx', nHead: 4 }), /o\.onnx: unsupported opset 99: gptedge reads ai\.onnx opsets 7 to 25/);
  assertThrows(() => importOnnx(minimalModel(5, good), { file: 'o.onnx', nHead: 4 }), /unsupported opset 5/);
  assertThrows(() => importOnnx(minimalModel(17, good, 'com.example'), { file: 'o.onnx', nHead: 4 }), /no default-domain \(ai\.onnx\) opset.*com\.example:17/);
  importOnnx(minimalModel(17, good), { nHead: 4 }); // the same tensors with a good opset load

  // not GPT-shaped: a conv net's tensors; a GPT missing a block tensor; a wrong shape
  const conv = minimalModel(17, [tensorProto('conv1.weight', new Float32Array(27), [1, 3, 3, 3]), tensorProto('fc.bias', new Float32Array(10), [10])]);
  assertThrows(
    () => importOnnx(conv, { file: 'cnn.onnx' }),
    /cnn\.onnx: not a GPT-shaped graph: no token embedding \(wte\.weight \/ tokens_embed\.weight\) among its 2 tensors \(e\.g\. conv1\.weight \[1,3,3,3\]/,
  );
  const missing = minimalModel(
    17,
    good.filter((_, i) => i !== 5),
  );
  assertThrows(() => importOnnx(missing, { nHead: 4 }), /not a GPT-shaped graph: tensor h\.0\.\S+ \(or its HF name\) is missing/);
  const wrong = minimalModel(17, [
    ...good.slice(0, 2),
    tensorProto('transformer.h.0.attn.c_attn.weight', new Float32Array(32 * 95), [32, 95]),
    ...good.slice(3),
  ]);
  assertThrows(
    () => importOnnx(wrong, { nHead: 4 }),
    /tensor transformer\.h\.0\.attn\.c_attn\.weight has shape \[32,95\], gptedge's h\.0\.attn\.c_attn\.weight needs \[32,96\]/,
  );

  // external data: a TensorProto with data_location EXTERNAL and a location entry
  const ext = new PbWriter()
    .varint(1, 67)
    .varint(1, 32)
    .varint(2, 1)
    .string(8, 'transformer.tokens_embed.weight')
    .message(13, new PbWriter().string(1, 'location').string(2, 'model.onnx_data'))
    .varint(14, 1);
  assertThrows(
    () => importOnnx(minimalModel(17, [ext, ...good.slice(1)]), { file: 'x.onnx', nHead: 4 }),
    /x\.onnx: initializer "transformer\.tokens_embed\.weight": keeps its data in an external file \(model\.onnx_data\)/,
  );
  // quantized weights
  const q = tensorProto('transformer.tokens_embed.weight', new Int32Array(67 * 32), [67, 32]);
  assertThrows(() => importOnnx(minimalModel(17, [q, ...good.slice(1)]), { nHead: 4 }), /tokens_embed\.weight": is int32; gptedge loads float32/);
});

test('CLI: export --format onnx writes a runnable file; import writes a model folder that loads with the same weights', async () => {
  const dir = mkdtempSync(`${tmpdir()}/gptedge-onnx-`);
  try {
    const fs = new NodeFileSystem();
    const ctx = { fs, createBackend, parse: parseArgs } as CommandContext;
    const m = tinyModel({ layout: 'pre-ln' }, 4);
    const run = await saveCheckpoint(fs, `${dir}/run`, m, tinyTokenizerJSON(), undefined, { name: 'step-000001' });
    const log = console.log;
    console.log = () => undefined;
    try {
      assertEqual(await exportCommand(['--format', 'onnx', '--model', `${dir}/run`, '--out', `${dir}/m.onnx`], ctx), 0);
      assertEqual(await importCommand(['--from', `${dir}/m.onnx`, '--out', `${dir}/back`, '--tokenizer', run], ctx), 0);
    } finally {
      console.log = log;
    }
    const a = await loadCheckpoint(fs, run),
      b = await loadCheckpoint(fs, `${dir}/back`);
    assertEqual(b.config, a.config);
    assertEqual(b.tokenizerJSON, a.tokenizerJSON);
    for (const [k, v] of a.weights) assertEqual(Array.from(new Uint32Array(b.weights.get(k)!.buffer)), Array.from(new Uint32Array(v.slice().buffer)), k);
    const og = await OrtGPT.create(node, new Uint8Array(await fs.readFile(`${dir}/m.onnx`)));
    const ids = seq(10, 4);
    assertClose(await og.logits(ids, 1, 10), await referenceLogits(m, ids, 1), TOL, 'CLI export on onnxruntime-node');
    await assertRejectsMsg(() => importCommand(['--from', `${dir}/m.onnx`, '--out', `${dir}/x`], ctx), /--tokenizer is required/);
    await assertRejectsMsg(() => exportCommand(['--format', 'tflite', '--model', run, '--out', 'x'], ctx), /only "onnx" is supported/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

async function assertRejectsMsg(fn: () => Promise<unknown>, re: RegExp): Promise<void> {
  let msg = '';
  await fn().then(
    () => undefined,
    (e: Error) => (msg = e.message),
  );
  assert(re.test(msg), `expected an error matching ${re}, got "${msg}"`);
}

test('decode graph: attention_mask hides left padding and position_ids place tokens (batch 2, as transformers.js feeds it)', async () => {
  const m = tinyModel({ layout: 'pre-ln' }, 6);
  const sess = await ortWeb.InferenceSession.create(await exportOnnx(m, { graph: 'decode' }));
  const real = seq(5, 8),
    pad = 2; // row 0: 2 pads + 3 real tokens; row 1: 5 real tokens
  const i64 = (a: number[], dims: number[]) => new ortWeb.Tensor('int64', BigInt64Array.from(a.map(BigInt)), dims);
  const feeds: Record<string, ortWeb.Tensor> = {
    input_ids: i64([0, 0, ...real.slice(0, 3), ...real], [2, 5]),
    attention_mask: i64([0, 0, 1, 1, 1, 1, 1, 1, 1, 1], [2, 5]),
    position_ids: i64([0, 0, 0, 1, 2, 0, 1, 2, 3, 4], [2, 5]),
  };
  for (let l = 0; l < m.cfg.nLayer; l++)
    for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = new ortWeb.Tensor('float32', new Float32Array(0), [2, 4, 0, 8]);
  const out = await sess.run(feeds);
  const logits = out.logits.data as Float32Array;
  assertEqual(Array.from(out['present.1.value'].dims), [2, 4, 5, 8]);
  const ref3 = await referenceLogits(m, real.slice(0, 3), 1),
    ref5 = await referenceLogits(m, real, 1);
  assertClose(logits.subarray(pad * V, 5 * V), ref3, TOL, 'padded row');
  assertClose(logits.subarray(5 * V, 10 * V), ref5, TOL, 'full row');
});

test('int8 model: QDQ export (INT8 initializers, per-channel DequantizeLinear, opset 17) runs in onnxruntime-web and -node with the reference int8 logits, prefill and decode', async () => {
  for (const layout of ['post-ln', 'pre-ln'] as const) {
    const f32 = tinyModel({ layout, nCtx: 32, initStd: 0.5 }, 7);
    const q = new GPTModel(f32.be, f32.cfg, { weights: 'int8' });
    q.writeParams(await f32.readParams());
    const ids = seq(24, 4);
    const ref = await referenceLogits(q, ids, 1); // the reference computes with the dequantized weights
    const bytes = await exportOnnx(q, { graph: 'decode' });
    const m = parseModel(bytes);
    const int8 = m.graph.initializers.filter((t) => t.dataType === DT.INT8).map((t) => t.name);
    assertEqual(int8.length, 1 + 4 * f32.cfg.nLayer, `${layout}: the embedding and every linear weight are INT8 initializers`);
    assertEqual(m.graph.nodes.filter((n) => n.op === 'DequantizeLinear').length, int8.length);
    assert(bytes.length < 0.5 * (await exportOnnx(f32, { graph: 'decode' })).length, 'the int8 file is well under half the f32 one');
    // onnxruntime-node's 'extended' optimizations fuse DequantizeLinear + MatMul into a kernel that also
    // quantizes the activations to 8 bits (its dynamic int8 path: other numerics, measured 0.9 off here);
    // at 'basic' it computes the graph as written, which is what is checked
    for (const [name, ort, opt] of [
      ['onnxruntime-web', web, {}],
      ['onnxruntime-node', node, { graphOptimizationLevel: 'basic' }],
    ] as const) {
      const og = await OrtGPT.create(ort, bytes, { sessionOptions: opt });
      assertClose(await og.logits(ids, 1, 24), ref, TOL, `${layout} ${name} prefill 24`);
      await checkDecode(og, ref, ids, 4, `${layout} ${name} int8`);
      await og.release();
    }
    // and the file imports back: the dequantized weights of the int8 model, bit for bit
    const imp = importOnnx(bytes);
    const deq = await q.readParams();
    for (const [k, v] of deq)
      assertEqual(Array.from(new Uint32Array(imp.weights.get(k)!.slice().buffer)), Array.from(new Uint32Array(v.slice().buffer)), `import ${k}`);
  }
});
