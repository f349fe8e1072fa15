// Fine-tuning (paper §3.2–3.3): exact token layouts of the four input transformations, truncation,
// padding, the head reading the extract position, gradients of the head + L3 = L2 + λ·L1 against
// finite differences, gradient accumulation, vocabulary extension, every family learning a tiny task
// through the API, and save/load of a fine-tuned folder.
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import { GPT } from '../../src/model/gpt.ts';
import { preset } from '../../src/model/config.ts';
import { GPTTokenizer } from '../../src/tokenizer/tokenizer.ts';
import { MemoryFileSystem } from '../../src/io/fs.ts';
import { loadModel } from '../../src/model/load.ts';
import {
  TaskHead,
  choose,
  classify,
  encodeAll,
  encodeExample,
  evaluate,
  finetune,
  forwardBackward,
  loadFinetuned,
  makeBatch,
  predict,
  prepareFinetune,
  saveFinetuned,
  similarity,
  truncateSegments,
  withFinetuneTokens,
  type EncodedExample,
  type Example,
  type FinetuneModel,
  type TaskSpec,
} from '../../src/finetune/index.ts';
import { gradConfig, randomParams, sampleIndices } from '../lib/gradcheck-util.ts';
import { assert, assertClose, assertEqual, assertRejects, assertThrows, rand, test } from '../lib/harness.ts';
import { vocabTokenizerJSON } from '../lib/helpers.ts';

// ---- a character tokenizer: ' ' a..z . , ? = ids 0..29, <|endoftext|> 30 (+ the three specials) ----
const CHARS = ' abcdefghijklmnopqrstuvwxyz.,?';
function charTokenizer(withSpecials: boolean): GPTTokenizer {
  const vocab: Record<string, number> = {};
  [...CHARS].forEach((c, i) => (vocab[c] = i));
  const names = ['<|endoftext|>', ...(withSpecials ? ['<|start|>', '<|delimiter|>', '<|extract|>'] : [])];
  return GPTTokenizer.fromJSON(vocabTokenizerJSON(vocab, Object.fromEntries(names.map((content, i) => [content, 30 + i]))));
}
const enc = (s: string) => [...s].map((c) => CHARS.indexOf(c));
const S = 31,
  D = 32,
  E = 33; // start, delimiter, extract in charTokenizer(true)
const IDS = { start: S, delimiter: D, extract: E };
const arr = (x: ArrayLike<number>) => Array.from(x);

test('input transformations: exact token layout of each family', () => {
  const tok = charTokenizer(true);
  const cls = encodeExample(tok, IDS, { family: 'classification', labels: ['n', 'p'] }, { text: 'ab c', label: 'p' }, 32);
  assertEqual(cls.seqs.map(arr), [[S, ...enc('ab c'), E]], 'classification <s> text <e>');
  assertEqual(cls.label, 1);
  const ent = encodeExample(tok, IDS, { family: 'entailment', labels: ['e', 'n', 'c'] }, { premise: 'abc', hypothesis: 'de', label: 'c' }, 32);
  assertEqual(ent.seqs.map(arr), [[S, ...enc('abc'), D, ...enc('de'), E]], 'entailment <s> premise $ hypothesis <e>');
  assertEqual(ent.label, 2);
  const sim = encodeExample(tok, IDS, { family: 'similarity', labels: ['0', '1'] }, { a: 'xy', b: 'zzz', label: '0' }, 32);
  assertEqual(
    sim.seqs.map(arr),
    [
      [S, ...enc('xy'), D, ...enc('zzz'), E],
      [S, ...enc('zzz'), D, ...enc('xy'), E],
    ],
    'similarity, both orders',
  );
  const mc = encodeExample(tok, IDS, { family: 'multiple-choice', labels: [], choices: 3 }, { context: 'ctx', choices: ['a', 'bb', 'c c'], label: 2 }, 32);
  assertEqual(
    mc.seqs.map(arr),
    ['a', 'bb', 'c c'].map((c) => [S, ...enc('ctx'), D, ...enc(c), E]),
    'multiple choice, one sequence per candidate',
  );
  assertEqual(mc.label, 2);
  // text spelling a special token stays plain text
  const forged = encodeExample(tok, IDS, { family: 'classification', labels: ['n', 'p'] }, { text: 'a<|extract|>' }, 64);
  assertEqual(forged.seqs[0].filter((t) => t === E).length, 1, 'only the framing extract token');
});

