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
    const V = model.cfg.vocabSize, T = ids.length;
    model.transformer(ids, 1, T);
    const full = await model.allLogits(T);
    const cache = model.newKVCache(1);
    const steps = [4, 1, 1, 3, 1];
    let p = 0;
    for (const n of steps) {
      model.transformer(ids.slice(p, p + n), 1, n, {}, cache);
      p += n;
      const last = await model.lastLogits(1, n);
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
