// Generation: the KV-cached decode equals the full forward pass at every position; sampling options,
// seeds, stop strings and limits behave as documented.
import { generate, generateStream } from '../../src/infer/generate.ts';
import { sampleToken } from '../../src/infer/sample.ts';
import { GPTTokenizer } from '../../src/tokenizer/tokenizer.ts';
import { Rng } from '../../src/util/random.ts';
import { assert, assertClose, assertEqual, assertRejects, test } from '../lib/harness.ts';
import { tinyModel, tinyTokenizerJSON } from '../lib/helpers.ts';

for (const layout of ['post-ln', 'pre-ln'] as const) {
  test(`KV cache: prefill + one-token steps give the full forward's logits (${layout}), atol 1e-5`, async () => {
    const model = tinyModel({ layout }, 3);
    const ids = Int32Array.from([5, 17, 3, 66, 0, 12, 40, 9, 9, 31]);
    const V = model.cfg.vocabSize,
      T = ids.length;
    const full = await model.forward(ids, 1, T).allLogits();
    const cache = model.newKVCache(1);
    const steps = [4, 1, 1, 3, 1];
    let p = 0;
    for (const n of steps) {
      const pass = model.forward(ids.slice(p, p + n), 1, n, { cache });
      p += n;
      const last = await pass.lastLogits();
      assertClose(last, full.subarray((p - 1) * V, p * V), { atol: 1e-5 }, `position ${p - 1}`);
    }
    assertEqual(cache.pos, T);
  });
}

const tok = () => GPTTokenizer.fromJSON(tinyTokenizerJSON());

test('greedy generation is deterministic and equals top-k 1; seeds reproduce samples', async () => {
  const model = tinyModel({}, 4);
  const g1 = await generate(model, tok(), 'ABC', { maxTokens: 12, temperature: 0 });
  const g2 = await generate(model, tok(), 'ABC', { maxTokens: 12, temperature: 1, topK: 1, seed: 99 });
  assertEqual(g1.tokens, g2.tokens);
  assertEqual(g1.tokens.length, 12);
  assertEqual(g1.finishReason, 'length');
  const s1 = await generate(model, tok(), 'ABC', { maxTokens: 12, temperature: 1.5, seed: 5 });
  const s2 = await generate(model, tok(), 'ABC', { maxTokens: 12, temperature: 1.5, seed: 5 });
  const s3 = await generate(model, tok(), 'ABC', { maxTokens: 12, temperature: 1.5, seed: 6 });
  assertEqual(s1.tokens, s2.tokens);
  assert(JSON.stringify(s1.tokens) !== JSON.stringify(s3.tokens), 'another seed samples another sequence');
});

test('streaming yields the same text as the whole; stop strings end generation before them', async () => {
  const model = tinyModel({}, 4);
  const whole = await generate(model, tok(), 'ABC', { maxTokens: 10, temperature: 1.5, seed: 2 });
  let streamed = '';
  for await (const c of generateStream(model, tok(), 'ABC', { maxTokens: 10, temperature: 1.5, seed: 2 })) streamed += c.text;
  assertEqual(streamed, whole.text);
  const stop = whole.text.slice(3, 5);
  const cut = await generate(model, tok(), 'ABC', { maxTokens: 10, temperature: 1.5, seed: 2, stop: [stop] });
  assertEqual(cut.finishReason, 'stop');
  assertEqual(cut.text, whole.text.slice(0, whole.text.indexOf(stop)));
});

test('generation stops at the context window; bad options and prompts are clear errors', async () => {
  const model = tinyModel({}, 4);
  const r = await generate(model, tok(), 'ABCDEFGHIJ', { maxTokens: 100, temperature: 0 });
  assertEqual(r.finishReason, 'context');
  assertEqual(r.tokens.length, 16 - 10 + 1);
  await assertRejects(() => generate(model, tok(), 'A'.repeat(16), {}), /the prompt has 16 tokens; the context window holds 16/);
  await assertRejects(() => generate(model, tok(), 'A', { temperature: -1 }), /temperature must be/);
  await assertRejects(() => generate(model, tok(), 'A', { topP: 0 }), /topP must be in \(0, 1\]/);
  await assertRejects(() => generate(model, tok(), 'A', { maxTokens: -3 }), /maxTokens must be an integer >= 0/);
  const ac = new AbortController();
  ac.abort();
  assertEqual((await generate(model, tok(), 'A', { signal: ac.signal })).finishReason, 'cancelled');
});