test('truncation: the front of the longest segment is cut; <s>, $ and <e> are always kept', () => {
  const tok = charTokenizer(true);
  const long = 'abcdefghijklmnopqrstuvwxyz';
  const cls = encodeExample(tok, IDS, { family: 'classification', labels: ['n', 'p'] }, { text: long }, 10);
  assertEqual(arr(cls.seqs[0]), [S, ...enc(long.slice(-8)), E], 'single text keeps its end');
  const ent = encodeExample(tok, IDS, { family: 'entailment', labels: ['a', 'b'] }, { premise: long, hypothesis: 'xyz' }, 12);
  assertEqual(arr(ent.seqs[0]), [S, ...enc(long.slice(-6)), D, ...enc('xyz'), E], 'long premise cut from its front, hypothesis intact');
  const both = encodeExample(tok, IDS, { family: 'similarity', labels: ['a', 'b'] }, { a: long, b: 'abcdefghij' }, 11);
  assertEqual(arr(both.seqs[0]), [S, ...enc(long.slice(-4)), D, ...enc('ghij'), E], 'both long: cut down to equal lengths');
  assertEqual(arr(both.seqs[1]), [S, ...enc('ghij'), D, ...enc(long.slice(-4)), E]);
  const mc = encodeExample(tok, IDS, { family: 'multiple-choice', labels: [], choices: 2 }, { context: long, choices: ['yes', 'no'] }, 9);
  assertEqual(
    mc.seqs.map(arr),
    [
      [S, ...enc('xyz'), D, ...enc('yes'), E],
      [S, ...enc('wxyz'), D, ...enc('no'), E],
    ],
    'each candidate truncated on its own',
  );
  assertEqual(truncateSegments([[1, 2], [3]], 3), [[1, 2], [3]], 'fits: unchanged');
  assertThrows(() => truncateSegments([[1], [2], [3]], 2), /leaves 2 tokens for 3 text segment/);
});

test('padding: ignored LM targets after <e>, head rows at each extract token, L1 a mean over real tokens', () => {
  const tok = charTokenizer(true);
  const spec: TaskSpec = { family: 'similarity', labels: ['0', '1'] };
  const ex = [
    { a: 'ab', b: 'c', label: '1' },
    { a: 'defg', b: 'hi', label: '0' },
  ].map((e) => encodeExample(tok, IDS, spec, e, 32));
  const b = makeBatch(spec, ex);
  assertEqual([b.N, b.S, b.T, b.R], [2, 4, 9, 2]);
  assertEqual(arr(b.groups[0]), [0 * 9 + 5, 2 * 9 + 8], 'order a$b extract rows');
  assertEqual(arr(b.groups[1]), [1 * 9 + 5, 3 * 9 + 8], 'order b$a extract rows');
  for (let s = 0; s < b.S; s++) assertEqual(b.ids[b.groups[s % 2][s >> 1]], E, `row ${s} gathers an extract token`);
  assertEqual(arr(b.lmTargets.subarray(0, 9)), [...enc('ab'), D, ...enc('c'), E, -1, -1, -1, -1], 'next tokens, then ignored padding');
  assertClose(
    b.lmWeights.reduce((x, y) => x + y, 0),
    1,
    { atol: 1e-6 },
    'weights sum to 1',
  );
  assertEqual(arr(b.labels), [1, 0]);
});

// ---- gradients: the head and L3 against finite differences --------------------------------------
const TOL = { atol: 1e-4, rtol: 2e-3 };
const H = 0.02;

