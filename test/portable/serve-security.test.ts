// The serving app attacked as issue 13 did it, through `app.request(...)` (every runtime): each test
// is one attack that succeeded at commit 73110d9 and must fail now — no key, cross-site requests,
// unbounded and leaking jobs, computing routes that skipped the gate, disconnects counted as errors,
// model ids leaked through the default-model rule and error messages.
import { createApp, ModelRegistry, type AppOptions, type ServedModel } from '../../src/serve/index.ts';
import { JobManager, type JobBounds } from '../../src/jobs/index.ts';
import { MemoryFileSystem } from '../../src/io/fs.ts';
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import { GPT } from '../../src/model/gpt.ts';
import { preset } from '../../src/model/config.ts';
import { prepareFinetune } from '../../src/finetune/index.ts';
import { GPTTokenizer } from '../../src/tokenizer/tokenizer.ts';
import { assert, assertEqual, test } from '../lib/harness.ts';
import { countingBackend, tinyModel, tinyTokenizerJSON, until } from '../lib/helpers.ts';

const KEY = 'sk-test-0123456789abcdef';
const tok = () => GPTTokenizer.fromJSON(tinyTokenizerJSON());
const lm = (seed = 4): ServedModel => ({ model: tinyModel({}, seed), tokenizer: tok() });
type App = ReturnType<typeof createApp>;

function jsonl(n: number): string {
  const rows = [];
  for (let i = 0; i < n; i++) rows.push(JSON.stringify({ text: (i % 2 ? 'B' : 'A').repeat(2 + (i % 5)), label: i % 2 ? 'neg' : 'pos' }));
  return rows.join('\n') + '\n';
}

async function setup(o: { app?: Partial<AppOptions>; bounds?: Partial<JobBounds>; maxLoaded?: number; base?: ServedModel; fs?: MemoryFileSystem } = {}) {
  const models = new ModelRegistry(new Map([['tiny', o.base ?? lm()]]), { maxLoaded: o.maxLoaded });
  const jobs = await JobManager.open({ fs: o.fs ?? new MemoryFileSystem(), dir: 'jobs', models, backend: models.backend, yieldEveryMs: 1, bounds: o.bounds });
  return { models, jobs, app: createApp({ models, jobs, ...o.app }) };
}

