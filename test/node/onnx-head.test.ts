// ONNX export of fine-tuned models' task heads: for tiny fine-tuned models (random transformer and head
// weights, both LN layouts, both graphs), probabilities from onnxruntime-web (WASM, 1 thread) and
// onnxruntime-node through classifyOrt / similarityOrt / chooseOrt / predictOrt equal gptedge's
// classify / similarity / choose / predict within 1e-4 (max abs), batched with padding and truncation
// included; hidden_at_extract equals the reference h_n; the LM logits of a head graph are unchanged;
// bad heads and misuse are clear errors; the CLI exports a fine-tuned folder's head by itself.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import * as ortWeb from 'onnxruntime-web';
import { exportOnnx, exportOnnxFromParams } from '../../src/io/onnx/export.ts';
import { exportFinetunedOnnx, onnxTaskHead } from '../../src/finetune/onnx.ts';
import { importOnnx } from '../../src/io/onnx/import.ts';
import { OrtGPT, chooseOrt, classifyOrt, predictOrt, similarityOrt, type OrtModuleLike } from '../../src/infer/ort.ts';
import { GPTTokenizer } from '../../src/tokenizer/tokenizer.ts';
import { writeSafetensors, type NamedTensor } from '../../src/io/safetensors.ts';
import {
  choose,
  classify,
  predict,
  prepareFinetune,
  saveFinetuned,
  similarity,
  encodeAll,
  makeBatch,
  type Example,
  type FinetuneModel,
  type TaskSpec,
} from '../../src/finetune/index.ts';
import { exportCommand } from '../../adapters/cli/commands/onnx.ts';
import { NodeFileSystem } from '../../adapters/node/fs.ts';
import { createBackend } from '../../adapters/node/backend.ts';
import type { CommandContext } from '../../adapters/cli/context.ts';
import { assert, assertClose, assertEqual, assertRejects, assertThrows, randn, test } from '../lib/harness.ts';
import { tinyModel, tinyTokenizerJSON } from '../lib/helpers.ts';

ortWeb.env.wasm.numThreads = 1;
const web = ortWeb as unknown as OrtModuleLike;
const node = createRequire(import.meta.url)('onnxruntime-node') as OrtModuleLike;
const RUNTIMES = [
  ['onnxruntime-web', web],
  ['onnxruntime-node', node],
] as const;
const TOL = { atol: 1e-4 };
const C = 32;

/** A tiny fine-tuned model: wide random init (every op has signal), head W_y ~ N(0, headStd²), b ~ N(0, 0.5²). */
async function tinyFinetuned(spec: TaskSpec, layout: 'post-ln' | 'pre-ln', seed: number, maxLen = 32, headStd = 0.4): Promise<FinetuneModel> {
  const tok = GPTTokenizer.fromJSON(tinyTokenizerJSON()); // '!'..'b' (66 chars) + <|endoftext|>; specials appended
  const ft = await prepareFinetune(tinyModel({ layout, nCtx: 32, initStd: 0.5 }, seed), tok, spec, { seed, clfPdrop: 0, maxLen });
  ft.head.write(randn(C * ft.head.K, seed * 31 + 1, headStd), randn(ft.head.K, seed * 31 + 2, 0.5));
  return ft;
}

const TEXTS = ['HELLO,WORLD!', 'GPT', 'ONNX1RUNTIME2WEB3NODE', '0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]', 'ab'];

/** The probabilities are not trivially uniform and differ between examples (so the comparison can fail). */
function assertInformative(probs: ArrayLike<number>[], what: string): void {
  const spread = Math.max(...probs.map((p) => Math.max(...Array.from(p)) - Math.min(...Array.from(p))));
  assert(spread > 0.1, `${what}: probabilities too close to uniform to test anything (spread ${spread})`);
  const d = Math.max(...Array.from(probs[0], (v, i) => Math.abs(v - probs[1][i])));
  assert(d > 0.01, `${what}: two different examples give the same probabilities`);
}

