// Continuous batching through the app (src/serve/scheduler.ts): concurrent requests with their own
// sampling parameters, stop strings and max_tokens decode together in one batch and each gets exactly
// what the single-sequence generate() gives it; a cancelled request frees its slot for the next one at
// once; admission is first come, first served, and every request in the batch advances every step.
import { createApp, type LocalEngine, type ServedModel } from '../../src/serve/index.ts';
import { generate, type GenerateOptions } from '../../src/infer/generate.ts';
import { GPTTokenizer } from '../../src/tokenizer/tokenizer.ts';
import { GPT } from '../../src/model/gpt.ts';
import { preset } from '../../src/model/config.ts';
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import { assert, assertEqual, test } from '../lib/harness.ts';
import { tinyTokenizerJSON, until } from '../lib/helpers.ts';

const tok = () => GPTTokenizer.fromJSON(tinyTokenizerJSON());
const model = () => new GPT(new ReferenceBackend(), preset('tiny', { nCtx: 48, initStd: 0.2 })).init(11);
const post = (app: ReturnType<typeof createApp>, body: unknown, signal?: AbortSignal) =>
  app.request('/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal });

test('scheduler: 12 concurrent requests with their own sampling, stops and lengths decode in one batch, each as generate() alone', async () => {
  const served: ServedModel = { model: model(), tokenizer: tok() };
  const app = createApp({ models: new Map([['m', served]]), limits: { maxConcurrent: 8, maxQueue: 8 }, prefillChunk: 4 });
  const ref = { model: model(), tokenizer: tok() };
  const reqs: { prompt: string; body: Record<string, unknown>; o: GenerateOptions }[] = [];
  for (let i = 0; i < 12; i++) {
    const prompt = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.slice(0, 1 + ((i * 5) % 20));
    const o: GenerateOptions = {
      maxTokens: 4 + ((i * 3) % 11),
      temperature: i % 3 === 0 ? 0 : 0.7 + 0.1 * (i % 4),
      topK: i % 4 === 1 ? 5 : 0,
      topP: i % 4 === 2 ? 0.8 : 1,
      seed: 100 + i,
      stop: i % 5 === 4 ? ['E', 'Q'] : [],
    };
    reqs.push({
      prompt,
      o,
      body: { prompt, max_tokens: o.maxTokens, temperature: o.temperature, top_k: o.topK, top_p: o.topP, seed: o.seed, stop: o.stop, stream: i % 2 === 1 },
    });
  }
  const res = await Promise.all(reqs.map((r) => post(app, r.body)));
  for (const [i, r] of reqs.entries()) {
    const want = await generate(ref.model, ref.tokenizer, r.prompt, r.o);
    let text = '',
      finish = '';
    if (r.body.stream) {
      for (const e of (await res[i].text()).split('\n\n').filter((x) => x && x !== 'data: [DONE]')) {
        const c = JSON.parse(e.slice(6)) as { choices: { text: string; finish_reason: string | null }[] };
        text += c.choices[0].text;
        finish = c.choices[0].finish_reason ?? finish;
      }
    } else {
      const j = (await res[i].json()) as { choices: { text: string; finish_reason: string }[]; usage: { completion_tokens: number } };
      text = j.choices[0].text;
      finish = j.choices[0].finish_reason;
      assertEqual(j.usage.completion_tokens, want.tokens.length, `request ${i}: completion tokens`);
    }
    assertEqual(text, want.text, `request ${i} (${JSON.stringify(r.o)}): text`);
    assertEqual(finish, want.finishReason === 'stop' ? 'stop' : 'length', `request ${i}: finish reason`);
  }
  const { steps, rows } = (app.engine as LocalEngine).batchStats();
  assert(rows / steps > 2, `requests shared steps: ${rows} next-token rows in ${steps} steps`);
});

test('scheduler: a cancelled request frees its slot at once for a waiting one; admission is first come, first served', async () => {
  let hold: (() => void) | null = null,
    holding = true;
  const served: ServedModel = { model: model(), tokenizer: tok() };
  // 2 slots; steps wait for the test while `holding`
  const app = createApp({
    models: new Map([['m', served]]),
    limits: { maxConcurrent: 2, maxQueue: 8 },
    beforeToken: () => (holding ? new Promise<void>((r) => (hold = r)) : undefined),
  });
  const engine = app.engine as LocalEngine;
  const step = async () => {
    await until(() => hold !== null, 'a step to wait');
    const h = hold!;
    hold = null;
    h();
  };
  const first: number[] = [];
  const ac = new AbortController();
  const started = [0, 1, 2, 3].map((i) =>
    Promise.resolve(post(app, { prompt: 'AB', max_tokens: 6, temperature: 0, stream: true }, i === 0 ? ac.signal : undefined))
      .then(async (r) => {
        const reader = r.body!.getReader();
        if (!(await reader.read()).done) first.push(i);
        for (let x = await reader.read(); !x.done; x = await reader.read());
      })
      .catch(() => undefined),
  );
  const health = async () =>
    (await (await app.request('/health')).json()) as { active: number; queued: number; cancelled: number; completions: number; errors: number };
  await until(async () => (await health()).active === 2 && hold !== null, 'two requests past the gate');
  // requests join the batch at step boundaries
  for (let k = 0; k < 5 && engine.decoding() < 2; k++) await step();
  assertEqual(engine.decoding(), 2, 'both slots taken');
  await step();
  assertEqual([engine.decoding(), (await health()).queued], [2, 2], 'requests 2 and 3 wait at the gate');
  ac.abort(); // request 0's client leaves
  for (let k = 0; k < 6 && !first.includes(2); k++) await step();
  assert(first.includes(2) && !first.includes(3), `request 2, first in line, took the freed slot: ${first}`);
  holding = false;
  (hold as (() => void) | null)?.();
  await Promise.all(started);
  assert(first.indexOf(2) >= 0 && first.indexOf(2) < first.indexOf(3), `request 2 (earlier) got its first token before request 3: ${first}`);
  const h = await health();
  assertEqual([h.cancelled, h.completions, h.errors], [1, 3, 0]);
});

test('scheduler: a bounded KV window (kvTokens) — slots of that many positions; longer prompts refused, generation stops at the window', async () => {
  const served: ServedModel = { model: model(), tokenizer: tok() };
  const shapes: number[][] = [];
  const m = served.model,
    alloc = m.newKVCache.bind(m);
  m.newKVCache = (...a: Parameters<typeof alloc>) => (shapes.push([a[0], a[1] ?? -1]), alloc(...a));
  const app = createApp({ models: new Map([['m', served]]), limits: { maxConcurrent: 2 }, kvTokens: 8 });
  const r = (await (await post(app, { prompt: 'ABC', max_tokens: 100, temperature: 0 })).json()) as {
    choices: { text: string; finish_reason: string }[];
    usage: { completion_tokens: number };
  };
  assertEqual(
    [r.usage.completion_tokens, r.choices[0].finish_reason],
    [8 - 3 + 1, 'length'],
    'the window of 8 holds the prompt (3) and the tokens generated; the last position predicts one more',
  );
  const ref = await generate(model(), tok(), 'ABC', { maxTokens: 6, temperature: 0 });
  assertEqual(r.choices[0].text, ref.text, 'the same text as without the bound, up to it');
  assertEqual(shapes, [[2, 8]], 'one cache: 2 slots of 8 positions (not the context window of 48)');
  const long = await post(app, { prompt: 'ABCDEFGH', max_tokens: 1 });
  const e = (await long.json()) as { error: { message: string; code: string } };
  assertEqual([long.status, e.error.code], [400, 'context_length_exceeded']);
  assert(/This server keeps 8 tokens per request \(its KV-cache window; the model's context is 48\)/.test(e.error.message), e.error.message);
  const models = (await (await app.request('/v1/models')).json()) as { data: { context_length: number }[] };
  assertEqual(models.data[0].context_length, 8, '/v1/models reports the window a request can use');
});