test('top-p keeps the nucleus only', () => {
  const logits = Float32Array.from([5, 4.9, 0, -1, -2]);
  const seen = new Set<number>();
  const rng = new Rng(1);
  for (let i = 0; i < 300; i++) seen.add(sampleToken(logits, { temperature: 1, topP: 0.9 }, rng));
  assertEqual([...seen].sort(), [0, 1]);
});

test('prefillChunk: the prompt run a few tokens at a time generates what the whole prompt does; bad values refused', async () => {
  const model = tinyModel({}, 6);
  const prompt = 'ABCDEFGHIJK'; // 11 tokens: chunks of 4 leave a last chunk of 3
  const whole = await generate(model, tok(), prompt, { maxTokens: 4, temperature: 0 });
  for (const prefillChunk of [1, 4, 11, 64]) {
    const g = await generate(model, tok(), prompt, { maxTokens: 4, temperature: 0, prefillChunk });
    assertEqual(g.tokens, whole.tokens, `prefillChunk ${prefillChunk}`);
  }
  await assertRejects(() => generate(model, tok(), prompt, { prefillChunk: 0 }), /prefillChunk must be an integer >= 1/);
});

/** The sampler's definition, written the direct way (sort the vocabulary): the oracle of sampleToken. */
function sampleBySorting(logits: Float32Array, o: { temperature: number; topK?: number; topP?: number }, rng: Rng): number {
  let idx = Array.from(logits.keys())
    .filter((i) => logits[i] !== -Infinity)
    .sort((a, b) => logits[b] - logits[a] || a - b);
  if (o.topK && o.topK > 0) idx = idx.slice(0, o.topK);
  let probs = idx.map((i) => Math.exp((logits[i] - logits[idx[0]]) / o.temperature));
  let z = probs.reduce((s, p) => s + p, 0);
  probs = probs.map((p) => p / z);
  if ((o.topP ?? 1) < 1) {
    let cum = 0,
      n = 0;
    while (n < probs.length && cum < o.topP!) cum += probs[n++];
    idx = idx.slice(0, n);
    z = probs.slice(0, n).reduce((s, p) => s + p, 0);
    probs = probs.slice(0, n).map((p) => p / z);
  }
  let r = rng.next();
  for (let i = 0; i < idx.length; i++) if ((r -= probs[i]) < 0) return idx[i];
  return idx[idx.length - 1];
}

test('sampleToken (weighted selection, O(V)) draws the token the sorted definition draws, for every option, seed and mask', () => {
  const V = 1000;
  for (let trial = 0; trial < 30; trial++) {
    const g = new Rng(trial + 7),
      logits = new Float32Array(V);
    // spread logits, and some exact ties (ties are broken by the lower id)
    for (let i = 0; i < V; i++) logits[i] = trial % 3 === 0 ? Math.round(g.normal() * 4) : g.normal() * (1 + trial / 10);
    if (trial % 4 === 2) for (let i = 0; i < V; i += 3) logits[i] = -Infinity; // masked ids (undecodable) are never drawn
    const o = {
      temperature: [1, 0.7, 1.5, 0.3][trial % 4],
      topK: [0, 5, 40, 999, 1000][trial % 5],
      topP: [1, 0.9, 0.5, 0.99][trial % 4 === 1 ? 1 : trial % 7 === 0 ? 2 : trial % 5 === 3 ? 3 : 0],
    };
    const a = new Rng(trial),
      b = new Rng(trial);
    for (let d = 0; d < 20; d++) assertEqual(sampleToken(logits, o, a), sampleBySorting(logits, o, b), `trial ${trial} ${JSON.stringify(o)}, draw ${d}`);
  }
});