test('classification (post-LN, logits graph) and entailment (pre-LN, decode graph): classifyOrt/predictOrt on web and node = classify/predict within 1e-4', async () => {
  const cases = [
    {
      spec: { family: 'classification', labels: ['neg', 'neutral', 'pos'] } as TaskSpec,
      layout: 'post-ln' as const,
      graph: 'logits' as const,
      seed: 3,
      maxLen: 20,
    },
    {
      spec: { family: 'entailment', labels: ['entailment', 'neutral', 'contradiction'] } as TaskSpec,
      layout: 'pre-ln' as const,
      graph: 'decode' as const,
      seed: 4,
      maxLen: 32,
    },
  ];
  for (const { spec, layout, graph, seed, maxLen } of cases) {
    const ft = await tinyFinetuned(spec, layout, seed, maxLen);
    const bytes = await exportFinetunedOnnx(ft, { graph });
    const inputs =
      spec.family === 'classification'
        ? TEXTS // the 47-character text is truncated to maxLen 20
        : TEXTS.map((t, i) => ({ premise: t, hypothesis: TEXTS[(i + 2) % TEXTS.length] }));
    const examples: Example[] = spec.family === 'classification' ? TEXTS.map((text) => ({ text })) : (inputs as { premise: string; hypothesis: string }[]);
    const ref = await predict(ft, examples);
    assertInformative(ref, `${spec.family} reference`);
    for (const [name, ort] of RUNTIMES) {
      const og = await OrtGPT.create(ort, bytes);
      assert(og.hasHead && og.task?.family === spec.family, 'head graph and task metadata');
      assertEqual(og.hasPast, graph === 'decode');
      let worst = 0;
      // one example at a time, through the classify() mirror
      for (const input of inputs) {
        const a = await classify(ft, input),
          b = await classifyOrt(og, ft.tokenizer, input);
        assertEqual(b.label, a.label, `${name} label`);
        assertEqual(Object.keys(b.probabilities), spec.labels);
        worst = Math.max(
          worst,
          assertClose(Object.values(b.probabilities), Object.values(a.probabilities), TOL, `${name} ${spec.family} ${JSON.stringify(input)}`),
        );
      }
      // all examples in one padded batch (rows of different lengths)
      const got = await predictOrt(og, ft.tokenizer, examples);
      got.forEach((p, i) => (worst = Math.max(worst, assertClose(p, ref[i], TOL, `${name} batched example ${i}`))));
      console.log(`${spec.family} (${layout}, ${graph} graph) on ${name}: max abs probability error ${worst.toExponential(2)}`);
      await og.release();
    }
  }
});

test('multiple choice (pre-LN logits graph, post-LN decode graph): chooseOrt/predictOrt on web and node = choose/predict within 1e-4', async () => {
  const spec: TaskSpec = { family: 'multiple-choice', labels: [], choices: 3 };
  for (const [layout, graph, seed] of [
    ['pre-ln', 'logits', 5],
    ['post-ln', 'decode', 6],
  ] as const) {
    const ft = await tinyFinetuned(spec, layout, seed);
    const bytes = await exportFinetunedOnnx(ft, { graph });
    const examples = [
      { context: 'ONCE:UPON', choices: ['A', 'TIME!', 'GPT1'] },
      { context: 'HELLO', choices: ['WORLD', 'THERE???', '42'] },
      { context: 'ab', choices: ['ba', 'ab', 'b'] },
    ];
    const ref = await predict(ft, examples);
    assertInformative(ref, `multiple choice (${layout}) reference`);
    for (const [name, ort] of RUNTIMES) {
      const og = await OrtGPT.create(ort, bytes);
      let worst = 0;
      for (const e of examples) {
        const a = await choose(ft, e.context, e.choices),
          b = await chooseOrt(og, ft.tokenizer, e.context, e.choices);
        assertEqual([b.index, b.choice], [a.index, a.choice], `${name} chosen candidate`);
        worst = Math.max(worst, assertClose(b.probabilities, a.probabilities, TOL, `${name} ${e.context}`));
      }
      const got = await predictOrt(og, ft.tokenizer, examples);
      got.forEach((p, i) => (worst = Math.max(worst, assertClose(p, ref[i], TOL, `${name} batched example ${i}`))));
      await assertRejects(() => chooseOrt(og, ft.tokenizer, 'X', ['A', 'B']), /holds 2 candidates, the task has 3/);
      await assertRejects(
        () => classifyOrt(og, ft.tokenizer, 'X'),
        /classify\(\) needs a classification or entailment model; this one is fine-tuned for multiple-choice/,
      );
      console.log(`multiple choice (${layout}, ${graph} graph) on ${name}: max abs probability error ${worst.toExponential(2)}`);
      await og.release();
    }
  }
});

