// The HTTP app through `app.request(...)` (no sockets): every endpoint, every bad request of issue 8
// (each a 4xx JSON error in OpenAI's shape, after which the app still answers), SSE streaming,
// the bounded queue's 429, and cancellation when the client goes away.
import { createApp, type LocalEngine, type ServedModel } from '../../src/serve/index.ts';
import { generate } from '../../src/infer/generate.ts';
import { prepareFinetune, type TaskSpec } from '../../src/finetune/index.ts';
import { GPTTokenizer } from '../../src/tokenizer/tokenizer.ts';
import { assert, assertClose, assertEqual, test } from '../lib/harness.ts';
import { tinyModel, tinyTokenizerJSON, until } from '../lib/helpers.ts';

const tok = () => GPTTokenizer.fromJSON(tinyTokenizerJSON());
const lm = (seed = 4): ServedModel => ({ model: tinyModel({}, seed), tokenizer: tok() });

async function classifier(spec: TaskSpec): Promise<ServedModel> {
  return prepareFinetune(tinyModel({ nCtx: 32 }, 5), tok(), spec, { seed: 2 });
}

type App = ReturnType<typeof createApp>;
const post = async (app: App, path: string, body: unknown, init: RequestInit = {}): Promise<Response> =>
  app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body), ...init });

async function expectError(res: Response, status: number, pattern: RegExp, what: string): Promise<Record<string, unknown>> {
  const j = (await res.json()) as { error?: { message?: string; type?: string } };
  assertEqual(res.status, status, `${what}: status (body ${JSON.stringify(j).slice(0, 200)})`);
  assert(j.error && typeof j.error.message === 'string' && typeof j.error.type === 'string', `${what}: OpenAI error shape, got ${JSON.stringify(j)}`);
  assert(pattern.test(j.error.message!), `${what}: message "${j.error.message}" does not match ${pattern}`);
  return j.error as Record<string, unknown>;
}

/** Reads an SSE body into its data payloads. */
async function sseEvents(res: Response): Promise<string[]> {
  const txt = await res.text();
  return txt
    .split('\n\n')
    .filter((e) => e.trim())
    .map((e) => {
      assert(e.startsWith('data: '), `SSE event without "data: ": ${JSON.stringify(e)}`);
      return e.slice(6);
    });
}

test('hono: /health and /v1/models list the served models', async () => {
  const app = createApp({
    models: new Map([
      ['tiny', lm()],
      ['cls', await classifier({ family: 'classification', labels: ['neg', 'pos'] })],
    ]),
  });
  const h = await app.request('/health');
  assertEqual(h.status, 200);
  const hj = (await h.json()) as { status: string; models: string[] };
  assertEqual(hj.status, 'ok');
  assertEqual(hj.models, ['tiny', 'cls']);
  const m = (await (await app.request('/v1/models')).json()) as { object: string; data: { id: string; context_length: number; task: unknown }[] };
  assertEqual(m.object, 'list');
  assertEqual(
    m.data.map((d) => d.id),
    ['tiny', 'cls'],
  );
  assertEqual(m.data[0].context_length, 16);
  assertEqual(m.data[0].task, null);
  assertEqual((m.data[1].task as { family: string }).family, 'classification');
  await expectError(await app.request('/v1/models/nope'), 404, /nope/, 'unknown model id');
  await expectError(await app.request('/v1/nothing'), 404, /no route/, 'unknown route');
});