const send = (app: App, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  app.request(path, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

async function errorOf(res: Response): Promise<{ status: number; message: string; code: string | null }> {
  const j = (await res.json()) as { error?: { message: string; code: string | null } };
  assert(j.error, `expected an error body, got ${res.status} ${JSON.stringify(j).slice(0, 200)}`);
  return { status: res.status, message: j.error.message, code: j.error.code };
}

const health = async (app: App, headers: Record<string, string> = {}) =>
  (await (await app.request('/health', { headers })).json()) as Record<string, unknown> & {
    active: number;
    queued: number;
    cancelled: number;
    errors: number;
    rejected: number;
    completions: number;
    scores: number;
    classifications: number;
  };

test('security: with API keys every /v1 route needs one (missing, wrong, other scheme: 401); /health stays open and names no models', async () => {
  const { app } = await setup({ app: { auth: [KEY, 'sk-second-key-xyz'] } });
  const routes: [string, string, unknown?][] = [
    ['GET', '/v1/models'],
    ['GET', '/v1/models/tiny'],
    ['POST', '/v1/completions', { prompt: 'AB', max_tokens: 1 }],
    ['POST', '/v1/score', { prompt: 'A', continuation: 'B' }],
    ['POST', '/v1/classify', { input: 'A' }],
    ['POST', '/v1/files', { content: 'x' }],
    ['POST', '/v1/fine_tuning/jobs', { model: 'tiny', training_data: jsonl(4), task: 'classification' }],
    ['GET', '/v1/fine_tuning/jobs'],
    ['GET', '/v1/fine_tuning/jobs/ftjob-x'],
    ['POST', '/v1/fine_tuning/jobs/ftjob-x/cancel', {}],
    ['GET', '/v1/fine_tuning/jobs/ftjob-x/events'],
    ['POST', '/v1/pretraining/jobs', { model: 'tiny', training_data: 'AB' }],
    ['GET', '/v1/pretraining/jobs'],
  ];
  for (const [method, path, body] of routes) {
    const none = await errorOf(await send(app, method, path, body));
    assertEqual([none.status, none.code], [401, 'missing_api_key'], `${method} ${path} without a key`);
    for (const auth of ['Bearer sk-test-0123456789abcdeX', `Bearer ${KEY}x`, `Basic ${KEY}`, 'Bearer']) {
      const r = await send(app, method, path, body, { authorization: auth });
      assertEqual(r.status, 401, `${method} ${path} with "${auth}"`);
      assertEqual(r.headers.get('www-authenticate'), 'Bearer');
    }
    const ok = await send(app, method, path, body, { authorization: `Bearer ${KEY}` });
    assert(ok.status !== 401, `${method} ${path} with the key: ${ok.status}`);
  }
  const second = await send(app, 'GET', '/v1/models', undefined, { authorization: 'bearer sk-second-key-xyz' });
  assertEqual(second.status, 200, 'the second key, scheme in lower case');
  const open = await health(app);
  assertEqual(open.status, 'ok');
  assert(
    !('models' in open) && !('limits' in open) && !JSON.stringify(open).includes('tiny'),
    `/health without a key says nothing about models: ${JSON.stringify(open)}`,
  );
  const full = await health(app, { authorization: `Bearer ${KEY}` });
  assert((full.models as string[]).includes('tiny'), `/health with a key lists the models: ${JSON.stringify(full)}`);
  // an edge deployment's own check: a function of the bearer token
  const edge = createApp({ models: new Map([['tiny', lm()]]), auth: (token) => token === 'from-a-secret' });
  assertEqual((await send(edge, 'GET', '/v1/models')).status, 401);
  assertEqual((await send(edge, 'GET', '/v1/models', undefined, { authorization: 'Bearer from-a-secret' })).status, 200);
});

test('security: no cross-site state changes — no Content-Type, text/plain, multipart without a key and foreign Origins are refused; CORS only as configured', async () => {
  const { app, jobs } = await setup();
  const job = JSON.stringify({ model: 'tiny', training_data: jsonl(8), task: 'classification', hyperparameters: { n_epochs: 1 } });
  // what a page on another site can send without a preflight: no Content-Type, text/plain, a form
  const noType = await app.request('/v1/fine_tuning/jobs', { method: 'POST', body: new TextEncoder().encode(job) });
  const e1 = await errorOf(noType);
  assertEqual([e1.status, e1.code], [415, 'unsupported_media_type'], `no Content-Type: ${e1.message}`);
  const plain = await app.request('/v1/fine_tuning/jobs', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: job });
  assertEqual(plain.status, 415, 'text/plain');
  const cmpl = await app.request('/v1/completions', { method: 'POST', body: new TextEncoder().encode('{"prompt":"AB"}') });
  assertEqual(cmpl.status, 415, 'a completion without Content-Type');
  const form = new FormData();
  form.append('file', new Blob([jsonl(8)]), 'x.jsonl');
  const multipart = await errorOf(await app.request('/v1/files', { method: 'POST', body: form }));
  assertEqual(multipart.status, 415, `multipart without a key: ${multipart.message}`);
  assert(/API key/.test(multipart.message), multipart.message);
  // a foreign Origin on a JSON post (a preflighted fetch would be refused; a no-cors one has no body type)
  const evil = await errorOf(await send(app, 'POST', '/v1/fine_tuning/jobs', JSON.parse(job), { origin: 'http://evil.example' }));
  assertEqual([evil.status, evil.code], [403, 'cors_forbidden'], 'foreign Origin');
  const cancel = await app.request('/v1/fine_tuning/jobs/ftjob-x/cancel', { method: 'POST', headers: { origin: 'null' } });
  assertEqual(cancel.status, 403, 'Origin: null (sandboxed pages) is foreign too');
  assertEqual((await jobs.list('fine_tuning')).length, 0, 'no job was created by any of them');
  // the preflight of a foreign origin is refused, and reads carry no CORS header
  const pre = await app.request('/v1/completions', {
    method: 'OPTIONS',
    headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
  });
  assertEqual(pre.status, 403, 'preflight from a foreign origin');
  assertEqual(pre.headers.get('access-control-allow-origin'), null);
  const read = await send(app, 'GET', '/v1/models', undefined, { origin: 'http://evil.example' });
  assertEqual([read.status, read.headers.get('access-control-allow-origin')], [200, null], 'a cross-origin read gets no CORS header (the page cannot see it)');
  // the server's own origin, and clients without Origin (curl, SDKs), are fine
  const self = await send(app, 'POST', '/v1/completions', { prompt: 'AB', max_tokens: 1 }, { origin: 'http://localhost' });
  assertEqual(self.status, 200, 'same origin');
  assertEqual((await send(app, 'POST', '/v1/completions', { prompt: 'AB', max_tokens: 1 })).status, 200, 'no Origin');

  // an explicit policy: the listed origin gets preflights and CORS headers, others still nothing
  const withCors = await setup({ app: { cors: ['https://app.example'], auth: [KEY] } });
  const pre2 = await withCors.app.request('/v1/completions', {
    method: 'OPTIONS',
    headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
  });
  assertEqual(pre2.status, 204, 'preflight from the allowed origin');
  assertEqual(pre2.headers.get('access-control-allow-origin'), 'https://app.example');
  assert(/authorization/.test(pre2.headers.get('access-control-allow-headers') ?? ''), 'the key header is allowed');
  const post2 = await send(
    withCors.app,
    'POST',
    '/v1/completions',
    { prompt: 'AB', max_tokens: 1 },
    { origin: 'https://app.example', authorization: `Bearer ${KEY}` },
  );
  assertEqual([post2.status, post2.headers.get('access-control-allow-origin')], [200, 'https://app.example']);
  const evil2 = await send(withCors.app, 'POST', '/v1/completions', { prompt: 'AB' }, { origin: 'https://evil.example', authorization: `Bearer ${KEY}` });
  assertEqual(evil2.status, 403, 'an origin not listed');
  // with a key, multipart uploads are accepted (a cross-site form cannot carry the key)
  const form2 = new FormData();
  form2.append('file', new Blob([jsonl(8)]), 'x.jsonl');
  form2.append('purpose', 'fine-tune');
  const up = await withCors.app.request('/v1/files', { method: 'POST', body: form2, headers: { authorization: `Bearer ${KEY}` } });
  assertEqual(up.status, 200, 'multipart with a key');
  assertEqual(((await up.json()) as { filename: string }).filename, 'x.jsonl');
});

test('security: jobs are bounded — queue (429), memory estimate (400 stating it and the limit), disk quota (507), upload size (413)', async () => {
  const { app, jobs } = await setup({ bounds: { maxQueued: 2 } });
  const long = { model: 'tiny', training_data: jsonl(16), task: 'classification', hyperparameters: { n_epochs: 100, batch_size: 2 } };
  const a = await send(app, 'POST', '/v1/fine_tuning/jobs', long),
    b = await send(app, 'POST', '/v1/fine_tuning/jobs', long);
  assertEqual([a.status, b.status], [200, 200]);
  const third = await errorOf(await send(app, 'POST', '/v1/fine_tuning/jobs', long));
  assertEqual([third.status, third.code], [429, 'too_many_jobs'], third.message);
  for (const r of [a, b]) await send(app, 'POST', `/v1/fine_tuning/jobs/${((await r.json()) as { id: string }).id}/cancel`, {});
  await jobs.drain();

  const small = await setup({ bounds: { maxJobBytes: 8 << 20 } });
  const big = await errorOf(
    await send(small.app, 'POST', '/v1/pretraining/jobs', {
      model: 'tiny',
      training_data: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.repeat(20),
      hyperparameters: { batch_size: 1024, steps: 1 },
    }),
  );
  assertEqual([big.status, big.code], [400, 'job_too_large'], big.message);
  assert(/needs an estimated [\d.]+ MiB of memory .* 1024 sequences × 16 tokens.*allows 8\.00 MiB per job/.test(big.message), big.message);
  const fine = await send(small.app, 'POST', '/v1/pretraining/jobs', {
    model: 'tiny',
    training_data: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.repeat(20),
    hyperparameters: { batch_size: 4, steps: 1 },
  });
  assertEqual(fine.status, 200, 'a job within the estimate');
  const bigFt = await errorOf(
    await send(small.app, 'POST', '/v1/fine_tuning/jobs', {
      model: 'tiny',
      training_data: jsonl(8),
      task: 'classification',
      hyperparameters: { batch_size: 256 },
    }),
  );
  assertEqual(bigFt.code, 'job_too_large', bigFt.message);
  await small.jobs.drain();

  const quota = await setup({ bounds: { diskQuotaBytes: 200_000, maxDataBytes: 4096 } });
  const tooBig = await errorOf(await send(quota.app, 'POST', '/v1/files', { content: 'A'.repeat(5000) }));
  assertEqual([tooBig.status, tooBig.code], [413, 'file_too_large'], tooBig.message);
  const inline = await errorOf(
    await send(quota.app, 'POST', '/v1/fine_tuning/jobs', { model: 'tiny', training_data: 'A'.repeat(5000), task: 'classification' }),
  );
  assertEqual(inline.status, 413, 'inline training data over the cap');
  // 50 × 4,000 bytes fill the 200,000-byte quota exactly; the 51st does not fit
  for (let i = 0; i < 50; i++) assertEqual((await send(quota.app, 'POST', '/v1/files', { content: 'A'.repeat(4000) })).status, 200, `upload ${i}`);
  const full = await errorOf(await send(quota.app, 'POST', '/v1/files', { content: 'A'.repeat(4000) }));
  assertEqual([full.status, full.code], [507, 'insufficient_storage'], full.message);
  const jobFull = await errorOf(await send(quota.app, 'POST', '/v1/fine_tuning/jobs', { model: 'tiny', training_data: jsonl(4), task: 'classification' }));
  assertEqual(jobFull.status, 507, `a job that would not fit the quota: ${jobFull.message}`);
  assert(/needs [\d.]+ MiB in the jobs folder, which holds 195\.3 KiB of its 195\.3 KiB quota/.test(jobFull.message), jobFull.message);
});

test('security: every job frees what it allocated — succeeded, failed and cancelled; results load on use, at most maxLoaded at once', async () => {
  const counting = countingBackend(new ReferenceBackend());
  const base: ServedModel = { model: new GPT(counting.be, preset('tiny')).init(3), tokenizer: tok() };
  const fs = new MemoryFileSystem();
  const { app, jobs, models } = await setup({ base, fs, maxLoaded: 2 });
  const baseline = counting.liveBytes();
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await send(app, 'POST', '/v1/fine_tuning/jobs', {
      model: 'tiny',
      training_data: jsonl(8),
      task: 'classification',
      hyperparameters: { n_epochs: 1, batch_size: 4 },
      suffix: `s${i}`,
    });
    ids.push(((await r.json()) as { id: string }).id);
    await jobs.drain();
  }
  assertEqual(counting.liveBytes(), baseline, 'after 3 succeeded jobs nothing they trained on is still allocated (their results load on use)');
  // cancelled mid-run
  const c = (await (
    await send(app, 'POST', '/v1/fine_tuning/jobs', {
      model: 'tiny',
      training_data: jsonl(16),
      task: 'classification',
      hyperparameters: { n_epochs: 100, batch_size: 2 },
    })
  ).json()) as { id: string };
  await until(() => (jobs.record(c.id)?.events.filter((e) => e.type === 'metrics').length ?? 0) >= 2, 'two steps');
  assertEqual(((await (await send(app, 'POST', `/v1/fine_tuning/jobs/${c.id}/cancel`, {})).json()) as { status: string }).status, 'cancelled');
  await jobs.drain();
  assertEqual(counting.liveBytes(), baseline, 'a cancelled job frees its copy');
  // failed: its checkpoint cannot be written
  const write = fs.writeFile.bind(fs);
  fs.writeFile = async (p, d) => (/ptjob-.*\/run\//.test(p) ? Promise.reject(new Error('disk full')) : write(p, d));
  const p = (await (
    await send(app, 'POST', '/v1/pretraining/jobs', {
      model: 'tiny',
      training_data: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.repeat(12),
      hyperparameters: { steps: 3, batch_size: 2, checkpoint_every: 1 },
    })
  ).json()) as { id: string };
  await jobs.drain();
  assertEqual(((await (await send(app, 'GET', `/v1/pretraining/jobs/${p.id}`)).json()) as { status: string }).status, 'failed');
  assertEqual(counting.liveBytes(), baseline, 'a failed job frees its copy');
  fs.writeFile = write;
  // the three results: loaded when used, two at a time, the least recently used unloaded (and freed)
  const names = await Promise.all(
    ids.map(async (id) => ((await (await send(app, 'GET', `/v1/fine_tuning/jobs/${id}`)).json()) as { fine_tuned_model: string }).fine_tuned_model),
  );
  const listed = ((await (await send(app, 'GET', '/v1/models')).json()) as { data: { id: string }[] }).data.map((d) => d.id);
  for (const n of names) assert(listed.includes(n), `${n} is listed before it is loaded`);
  let oneModel = 0;
  for (const [i, n] of [...names, names[0]].entries()) {
    const r = await send(app, 'POST', '/v1/classify', { model: n, input: 'AAA' });
    assertEqual(r.status, 200, `classify with ${n}`);
    if (i === 0) oneModel = counting.liveBytes() - baseline;
    assert(models.loadedResults() <= 2, `at most 2 results loaded, ${models.loadedResults()} are`);
    assert(
      counting.liveBytes() - baseline <= 2 * oneModel + 1024,
      `memory holds at most two results: ${counting.liveBytes() - baseline} bytes over the base, one is ${oneModel}`,
    );
  }
});

test('security: score and classify pass the same gate as completions — floods get 429s, the counters add up, completions are still served', async () => {
  const cls = await prepareFinetune(tinyModel({ nCtx: 32 }, 5), tok(), { family: 'classification', labels: ['neg', 'pos'] }, { seed: 2 });
  const app = createApp({
    models: new Map<string, ServedModel>([
      ['tiny', lm()],
      ['cls', cls],
    ]),
    limits: { maxConcurrent: 2, maxQueue: 3 },
  });
  let peak = { active: 0, queued: 0 };
  const watch = setInterval(async () => {
    const h = await health(app);
    peak = { active: Math.max(peak.active, h.active), queued: Math.max(peak.queued, h.queued) };
  }, 1);
  try {
    for (const [route, body, counter] of [
      ['/v1/score', { model: 'tiny', prompt: 'ABC', choices: ['DE', 'FG', 'HI', 'JK'] }, 'scores'],
      ['/v1/classify', { model: 'cls', input: ['AB', 'CD', 'EF', 'GH'] }, 'classifications'],
    ] as const) {
      const before = await health(app);
      const res = await Promise.all(Array.from({ length: 40 }, () => send(app, 'POST', route, body)));
      const codes = res.map((r) => r.status);
      const n429 = codes.filter((s) => s === 429).length,
        n200 = codes.filter((s) => s === 200).length;
      assert(n429 > 0, `a flood of 40 ${route} requests against 2 running + 3 queued got no 429: ${codes.join(',')}`);
      assertEqual(n429 + n200, 40, `only 200s and 429s: ${codes.join(',')}`);
      assertEqual(res.find((r) => r.status === 429)!.headers.get('retry-after'), '1');
      const after = await health(app);
      assertEqual(after.rejected - before.rejected, n429, 'rejected counts the 429s');
      assertEqual(after[counter] - before[counter], n200, `${counter} counts the answered requests`);
    }
  } finally {
    clearInterval(watch);
  }
  assert(peak.active <= 2 && peak.queued <= 3, `the gate held: peak ${JSON.stringify(peak)}`);
  const c = await send(app, 'POST', '/v1/completions', { model: 'tiny', prompt: 'AB', max_tokens: 4 });
  assertEqual(c.status, 200, 'a completion after the floods');
  const h = await health(app);
  assertEqual([h.active, h.queued, h.errors], [0, 0, 0]);
});

test('security: a client that disconnects is counted as cancelled, never as an error (streaming and not)', async () => {
  const app = createApp({ models: new Map([['tiny', lm()]]) });
  for (let i = 0; i < 5; i++) {
    const res = await send(app, 'POST', '/v1/completions', { prompt: 'A', max_tokens: 12, temperature: 1, seed: i, stream: true });
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
  }
  const ac = new AbortController();
  let tokens = 0;
  const slowApp = createApp({ models: new Map([['tiny', lm()]]), beforeToken: () => void (++tokens === 3 && ac.abort()) });
  await Promise.resolve(
    slowApp.request('/v1/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'A', max_tokens: 12 }),
      signal: ac.signal,
    }),
  ).catch(() => undefined);
  await until(async () => (await health(app)).active === 0 && (await health(slowApp)).active === 0, 'the generations to end');
  const h = await health(app),
    s = await health(slowApp);
  assertEqual([h.cancelled, h.errors, h.completions], [5, 0, 0], `streams cancelled by their clients: ${JSON.stringify(h)}`);
  assertEqual([s.cancelled, s.errors, s.completions], [1, 0, 0], `a request aborted mid-generation: ${JSON.stringify(s)}`);
});