test('similarity (post-LN, decode graph): both orders summed in the graph; similarityOrt on web and node = similarity within 1e-4', async () => {
  const ft = await tinyFinetuned({ family: 'similarity', labels: ['different', 'same'] }, 'post-ln', 7, 32, 0.1); // a smaller head: two states summed
  const bytes = await exportFinetunedOnnx(ft, { graph: 'decode' });
  const pairs = [
    ['HELLO', 'WORLD!!'],
    ['GPT1', 'ONNX:RUNTIME'],
    ['ab', 'ba'],
  ];
  const ref = await Promise.all(pairs.map(([a, b]) => similarity(ft, a, b)));
  console.log(`similarity reference: ${ref.map((r) => r.probabilities.same.toFixed(4)).join(', ')}`);
  assertInformative(
    ref.map((r) => Object.values(r.probabilities)),
    'similarity reference',
  );
  // one order alone would be a different answer (the sum matters)
  const oneOrder = await classifyLike(ft, pairs[1]);
  for (const [name, ort] of RUNTIMES) {
    const og = await OrtGPT.create(ort, bytes);
    let worst = 0;
    for (const [i, [a, b]] of pairs.entries()) {
      const got = await similarityOrt(og, ft.tokenizer, a, b);
      assertEqual(got.label, ref[i].label);
      worst = Math.max(worst, assertClose(Object.values(got.probabilities), Object.values(ref[i].probabilities), TOL, `${name} pair ${i}`));
    }
    assert(Math.abs(oneOrder - ref[1].probabilities.same) > 1e-3, 'the order-summed probability differs from a single order');
    console.log(`similarity (post-ln, decode graph) on ${name}: max abs probability error ${worst.toExponential(2)}`);
    await og.release();
  }
});

/** P(same) of a $ b alone through W_y (not the task's layout): a control for the similarity test. */
async function classifyLike(ft: FinetuneModel, [a, b]: string[]): Promise<number> {
  const [enc] = encodeAll(ft, [{ a, b }]);
  const batch = makeBatch({ family: 'classification', labels: ft.spec.labels }, [{ seqs: [enc.seqs[0]], label: -1 }]);
  const h = ft.model.forward(batch.ids, batch.S, batch.T).hidden();
  const logits = (await ft.model.be.read(ft.head.forward(h, batch.groups, batch.R))) as Float32Array;
  const e0 = Math.exp(logits[0]),
    e1 = Math.exp(logits[1]);
  return e1 / (e0 + e1);
}

test('head graph: hidden_at_extract = reference h_n at the extract token; LM logits unchanged; import ignores the head', async () => {
  const ft = await tinyFinetuned({ family: 'classification', labels: ['x', 'y'] }, 'pre-ln', 9);
  const bytes = await exportFinetunedOnnx(ft, { graph: 'decode' });
  const [enc] = encodeAll(ft, [{ text: 'HELLO,ONNX' }]);
  const ids = Array.from(enc.seqs[0]),
    T = ids.length,
    V = ft.model.cfg.vocabSize;
  const pass = ft.model.forward(Int32Array.from(ids), 1, T);
  const h = (await ft.model.be.read(pass.hidden())) as Float32Array;
  const lmRef = await pass.allLogits();
  const og = await OrtGPT.create(web, bytes);
  const out = await og.head([...ids, 0, 0], 1, T + 2, [T - 1]); // padded after <e>
  assertClose(out.hidden, h.subarray((T - 1) * C, T * C), TOL, 'hidden_at_extract');
  assertClose(await og.logits(ids, 1, T), lmRef.subarray(0, T * V), TOL, 'LM logits of the head graph (decode, extract_index fed)');
  await assertRejects(() => og.head(ids, 1, T, [T]), new RegExp(`extract position ${T} of row 0 is outside 0\\.\\.${T - 1}`));
  const imp = importOnnx(bytes);
  assert(
    imp.notes.some((n) => /ignored 2 tensors .*head\.weight/.test(n)),
    imp.notes.join('; '),
  );
  assertEqual(imp.weights.size, ft.model.specs.length);
  await og.release();
});