function gradSetup(spec: TaskSpec, lmCoef: number, layout: 'post-ln' | 'pre-ln', seed: number) {
  const cfg = gradConfig(layout); // vocab 37 (specials 34, 35, 36), context 9, C 12
  const model = new GPT(new ReferenceBackend(), cfg);
  model.writeParams(randomParams(model.specs, seed));
  const head = new TaskHead(model.be, cfg.nEmbd, spec.family === 'multiple-choice' ? 1 : spec.labels.length, 0.25).init(seed, 0.5);
  const ids = { start: 34, delimiter: 35, extract: 36 };
  const ft: FinetuneModel = { model, tokenizer: null as unknown as GPTTokenizer, spec, head, ids, maxLen: 9 };
  const r = rand(seed);
  const word = (n: number) => Array.from({ length: n }, () => Math.floor(r() * 34));
  const per = spec.family === 'similarity' ? 2 : spec.family === 'multiple-choice' ? spec.choices! : 1;
  const examples: EncodedExample[] = [0, 1, 2].map((i) => {
    const a = word(1 + i),
      b = word(1 + ((i + 1) % 3));
    const seqs = Array.from({ length: per }, (_, k) =>
      Int32Array.from(
        per === 1 && spec.family === 'classification'
          ? [34, ...a, 36]
          : [
              34,
              ...(k % 2 && spec.family === 'similarity' ? b : a),
              35,
              ...(k % 2 && spec.family === 'similarity' ? a : spec.family === 'multiple-choice' ? word(1 + (k % 2)) : b),
              36,
            ],
      ),
    );
    return { seqs, label: i % (spec.family === 'multiple-choice' ? spec.choices! : spec.labels.length) };
  });
  return { ft, batch: makeBatch(spec, examples), lmCoef };
}

for (const [spec, lmCoef, layout] of [
  [{ family: 'classification', labels: ['a', 'b', 'c'] }, 0.5, 'post-ln'],
  [{ family: 'similarity', labels: ['a', 'b'] }, 0.5, 'pre-ln'],
  [{ family: 'multiple-choice', labels: [], choices: 3 }, 0.5, 'post-ln'],
  [{ family: 'entailment', labels: ['e', 'n', 'c'] }, 0, 'pre-ln'],
] as [TaskSpec, number, 'post-ln' | 'pre-ln'][]) {
  test(`gradcheck ${spec.family} (λ=${lmCoef}, ${layout}): head W_y, b and the transformer vs finite differences of L3`, async () => {
    const { ft, batch } = gradSetup(spec, lmCoef, layout, 3);
    const { model, head } = ft,
      be = model.be;
    const train = { seed: 5, step: 2 }; // classifier dropout on, the same mask every call
    const L3 = async () => {
      const r = forwardBackward(ft, batch, { lmCoef, train, withL1: true });
      return (await be.read(r.l2))[0] + lmCoef * (await be.read(r.l1!))[0];
    };
    model.zeroGrad();
    head.zeroGrad();
    forwardBackward(ft, batch, { lmCoef, train, backward: true });
    const tensors: [string, ReturnType<typeof be.alloc>, ReturnType<typeof be.alloc>][] = [
      ['W_y', head.W, head.dW],
      ['b_y', head.b, head.db],
      ['wte', model.params['wte.weight'], model.grads!['wte.weight']],
      ['h.0.attn.c_attn.weight', model.params['h.0.attn.c_attn.weight'], model.grads!['h.0.attn.c_attn.weight']],
      ['h.1.mlp.c_proj.weight', model.params['h.1.mlp.c_proj.weight'], model.grads!['h.1.mlp.c_proj.weight']],
    ];
    let checked = 0,
      nonzero = 0;
    for (const [k, [name, p, g]] of tensors.entries()) {
      const pv = (await be.read(p)) as Float32Array,
        gv = (await be.read(g)) as Float32Array;
      // the extract token's embedding row (36) is always among the wte entries checked
      const idx = name === 'wte' ? [36 * 12, 36 * 12 + 5, ...sampleIndices(pv.length, 10, 7)] : sampleIndices(pv.length, 12, 10 + k);
      const an: number[] = [],
        nu: number[] = [];
      for (const i of idx) {
        const x = pv[i];
        const D = async (h: number) => {
          const xp = Math.fround(x + h),
            xm = Math.fround(x - h);
          be.write(p, Float32Array.of(xp), i);
          const lp = await L3();
          be.write(p, Float32Array.of(xm), i);
          const lm = await L3();
          be.write(p, Float32Array.of(x), i);
          return (lp - lm) / (xp - xm);
        };
        an.push(gv[i]);
        nu.push((4 * (await D(H)) - (await D(2 * H))) / 3);
        if (Math.abs(gv[i]) > 1e-3) nonzero++;
      }
      assertClose(an, nu, TOL, `${spec.family} ${name}`);
      checked += idx.length;
    }
    assert(nonzero > checked / 3, `most checked gradients are non-trivial (${nonzero}/${checked})`);
  });
}