test('security: model ids are not leaked — the default model stays when jobs finish; unknown-model errors list nothing', async () => {
  const { app, jobs } = await setup();
  const ok = async (what: string) => assertEqual((await send(app, 'POST', '/v1/completions', { prompt: 'AB', max_tokens: 2 })).status, 200, what);
  await ok('without `model`, the only base model answers');
  const job = (await (
    await send(app, 'POST', '/v1/fine_tuning/jobs', {
      model: 'tiny',
      training_data: jsonl(8),
      task: 'classification',
      hyperparameters: { n_epochs: 1 },
      suffix: 'secret-tenant',
    })
  ).json()) as { id: string };
  await jobs.drain();
  await ok('…and still does after a job published its model');
  for (const [path, body] of [
    ['/v1/completions', { model: 'gpt-17', prompt: 'AB' }],
    ['/v1/score', { model: 'gpt-17', prompt: 'A', continuation: 'B' }],
    ['/v1/classify', { model: 'gpt-17', input: 'A' }],
    ['/v1/fine_tuning/jobs', { model: 'gpt-17', training_data: jsonl(4), task: 'classification' }],
  ] as const) {
    const e = await errorOf(await send(app, 'POST', path, body));
    assertEqual([e.status, e.code], [404, 'model_not_found'], `${path}: ${e.message}`);
    assert(!e.message.includes('tiny') && !e.message.includes('secret-tenant') && !e.message.includes(job.id), `${path} names other models: ${e.message}`);
  }
  const m = await errorOf(await send(app, 'GET', '/v1/models/gpt-17'));
  assert(!m.message.includes('tiny'), m.message);
});