test('hono: /v1/completions answers in the OpenAI shape and equals generate() for the same seed', async () => {
  const served = lm(4);
  const app = createApp({ models: new Map([['tiny', served]]) });
  const res = await post(app, '/v1/completions', { model: 'tiny', prompt: 'ABC', max_tokens: 6, temperature: 0.9, seed: 7 });
  assertEqual(res.status, 200);
  const j = (await res.json()) as {
    id: string;
    object: string;
    model: string;
    choices: { text: string; index: number; finish_reason: string }[];
    usage: Record<string, number>;
  };
  assertEqual(j.object, 'text_completion');
  assertEqual(j.model, 'tiny');
  assert(j.id.startsWith('cmpl-'), j.id);
  const ref = await generate(lm(4).model, tok(), 'ABC', { maxTokens: 6, temperature: 0.9, seed: 7 });
  assertEqual(j.choices[0].text, ref.text);
  assertEqual(j.choices[0].finish_reason, 'length');
  assertEqual(j.usage, { prompt_tokens: 3, completion_tokens: 6, total_tokens: 9 });
  // stop strings end before the stop; max_tokens 0 gives nothing; echo prepends the prompt
  const stop = ref.text.slice(2, 3);
  const s = (await (await post(app, '/v1/completions', { prompt: 'ABC', max_tokens: 6, temperature: 0.9, seed: 7, stop })).json()) as typeof j;
  assertEqual(s.choices[0].text, ref.text.slice(0, ref.text.indexOf(stop)));
  assertEqual(s.choices[0].finish_reason, 'stop');
  const z = (await (await post(app, '/v1/completions', { model: 'tiny', prompt: 'ABC', max_tokens: 0 })).json()) as typeof j;
  assertEqual(z.choices[0].text, '');
  const e = (await (await post(app, '/v1/completions', { model: 'tiny', prompt: 'ABC', max_tokens: 2, temperature: 0, echo: true })).json()) as typeof j;
  const g = (await (await post(app, '/v1/completions', { model: 'tiny', prompt: 'ABC', max_tokens: 2, temperature: 0 })).json()) as typeof j;
  assertEqual(e.choices[0].text, 'ABC' + g.choices[0].text, 'echo prepends the prompt');
  // generation that reaches the context window ends with "length"
  const full = (await (await post(app, '/v1/completions', { model: 'tiny', prompt: 'ABCDEFGHIJ', max_tokens: 100, temperature: 0 })).json()) as typeof j;
  assertEqual(full.choices[0].finish_reason, 'length');
  assertEqual(full.usage.completion_tokens, 16 - 10 + 1, 'the last position predicts one token past the window');
});

test('hono: stream: true sends SSE chunks that join to the whole text, then data: [DONE]', async () => {
  const app = createApp({ models: new Map([['tiny', lm(4)]]) });
  const body = { model: 'tiny', prompt: 'ABC', max_tokens: 8, temperature: 1.2, seed: 3 };
  const whole = (await (await post(app, '/v1/completions', body)).json()) as { choices: { text: string }[] };
  const res = await post(app, '/v1/completions', { ...body, stream: true, stream_options: { include_usage: true } });
  assertEqual(res.status, 200);
  assert(res.headers.get('content-type')!.startsWith('text/event-stream'), `content-type ${res.headers.get('content-type')}`);
  const events = await sseEvents(res);
  assertEqual(events.at(-1), '[DONE]');
  const chunks = events
    .slice(0, -1)
    .map((e) => JSON.parse(e) as { object: string; choices: { text: string; finish_reason: string | null }[]; usage?: { completion_tokens: number } });
  assert(chunks.length >= 2, `expected several chunks, got ${chunks.length}`);
  assertEqual(chunks.map((c) => c.choices[0].text).join(''), whole.choices[0].text);
  assertEqual(chunks.at(-1)!.choices[0].finish_reason, 'length');
  assert(
    chunks.slice(0, -1).every((c) => c.choices[0].finish_reason === null),
    'only the last chunk has a finish_reason',
  );
  assertEqual(chunks.at(-1)!.usage!.completion_tokens, 8);
});