test('the head reads the extract position: dL2/dh is non-zero only at extract rows; padding changes nothing', async () => {
  const spec: TaskSpec = { family: 'multiple-choice', labels: [], choices: 2 };
  const { ft, batch } = gradSetup(spec, 0, 'post-ln', 4);
  const be = ft.model.be,
    C = 12;
  ft.model.zeroGrad();
  ft.head.zeroGrad();
  const pass = ft.model.forward(batch.ids, batch.S, batch.T);
  be.fill(pass.hiddenGrad(), 0);
  ft.head.forward(pass.hidden(), batch.groups, batch.R);
  ft.head.loss(batch.labels, new Float32Array(batch.N).fill(1 / batch.N), batch.nClass);
  ft.head.backward(pass.hiddenGrad(), batch.groups, 1);
  const dh = (await be.read(pass.hiddenGrad())) as Float32Array;
  const rows = new Set(batch.groups[0]);
  for (let r = 0; r < batch.S * batch.T; r++) {
    const mag = dh.subarray(r * C, (r + 1) * C).reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    assert(rows.has(r) ? mag > 1e-6 : mag === 0, `row ${r}: |dh| ${mag}, extract row: ${rows.has(r)}`);
  }
  // an example's probabilities are the same alone and padded inside a batch with a longer one
  const short: EncodedExample = { seqs: [Int32Array.of(34, 3, 35, 4, 36), Int32Array.of(34, 3, 35, 5, 36)], label: 0 };
  const long: EncodedExample = { seqs: [Int32Array.of(34, 1, 2, 3, 4, 35, 6, 7, 36), Int32Array.of(34, 9, 35, 8, 36)], label: 1 };
  const { predictEncoded } = await import('../../src/finetune/finetune.ts');
  const alone = await predictEncoded(ft, [short]);
  const padded = await predictEncoded(ft, [short, long]);
  assertClose(padded[0], alone[0], { atol: 1e-6 }, 'padded vs alone');
  assert(Math.abs(padded[1][0] - alone[0][0]) > 1e-4, 'a different example gives different probabilities');
});

test('gradient accumulation: 4 micro-batches of 1 give the gradients of one batch of 4', async () => {
  const spec: TaskSpec = { family: 'entailment', labels: ['e', 'n', 'c'] };
  const grads = async (micro: number) => {
    const { ft } = gradSetup(spec, 0.5, 'post-ln', 6);
    const r = rand(9);
    const ex: EncodedExample[] = [0, 1, 2, 3].map((i) => ({
      seqs: [Int32Array.from([34, ...Array.from({ length: 2 + i }, () => Math.floor(r() * 34)), 35, 7, 36])],
      label: i % 3,
    }));
    ft.model.zeroGrad();
    ft.head.zeroGrad();
    for (let m = 0; m < 4; m += micro) forwardBackward(ft, makeBatch(spec, ex.slice(m, m + micro)), { lmCoef: 0.5, scale: micro / 4, backward: true });
    return [
      await ft.model.be.read(ft.model.grads!['h.0.attn.c_attn.weight']),
      await ft.model.be.read(ft.model.grads!['wte.weight']),
      await ft.model.be.read(ft.head.dW),
    ];
  };
  const [full, acc] = [await grads(4), await grads(1)];
  for (let i = 0; i < 3; i++) assertClose(acc[i], full[i], { atol: 2e-6, rtol: 1e-4 }, `tensor ${i}`);
});