test('bad heads and misuse: clear errors', async () => {
  const ft = await tinyFinetuned({ family: 'classification', labels: ['a', 'b', 'c'] }, 'post-ln', 2);
  const params = await ft.model.readParams(),
    cfg = ft.model.cfg;
  const spec = ft.spec,
    W = new Float32Array(C * 3),
    b = new Float32Array(3);
  assertThrows(
    () => exportOnnxFromParams(cfg, params, { head: onnxTaskHead(cfg, { W: new Float32Array(C * 4), b, spec }) }),
    /exportOnnx: task head W_y has 128 values; a classification head \(3 labels\) on d_model 32 needs \[32, 3\] = 96/,
  );
  assertThrows(
    () => exportOnnxFromParams(cfg, params, { head: onnxTaskHead(cfg, { W, b: new Float32Array(2), spec }) }),
    /task head bias has 2 values; a classification head \(3 labels\) needs \[3\]/,
  );
  assertThrows(
    () => exportOnnxFromParams(cfg, params, { head: onnxTaskHead(cfg, { W, b, spec: { family: 'multiple-choice', labels: [], choices: 3 } }) }),
    /a multiple-choice head \(one score per candidate\) on d_model 32 needs \[32, 1\] = 32/,
  );
  assertThrows(
    () => exportOnnxFromParams(cfg, params, { head: onnxTaskHead(cfg, { W, b, spec: { family: 'classification', labels: ['a'] } }) }),
    /task head: a classification task needs at least 2 labels/,
  );
  assertThrows(
    () => exportOnnxFromParams(cfg, params, { head: onnxTaskHead(cfg, { W, b, spec, maxLen: 99 }) }),
    /maxLen must be an integer in 4\.\.32, got 99/,
  );
  // a model exported without a head
  const plain = await OrtGPT.create(web, await exportOnnx(ft.model, { graph: 'logits' }));
  assert(!plain.hasHead && plain.task === null);
  await assertRejects(() => classifyOrt(plain, ft.tokenizer, 'HI'), /classify\(\) needs an ONNX model exported with its task head/);
  await assertRejects(() => plain.head([1, 2], 1, 2, [1]), /this ONNX model has no task head/);
  // a tokenizer without the fine-tuning tokens
  const og = await OrtGPT.create(web, await exportFinetunedOnnx(ft, { graph: 'logits' }));
  await assertRejects(() => classifyOrt(og, GPTTokenizer.fromJSON(tinyTokenizerJSON()), 'HI'), /start/);
  await assertRejects(() => similarityOrt(og, ft.tokenizer, 'A', 'B'), /similarity\(\) needs a similarity model; this one is fine-tuned for classification/);
});

test('CLI: export --format onnx of a fine-tuned folder includes the head; a mis-shaped head.safetensors or a missing task.json is a clear error; --no-head', async () => {
  const dir = mkdtempSync(`${tmpdir()}/gptedge-onnx-head-`);
  const log = console.log;
  try {
    const fs = new NodeFileSystem();
    const ctx = { fs, createBackend, parse: parseArgs } as CommandContext;
    const ft = await tinyFinetuned({ family: 'classification', labels: ['ham', 'spam'] }, 'pre-ln', 12, 24);
    await saveFinetuned(fs, `${dir}/ft`, ft);
    console.log = () => undefined;
    assertEqual(await exportCommand(['--format', 'onnx', '--model', `${dir}/ft`, '--out', `${dir}/ft.onnx`], ctx), 0);
    const og = await OrtGPT.create(node, new Uint8Array(await fs.readFile(`${dir}/ft.onnx`)));
    assert(og.hasHead && og.hasPast);
    assertEqual(og.task, { family: 'classification', labels: ['ham', 'spam'], choices: null, maxLen: 24 });
    for (const text of TEXTS) {
      const a = await classify(ft, text),
        b = await classifyOrt(og, ft.tokenizer, text);
      assertClose(Object.values(b.probabilities), Object.values(a.probabilities), TOL, `CLI export: ${text}`);
    }
    assertEqual(await exportCommand(['--format', 'onnx', '--model', `${dir}/ft`, '--out', `${dir}/plain.onnx`, '--no-head', '--graph', 'logits'], ctx), 0);
    const plain = await OrtGPT.create(node, new Uint8Array(await fs.readFile(`${dir}/plain.onnx`)));
    assert(!plain.hasHead && plain.task === null, '--no-head');
    // a head of the wrong width: W_y [32, 3] for a 2-label task
    const bad = new Map<string, NamedTensor>([
      ['W_y', { data: new Float32Array(C * 3), shape: [C, 3] }],
      ['b_y', { data: new Float32Array(3), shape: [3] }],
    ]);
    await fs.writeFile(`${dir}/ft/head.safetensors`, writeSafetensors(bad));
    await assertRejects(
      () => exportCommand(['--format', 'onnx', '--model', `${dir}/ft`, '--out', `${dir}/x.onnx`], ctx),
      /ft\/head\.safetensors: tensor W_y must have shape \[32,2\] \(d_model 32, classification: 2 labels in task\.json\), got \[32,3\]/,
    );
    await fs.remove(`${dir}/ft/task.json`);
    await assertRejects(
      () => exportCommand(['--format', 'onnx', '--model', `${dir}/ft`, '--out', `${dir}/x.onnx`], ctx),
      /ft\/task\.json: missing \(.*head\.safetensors is there/,
    );
  } finally {
    console.log = log;
    rmSync(dir, { recursive: true, force: true });
  }
});