test('hono: every bad request is a 4xx with a message, and the app keeps serving', async () => {
  const app = createApp({
    models: new Map([
      ['tiny', lm()],
      ['other', lm(5)],
    ]),
    limits: { maxTokens: 64, maxPromptChars: 1000 },
  });
  const ok = async () => {
    const r = await post(app, '/v1/completions', { model: 'tiny', prompt: 'AB', max_tokens: 2 });
    assertEqual(r.status, 200, 'the app still serves');
    assertEqual(((await r.json()) as { choices: unknown[] }).choices.length, 1);
  };
  const cases: [string, () => Response | Promise<Response>, number, RegExp][] = [
    ['malformed JSON', () => post(app, '/v1/completions', '{"model": "tiny", "prompt": "AB",'), 400, /not valid JSON/],
    ['a JSON array body', () => post(app, '/v1/completions', '[1,2]'), 400, /must be a JSON object/],
    ['an empty body', () => post(app, '/v1/completions', ''), 400, /empty/],
    [
      'wrong content type',
      () => app.request('/v1/completions', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' }),
      415,
      /application\/json/,
    ],
    ['prompt of the wrong type', () => post(app, '/v1/completions', { model: 'tiny', prompt: 42 }), 400, /'prompt' must be/],
    ['max_tokens as a string', () => post(app, '/v1/completions', { model: 'tiny', prompt: 'AB', max_tokens: '5' }), 400, /'max_tokens' must be a number/],
    ['temperature as a boolean', () => post(app, '/v1/completions', { model: 'tiny', prompt: 'AB', temperature: true }), 400, /'temperature' must be a number/],
    ['stream as a string', () => post(app, '/v1/completions', { model: 'tiny', prompt: 'AB', stream: 'yes' }), 400, /'stream' must be a boolean/],
    ['stop as a number', () => post(app, '/v1/completions', { model: 'tiny', prompt: 'AB', stop: 3 }), 400, /'stop' must be/],
    ['a 10 MB body', () => post(app, '/v1/completions', JSON.stringify({ model: 'tiny', prompt: 'A'.repeat(10 * 1024 * 1024) })), 413, /larger than the limit/],
    ['negative max_tokens', () => post(app, '/v1/completions', { model: 'tiny', prompt: 'AB', max_tokens: -1 }), 400, /'max_tokens' must be in \[0, 64\]/],
    ['huge max_tokens', () => post(app, '/v1/completions', { model: 'tiny', prompt: 'AB', max_tokens: 1e9 }), 400, /'max_tokens' must be in \[0, 64\]/],
    ['fractional max_tokens', () => post(app, '/v1/completions', { model: 'tiny', prompt: 'AB', max_tokens: 2.5 }), 400, /integer/],
    ['temperature out of range', () => post(app, '/v1/completions', { model: 'tiny', prompt: 'AB', temperature: 5 }), 400, /'temperature' must be in/],
    ['top_p of 0', () => post(app, '/v1/completions', { model: 'tiny', prompt: 'AB', top_p: 0 }), 400, /'top_p' must be in/],
    ['n > 1', () => post(app, '/v1/completions', { model: 'tiny', prompt: 'AB', n: 3 }), 400, /'n' must be in \[1, 1\]/],
    [
      'an unknown argument',
      () => post(app, '/v1/completions', { model: 'tiny', prompt: 'AB', max_token: 3 }),
      400,
      /Unrecognized request argument supplied: max_token/,
    ],
    ['unknown model', () => post(app, '/v1/completions', { model: 'gpt-17', prompt: 'AB' }), 404, /The model 'gpt-17' does not exist/],
    ['model missing with two served', () => post(app, '/v1/completions', { prompt: 'AB' }), 400, /'model' is required/],
    [
      'prompt beyond the context',
      () => post(app, '/v1/completions', { model: 'tiny', prompt: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ' }),
      400,
      /maximum context length is 16 tokens; the prompt has 26/,
    ],
    [
      'prompt over the character limit',
      () => post(app, '/v1/completions', { model: 'tiny', prompt: 'A'.repeat(1001) }),
      400,
      /1001 characters; the limit is 1000/,
    ],
    ['token ids outside the vocabulary', () => post(app, '/v1/completions', { model: 'tiny', prompt: [1, 2, 999] }), 400, /token id 999/],
    ['logprobs (unsupported)', () => post(app, '/v1/completions', { model: 'tiny', prompt: 'AB', logprobs: 2 }), 400, /not supported/],
    ['classify on a plain LM', () => post(app, '/v1/classify', { model: 'tiny', input: 'AB' }), 400, /without a task head/],
    ['score with neither continuation nor choices', () => post(app, '/v1/score', { model: 'tiny', prompt: 'AB' }), 400, /exactly one of/],
    [
      'score beyond the context',
      () => post(app, '/v1/score', { model: 'tiny', prompt: 'ABCDEFGHIJ', continuation: 'ABCDEFGHIJ' }),
      400,
      /maximum context length/,
    ],
    ['score choices of the wrong type', () => post(app, '/v1/score', { model: 'tiny', prompt: 'AB', choices: 'C' }), 400, /'choices' must be an array/],
    ['GET on a POST route', () => app.request('/v1/completions'), 404, /no route GET/],
  ];
  for (const [what, send, status, pattern] of cases) {
    await expectError(await send(), status, pattern, what);
    await ok();
  }
});

test('hono: /v1/score gives log P(continuation | prompt) that matches the model, and multiple-choice probabilities', async () => {
  const served = lm(6);
  const app = createApp({ models: new Map([['tiny', served]]) });
  const r = (await (await post(app, '/v1/score', { model: 'tiny', prompt: 'ABC', continuation: 'DE' })).json()) as {
    data: { logprob: number; token_logprobs: number[]; tokens: number }[];
  };
  // reference: log-softmax of the full forward's logits at the positions before D and E
  const t = tok(),
    ids = t.encode('ABCDE'),
    V = served.model.cfg.vocabSize;
  const logits = await served.model.forward(Int32Array.from(ids), 1, ids.length).allLogits();
  const lp = (row: number, id: number) => {
    const x = logits.subarray(row * V, row * V + V),
      m = Math.max(...x);
    return x[id] - m - Math.log(x.reduce((s, v) => s + Math.exp(v - m), 0));
  };
  const want = [lp(2, ids[3]), lp(3, ids[4])];
  assertEqual(r.data[0].tokens, 2);
  assertClose(r.data[0].token_logprobs, want, { atol: 1e-5 }, 'token log-probabilities');
  assertClose(r.data[0].logprob, want[0] + want[1], { atol: 1e-5 }, 'sum');
  const mc = (await (await post(app, '/v1/score', { model: 'tiny', prompt: 'ABC', choices: ['DE', 'XY', 'D'] })).json()) as {
    data: { logprob: number }[];
    probabilities: number[];
    best: number;
  };
  assertClose(mc.data[0].logprob, r.data[0].logprob, { atol: 1e-6 }, 'the same continuation scores the same');
  assertClose(
    mc.probabilities.reduce((s, p) => s + p, 0),
    1,
    { atol: 1e-6 },
    'probabilities sum to 1',
  );
  const best = mc.data.reduce((bi, d, i) => (d.logprob > mc.data[bi].logprob ? i : bi), 0);
  assertEqual(mc.best, best);
});

test('hono: /v1/classify returns labels and probabilities (classification, entailment, similarity); bad inputs are 400', async () => {
  const cls = await classifier({ family: 'classification', labels: ['neg', 'pos'] });
  const ent = await classifier({ family: 'entailment', labels: ['yes', 'no', 'maybe'] });
  const sim = await classifier({ family: 'similarity', labels: ['same', 'diff'] });
  const app = createApp({
    models: new Map([
      ['cls', cls],
      ['ent', ent],
      ['sim', sim],
    ]),
  });
  const a = (await (await post(app, '/v1/classify', { model: 'cls', input: ['ABC', 'DEF'] })).json()) as {
    data: { index: number; label: string; probabilities: Record<string, number> }[];
  };
  assertEqual(a.data.length, 2);
  for (const d of a.data) {
    assert(['neg', 'pos'].includes(d.label), d.label);
    assertClose(d.probabilities.neg + d.probabilities.pos, 1, { atol: 1e-5 });
    assertEqual(d.label, d.probabilities.pos > d.probabilities.neg ? 'pos' : 'neg');
  }
  const e = (await (await post(app, '/v1/classify', { model: 'ent', input: { premise: 'AB', hypothesis: 'CD' } })).json()) as typeof a;
  assertEqual(Object.keys(e.data[0].probabilities), ['yes', 'no', 'maybe']);
  const s = (await (await post(app, '/v1/classify', { model: 'sim', input: { a: 'AB', b: 'CD' } })).json()) as typeof a;
  assert(['same', 'diff'].includes(s.data[0].label));
  await expectError(await post(app, '/v1/classify', { model: 'cls', input: 5 }), 400, /'input' must be a string/, 'classify input type');
  await expectError(await post(app, '/v1/classify', { model: 'ent', input: 'AB' }), 400, /must be an object \{premise, hypothesis\}/, 'entailment input');
  await expectError(
    await post(app, '/v1/classify', { model: 'ent', input: { premise: 'AB' } }),
    400,
    /'input.hypothesis' must be a string/,
    'entailment missing field',
  );
  await expectError(await post(app, '/v1/classify', { model: 'cls' }), 400, /'input' is required/, 'missing input');
  await expectError(await post(app, '/v1/classify', { model: 'cls', input: [] }), 400, /1 to 16 items/, 'empty input list');
});

/** A generation slowed down by a gate we open from the test: tokens come only when `release()` is called. */
function slowTokens() {
  let waiters: (() => void)[] = [];
  let open = false;
  return {
    beforeToken: () => (open ? undefined : new Promise<void>((r) => waiters.push(r))),
    tick: () => {
      const w = waiters;
      waiters = [];
      w.forEach((f) => f());
    },
    openAll: () => {
      open = true;
      const w = waiters;
      waiters = [];
      w.forEach((f) => f());
    },
    get pending() {
      return waiters.length;
    },
  };
}

test('hono: the queue is bounded — beyond maxConcurrent + maxQueue the answer is 429, and queued requests complete', async () => {
  const slow = slowTokens();
  const app = createApp({ models: new Map([['tiny', lm()]]), limits: { maxConcurrent: 2, maxQueue: 1 }, beforeToken: slow.beforeToken });
  const health = async () => (await (await app.request('/health')).json()) as { active: number; queued: number; rejected: number; completions: number };
  const body = { model: 'tiny', prompt: 'AB', max_tokens: 3, temperature: 0 };
  const running = [post(app, '/v1/completions', body), post(app, '/v1/completions', body), post(app, '/v1/completions', body)];
  await until(async () => {
    const h = await health();
    return h.active === 2 && h.queued === 1;
  }, '2 active + 1 queued');
  const r = await post(app, '/v1/completions', body);
  const err = await expectError(r, 429, /too many requests: 2 computing and 1 queued/, 'queue full');
  assertEqual(err.code, 'queue_full');
  assertEqual(r.headers.get('retry-after'), '1');
  assertEqual((await health()).rejected, 1);
  slow.openAll();
  const done = await Promise.all(running);
  assertEqual(
    done.map((d) => d.status),
    [200, 200, 200],
  );
  const texts = await Promise.all(done.map(async (d) => ((await d.json()) as { choices: { text: string }[] }).choices[0].text));
  assertEqual(new Set(texts).size, 1, 'the same greedy request gives the same text whether it ran or waited');
  const h = await health();
  assertEqual([h.active, h.queued, h.completions], [0, 0, 3]);
});

test('hono: a client that goes away cancels its generation (non-streaming: request signal; streaming: body cancel)', async () => {
  const slow = slowTokens();
  const app = createApp({ models: new Map([['tiny', lm()]]), limits: { maxConcurrent: 1, maxQueue: 4 }, beforeToken: slow.beforeToken });
  const health = async () => (await (await app.request('/health')).json()) as { active: number; queued: number; cancelled: number; completions: number };
  // non-streaming: abort the request's signal mid-generation
  const ac = new AbortController();
  const p = post(app, '/v1/completions', { model: 'tiny', prompt: 'AB', max_tokens: 12, temperature: 0 }, { signal: ac.signal });
  await until(() => slow.pending === 1, 'the first token to wait');
  slow.tick();
  await until(() => slow.pending === 1, 'the second token to wait');
  ac.abort();
  slow.openAll();
  const res = await p.catch((e) => e);
  const h1 = await health();
  assertEqual(
    [h1.active, h1.cancelled, h1.completions],
    [0, 1, 0],
    `after abort: ${JSON.stringify(h1)} (response ${res instanceof Response ? res.status : res})`,
  );
  // a queued request whose client leaves is dropped from the queue
  const slow2 = slowTokens();
  const app2 = createApp({ models: new Map([['tiny', lm()]]), limits: { maxConcurrent: 1, maxQueue: 4 }, beforeToken: slow2.beforeToken });
  const h2 = async () => (await (await app2.request('/health')).json()) as { active: number; queued: number; cancelled: number; completions: number };
  const first = post(app2, '/v1/completions', { model: 'tiny', prompt: 'AB', max_tokens: 2 });
  const ac2 = new AbortController();
  const second = post(app2, '/v1/completions', { model: 'tiny', prompt: 'AB', max_tokens: 2 }, { signal: ac2.signal }).catch((e) => e);
  await until(async () => (await h2()).queued === 1, 'one queued');
  ac2.abort();
  await until(async () => (await h2()).queued === 0, 'the queue to drop the aborted request');
  slow2.openAll();
  assertEqual((await first).status, 200);
  await second;
  const after = await h2();
  assertEqual([after.active, after.queued, after.cancelled, after.completions], [0, 0, 1, 1]);
  // streaming: read two events, then cancel the body (what a runtime does when the socket closes)
  const slow3 = slowTokens();
  slow3.openAll();
  const app3 = createApp({ models: new Map([['tiny', lm()]]), beforeToken: slow3.beforeToken });
  const h3 = async () => (await (await app3.request('/health')).json()) as { active: number; cancelled: number; completions: number };
  const sres = await post(app3, '/v1/completions', { model: 'tiny', prompt: 'A', max_tokens: 14, temperature: 1, seed: 1, stream: true });
  const reader = sres.body!.getReader();
  const first2 = await reader.read();
  assert(!first2.done && new TextDecoder().decode(first2.value).startsWith('data: '), 'a first SSE event');
  await reader.cancel();
  await until(async () => (await h3()).active === 0, 'the streaming generation to end');
  const h = await h3();
  assertEqual([h.cancelled, h.completions], [1, 0]);
});

test('hono: every generation gives its KV slot back (finished, stopped, streamed, cancelled, none); the model keeps one cache of slots', async () => {
  const served = lm(4);
  let open = 0,
    made = 0;
  const m = served.model,
    alloc = m.newKVCache.bind(m),
    free = m.freeKVCache.bind(m);
  m.newKVCache = (...a: Parameters<typeof alloc>) => (open++, made++, alloc(...a));
  m.freeKVCache = (c) => (open--, free(c));
  const app = createApp({ models: new Map([['tiny', served]]), limits: { maxConcurrent: 2 } });
  const engine = app.engine as LocalEngine;
  for (const body of [
    { max_tokens: 4 },
    { max_tokens: 6, temperature: 0.9, seed: 7, stop: 'B' },
    { max_tokens: 0 },
    { max_tokens: 4, stream: true },
    { prompt: 'ABCDEFGHIJ', max_tokens: 100 },
  ]) {
    const r = await post(app, '/v1/completions', { model: 'tiny', prompt: 'ABC', ...body });
    assertEqual(r.status, 200);
    await r.text();
    assertEqual(engine.decoding(), 0, `no generation holds a slot after ${JSON.stringify(body)}`);
  }
  // three at once on two slots (the gate queues the third), and a client that leaves mid-stream
  const three = await Promise.all([1, 2, 3].map((seed) => post(app, '/v1/completions', { model: 'tiny', prompt: 'AB', max_tokens: 5, temperature: 1, seed })));
  assertEqual(
    three.map((r) => r.status),
    [200, 200, 200],
  );
  const s = await post(app, '/v1/completions', { model: 'tiny', prompt: 'A', max_tokens: 12, stream: true });
  const reader = s.body!.getReader();
  await reader.read();
  await reader.cancel();
  await until(() => engine.decoding() === 0, 'the cancelled generation to give its slot back');
  assertEqual([made, open], [1, 1], 'one cache of 2 slots was made, and is kept for the next requests');
  await engine.close();
  assertEqual(open, 0, 'closing the engine frees it');
});