test('vocabulary extension: missing special tokens get new ids and new W_e rows; old rows unchanged', async () => {
  const model = new GPT(new ReferenceBackend(), preset('tiny', { vocabSize: 31, nCtx: 16 })).init(2);
  const tok = charTokenizer(false);
  assertEqual(tok.specialId('extract'), undefined);
  const before = (await model.be.read(model.params['wte.weight'])) as Float32Array;
  const ext = await withFinetuneTokens(model, tok, 1);
  assertEqual(ext.model.cfg.vocabSize, 34);
  assertEqual(
    ext.added.map((a) => [a.name, a.id]),
    [
      ['start', 31],
      ['delimiter', 32],
      ['extract', 33],
    ],
  );
  assertEqual([ext.tokenizer.specialId('start'), ext.tokenizer.specialId('delimiter'), ext.tokenizer.specialId('extract')], [31, 32, 33]);
  assertEqual(ext.tokenizer.encode('hello world'), tok.encode('hello world'), 'plain text encodes as before');
  const after = (await ext.model.be.read(ext.model.params['wte.weight'])) as Float32Array;
  assertEqual(Array.from(after.subarray(0, 31 * 32)), Array.from(before), 'old rows');
  const fresh = after.subarray(31 * 32);
  const std = Math.sqrt(fresh.reduce((s, x) => s + x * x, 0) / fresh.length);
  assert(std > 0.012 && std < 0.03, `new rows ~ N(0, 0.02²): std ${std}`);
  const same = await withFinetuneTokens(ext.model, ext.tokenizer);
  assert(same.model === ext.model && same.added.length === 0, 'nothing to add: the same model');
  await assertRejects(
    () => withFinetuneTokens(new GPT(new ReferenceBackend(), preset('tiny', { vocabSize: 20 })), tok),
    /tokenizer has 31 tokens but the model's vocabulary holds 20/,
  );
});

// ---- every family learns a tiny task through the API --------------------------------------------
const WORDS = ['cat', 'dog', 'sun', 'map', 'red', 'box', 'hat', 'pen', 'cup', 'fig', 'owl', 'jam'];
function tinyData(family: TaskSpec['family'], n: number, seed: number): { spec: TaskSpec; examples: Example[] } {
  const r = rand(seed),
    w = () => WORDS[Math.floor(r() * WORDS.length)];
  const phrase = () => `${w()} ${w()}`;
  const ex: Example[] = [];
  for (let i = 0; i < n; i++) {
    const y = i % 2;
    if (family === 'classification') ex.push({ text: y ? `yes ${phrase()}` : `no ${phrase()}`, label: y ? 'pos' : 'neg' });
    if (family === 'entailment') ex.push({ premise: phrase(), hypothesis: y ? `not ${w()}` : w(), label: y ? 'contradiction' : 'entailment' });
    if (family === 'similarity') ex.push({ a: y ? `zz ${w()}` : w(), b: phrase(), label: y ? 'same' : 'different' });
    if (family === 'multiple-choice') {
      const k = Math.floor(r() * 3),
        choices = [w(), w(), w()];
      choices[k] = `yes ${choices[k]}`;
      ex.push({ context: phrase(), choices, label: k });
    }
  }
  const labels = { classification: ['neg', 'pos'], entailment: ['contradiction', 'entailment'], similarity: ['different', 'same'], 'multiple-choice': [] }[
    family
  ];
  return { spec: { family, labels, choices: family === 'multiple-choice' ? 3 : undefined }, examples: ex };
}

for (const family of ['classification', 'entailment', 'similarity', 'multiple-choice'] as const) {
  test(`${family} trains through the API: L2 falls, training accuracy high, probabilities sum to 1`, async () => {
    const model = new GPT(new ReferenceBackend(), preset('tiny', { vocabSize: 31, nCtx: 24 })).init(1);
    const { spec, examples } = tinyData(family, 32, 11);
    const ft = await prepareFinetune(model, charTokenizer(false), spec, { seed: 1 });
    const enc = encodeAll(ft, examples);
    const res = await finetune(ft, enc, { batchSize: 8, microBatch: 4, steps: 40, lr: 3e-3, lmCoef: 0.5, seed: 2 });
    const l2 = res.history.map((h) => h.l2),
      first = l2[0],
      last = l2.slice(-5).reduce((a, b) => a + b, 0) / 5;
    assert(
      res.history.every((h) => h.l1 !== null && Number.isFinite(h.l1)),
      'L1 reported with λ > 0',
    );
    assert(last < 0.5 * first, `L2 should fall: first ${first.toFixed(3)}, mean of the last 5 ${last.toFixed(3)}`);
    const m = await evaluate(ft, examples);
    assert(m.accuracy >= 0.9, `training accuracy ${m.accuracy}`);
    const probs = await predict(ft, examples.slice(0, 3));
    for (const p of probs)
      assertClose(
        p.reduce((a, b) => a + b, 0),
        1,
        { atol: 1e-5 },
        'probabilities sum to 1',
      );
    if (family === 'classification') {
      const r = await classify(ft, 'yes cat dog');
      assertEqual(r.label, 'pos');
      assertEqual(Object.keys(r.probabilities), ['neg', 'pos']);
      await assertRejects(() => similarity(ft, 'a', 'b'), /similarity\(\) needs a similarity model; this one is fine-tuned for classification/);
      await assertRejects(() => classify(ft, '   '), /field "text" is empty/);
    }
    if (family === 'entailment') assertEqual((await classify(ft, { premise: 'cat dog', hypothesis: 'not sun' })).label, 'contradiction');
    if (family === 'similarity') assert((await similarity(ft, 'zz cat', 'dog sun')).probabilities.same > 0.5, 'similarity() of a positive pair');
    if (family === 'multiple-choice') {
      const c = await choose(ft, 'cat dog', ['sun', 'yes map', 'red']);
      assertEqual(c.index, 1);
      assertEqual(c.choice, 'yes map');
      await assertRejects(() => choose(ft, 'cat', ['a', 'b']), /holds 2 candidates, the task has 3/);
    }
  });
}

test('λ = 0: no L1, and training still works; save → load gives the same probabilities', async () => {
  const model = new GPT(new ReferenceBackend(), preset('tiny', { vocabSize: 31, nCtx: 24 })).init(1);
  const { spec, examples } = tinyData('classification', 16, 5);
  const ft = await prepareFinetune(model, charTokenizer(false), spec, { seed: 3 });
  const res = await finetune(ft, encodeAll(ft, examples), { batchSize: 8, steps: 6, lr: 3e-3, lmCoef: 0 });
  assert(
    res.history.every((h) => h.l1 === null && h.l3 === h.l2),
    'L3 = L2 when λ = 0',
  );
  const fs = new MemoryFileSystem();
  await saveFinetuned(fs, 'out/clf', ft);
  for (const f of ['model.safetensors', 'config.json', 'tokenizer.json', 'head.safetensors', 'task.json']) assert(await fs.exists(`out/clf/${f}`), f);
  const back = await loadFinetuned(fs, 'out/clf', new ReferenceBackend());
  assertEqual(back.spec, spec);
  const [p0, p1] = [await predict(ft, examples), await predict(back, examples)];
  for (let i = 0; i < p0.length; i++) assertClose(p1[i], p0[i], { atol: 1e-6 }, `example ${i}`);
  const plain = await loadModel(fs, 'out/clf', new ReferenceBackend());
  assertEqual(plain.model.cfg.vocabSize, 34, 'the folder is still an ordinary model folder');
  await fs.remove('out/clf/task.json');
  await assertRejects(() => loadFinetuned(fs, 'out/clf', new ReferenceBackend()), /task\.json: missing \(is out\/clf a fine-tuned model/);
});

test('an async onEval is awaited before the next update (it may read the weights, e.g. to keep the best)', async () => {
  const model = new GPT(new ReferenceBackend(), preset('tiny', { vocabSize: 31, nCtx: 24 })).init(1);
  const { spec, examples } = tinyData('classification', 8, 5);
  const ft = await prepareFinetune(model, charTokenizer(false), spec, { seed: 3 });
  const enc = encodeAll(ft, examples),
    seen: string[] = [];
  await finetune(ft, enc, {
    batchSize: 4,
    steps: 4,
    lr: 3e-3,
    evalSet: enc,
    evalEvery: 2,
    onStep: (e) => seen.push(`step ${e.step}`),
    onEval: async (e) => {
      await new Promise((r) => setTimeout(r, 5));
      seen.push(`eval ${e.step}: ${(await ft.model.readParams()).size} tensors`);
    },
  });
  assertEqual(seen, ['step 1', 'step 2', `eval 2: ${ft.model.specs.length} tensors`, 'step 3', 'step 4', `eval 4: ${ft.model.specs.length} tensors`]);
});
