// Training through the HTTP app (src/jobs/, src/serve/routes/jobs.ts) with app.request(...): a fine-tuning job in OpenAI's
// shape whose loss falls and whose result is served; events as a list and as SSE; cancel; bad job
// requests; a pretraining job that a "restarted server" resumes from its checkpoint.
import { createApp, ModelRegistry, type ServedModel } from '../../src/serve/index.ts';
import { JobManager } from '../../src/jobs/index.ts';
import { MemoryFileSystem, readText } from '../../src/io/fs.ts';
import { JobStore, type JobRecord } from '../../src/jobs/store.ts';
import { GPTTokenizer } from '../../src/tokenizer/tokenizer.ts';
import { assert, assertEqual, test } from '../lib/harness.ts';
import { tinyModel, tinyTokenizerJSON } from '../lib/helpers.ts';

const lm = (seed = 4): ServedModel => ({ model: tinyModel({}, seed), tokenizer: GPTTokenizer.fromJSON(tinyTokenizerJSON()) });
const post = (app: { request: (p: string, i: RequestInit) => Response | Promise<Response> }, path: string, body: unknown) =>
  app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** Polls a running job's events until one matches (20 s at most). */
async function untilEvent(jobs: JobManager, id: string, match: (e: JobRecord['events'][number]) => boolean, what: string): Promise<void> {
  const t0 = Date.now();
  while (!jobs.record(id)!.events.some(match)) {
    assert(Date.now() - t0 < 20_000, `${what} within 20 s`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A tiny separable task: runs of A (pos) or B (neg) of varied lengths. */
function jsonl(n: number): string {
  const rows = [];
  for (let i = 0; i < n; i++) {
    const pos = i % 2 === 0;
    rows.push(JSON.stringify({ text: (pos ? 'A' : 'B').repeat(2 + (i % 5)), label: pos ? 'pos' : 'neg' }));
  }
  return rows.join('\n') + '\n';
}

async function setup(fs = new MemoryFileSystem(), base = new Map<string, ServedModel>([['tiny', lm()]])) {
  const models = new ModelRegistry(base);
  const jobs = await JobManager.open({ fs, dir: 'jobs', models, backend: models.backend, yieldEveryMs: 1 });
  return { fs, models, jobs, app: createApp({ models, jobs }) };
}

test('jobs: a fine-tuning job runs in the background, its loss falls, and its model is served', async () => {
  const { app, jobs } = await setup();
  const file = (await (await post(app, '/v1/files', { purpose: 'fine-tune', filename: 'ab.jsonl', content: jsonl(16) })).json()) as {
    id: string;
    bytes: number;
  };
  assert(file.id.startsWith('file-') && file.bytes > 0, JSON.stringify(file));
  const res = await post(app, '/v1/fine_tuning/jobs', {
    model: 'tiny',
    training_file: file.id,
    task: 'classification',
    hyperparameters: { n_epochs: 15, batch_size: 8, learning_rate: 1e-2, lambda: 0 },
    suffix: 'ab',
    seed: 3,
  });
  assertEqual(res.status, 200);
  const job = (await res.json()) as { id: string; object: string; status: string; model: string; training_file: string };
  assertEqual(job.object, 'fine_tuning.job');
  assertEqual([job.status, job.model, job.training_file], ['queued', 'tiny', file.id]);
  assertEqual(((await (await app.request('/health')).json()) as { status: string }).status, 'ok', 'the server answers while the job runs');
  await jobs.drain();
  const done = (await (await app.request(`/v1/fine_tuning/jobs/${job.id}`)).json()) as {
    status: string;
    fine_tuned_model: string;
    trained_tokens: number;
    error: unknown;
  };
  assertEqual(done.status, 'succeeded', JSON.stringify(done.error));
  assertEqual(done.fine_tuned_model, `ft:tiny:ab:${job.id}`);
  const ev = (await (await app.request(`/v1/fine_tuning/jobs/${job.id}/events?limit=1000`)).json()) as {
    data: { type: string; data?: { step: number; train_loss: number } }[];
  };
  const losses = ev.data
    .filter((e) => e.type === 'metrics')
    .reverse()
    .map((e) => e.data!.train_loss);
  assertEqual(losses.length, 30, 'one metrics event per step (16 examples / 8 × 15 epochs)');
  const head = losses.slice(0, 3).reduce((s, x) => s + x, 0) / 3,
    tail = losses.slice(-3).reduce((s, x) => s + x, 0) / 3;
  assert(tail < head, `loss did not fall: ${losses.map((l) => l.toFixed(3)).join(' ')}`);
  // the result is a model id: listed, and it classifies
  const ids = ((await (await app.request('/v1/models')).json()) as { data: { id: string }[] }).data.map((d) => d.id);
  assert(ids.includes(done.fine_tuned_model), `served models: ${ids}`);
  const cls = (await (await post(app, '/v1/classify', { model: done.fine_tuned_model, input: ['AAA', 'BBB'] })).json()) as { data: { label: string }[] };
  assertEqual(
    cls.data.map((d) => d.label),
    ['pos', 'neg'],
    'the fine-tuned model separates the task',
  );
  // SSE events of a finished job: every event, then [DONE]
  const sse = await (await app.request(`/v1/fine_tuning/jobs/${job.id}/events?stream=true`)).text();
  const events = sse.split('\n\n').filter(Boolean);
  assertEqual(events.at(-1), 'data: [DONE]');
  assert(
    events.some((e) => e.includes('"train_loss"')),
    'loss events in the stream',
  );
  const list = (await (await app.request('/v1/fine_tuning/jobs')).json()) as { data: { id: string }[] };
  assertEqual(
    list.data.map((d) => d.id),
    [job.id],
  );
});

test('jobs: live SSE events while a job runs; cancel ends it; bad job requests are 4xx', async () => {
  const { app, jobs } = await setup();
  const res = await post(app, '/v1/fine_tuning/jobs', {
    model: 'tiny',
    training_data: jsonl(16),
    task: 'classification',
    hyperparameters: { n_epochs: 100, batch_size: 2 },
  });
  const job = (await res.json()) as { id: string };
  const stream = await app.request(`/v1/fine_tuning/jobs/${job.id}/events`, { headers: { accept: 'text/event-stream' } });
  const reader = stream.body!.getReader();
  let seen = '';
  while (!/"train_loss"[\s\S]*"train_loss"/.test(seen)) {
    const r = await reader.read();
    assert(!r.done, 'the stream ended before two steps');
    seen += new TextDecoder().decode(r.value);
  }
  const c = await post(app, `/v1/fine_tuning/jobs/${job.id}/cancel`, {});
  assertEqual(((await c.json()) as { status: string }).status, 'cancelled');
  let rest = '';
  for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
  assert(rest.trim().endsWith('data: [DONE]'), `the event stream ends with [DONE] after the cancel: ${rest.slice(-200)}`);
  await jobs.drain();
  const steps = ((await (await app.request(`/v1/fine_tuning/jobs/${job.id}/events?limit=10000`)).json()) as { data: { type: string }[] }).data.filter(
    (e) => e.type === 'metrics',
  ).length;
  assert(steps < 800, `the job stopped early (${steps} of 800 steps)`);
  const bad: [unknown, number, RegExp][] = [
    [{ model: 'nope', training_data: jsonl(4), task: 'classification' }, 404, /The model 'nope' does not exist/],
    [{ model: 'tiny', task: 'classification' }, 400, /give 'training_file'/],
    [{ model: 'tiny', training_file: 'file-zzz', task: 'classification' }, 404, /no file 'file-zzz'/],
    [{ model: 'tiny', training_data: jsonl(4), task: 'poetry' }, 400, /unknown task "poetry"/],
    [{ model: 'tiny', training_data: jsonl(4) }, 400, /'task' must be one of/],
    [
      { model: 'tiny', training_data: '{"text": "AB", "label": "x"}\n{"text": 5, "label": "y"}\n', task: 'classification' },
      400,
      /line 2: field "text" must be a string/,
    ],
    [{ model: 'tiny', training_data: 'not json\n', task: 'classification' }, 400, /line 1: not valid JSON/],
    [
      { model: 'tiny', training_data: jsonl(4), task: 'classification', hyperparameters: { n_epochs: -1 } },
      400,
      /'hyperparameters.n_epochs' must be an integer/,
    ],
    [{ model: 'tiny', training_data: jsonl(4), task: 'classification', hyperparameters: { warp: 9 } }, 400, /unknown hyperparameter 'warp'/],
  ];
  for (const [body, status, pattern] of bad) {
    const r = await post(app, '/v1/fine_tuning/jobs', body);
    const j = (await r.json()) as { error: { message: string } };
    assertEqual(r.status, status, `${JSON.stringify(body).slice(0, 80)}: ${j.error?.message}`);
    assert(pattern.test(j.error.message), `"${j.error.message}" does not match ${pattern}`);
  }
  const r404 = await app.request('/v1/fine_tuning/jobs/ftjob-none');
  assertEqual(r404.status, 404);
  const pbad = await post(app, '/v1/pretraining/jobs', { model: 'tiny', training_data: 'AB' });
  assertEqual(pbad.status, 400);
  assert(/training data: the corpus has 2 tokens/.test(((await pbad.json()) as { error: { message: string } }).error.message));
});

/** A file system whose renames wait `delay(path)` ms first: a save that takes a while to land. */
class SlowRenames extends MemoryFileSystem {
  constructor(readonly delay: (path: string) => number) {
    super();
  }
  override async rename(from: string, to: string): Promise<void> {
    await new Promise((r) => setTimeout(r, this.delay(to)));
    return super.rename(from, to);
  }
}

test('jobs: a cancel answers once the cancelled status is on disk (a crash after the answer does not resume the job)', async () => {
  const fs = new SlowRenames((p) => (p.endsWith('job.json') ? 30 : 0));
  const { app, jobs } = await setup(fs);
  const job = (await (
    await post(app, '/v1/pretraining/jobs', {
      model: 'tiny',
      training_data: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.repeat(12),
      hyperparameters: { steps: 500, batch_size: 2 },
    })
  ).json()) as { id: string };
  await untilEvent(jobs, job.id, (e) => e.type === 'metrics', 'no step');
  const c = (await (await post(app, `/v1/pretraining/jobs/${job.id}/cancel`, {})).json()) as { status: string };
  assertEqual(c.status, 'cancelled');
  const onDisk = JSON.parse(await readText(fs, `jobs/${job.id}/job.json`)) as JobRecord;
  assertEqual(onDisk.job.status, 'cancelled', 'job.json when the cancel answered');
  await jobs.stop();
});

test('jobs: saves of one job land in the order they were made, even when an earlier write is slower', async () => {
  let first = true;
  const fs = new SlowRenames(() => (first ? ((first = false), 40) : 0));
  const store = new JobStore(fs, 'jobs');
  await store.open();
  const rec = { job: { id: 'ptjob-order', status: 'running' }, kind: 'pretraining', request: {}, events: [], diskBytes: 0 } as unknown as JobRecord;
  const progress = store.save(rec); // serialized now ("running"); its rename is the slow one
  await new Promise((r) => setTimeout(r, 5));
  rec.job.status = 'cancelled';
  const status = store.save(rec);
  await Promise.all([progress, status]);
  assertEqual((JSON.parse(await readText(fs, 'jobs/ptjob-order/job.json')) as JobRecord).job.status, 'cancelled', 'the later save wins');
  await store.settled();
});

test('jobs: a pretraining job interrupted by a server stop resumes from its checkpoint in a new server', async () => {
  const fs = new MemoryFileSystem();
  const corpus = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.repeat(12);
  const first = await setup(fs);
  const job = (await (
    await post(first.app, '/v1/pretraining/jobs', {
      model: 'tiny',
      training_data: corpus,
      hyperparameters: { steps: 12, batch_size: 4, learning_rate: 3e-3, checkpoint_every: 3, warmup_steps: 1 },
    })
  ).json()) as { id: string; object: string };
  assertEqual(job.object, 'pretraining.job');
  // wait for the first checkpoint, then stop the "server" (the job stays "running" on disk, as after a crash)
  const rec = () => first.jobs.record(job.id)!;
  await untilEvent(first.jobs, job.id, (e) => !!e.data?.checkpoint, 'no checkpoint');
  await first.jobs.stop();
  const stoppedAt = Math.max(
    ...rec()
      .events.filter((e) => e.data?.checkpoint)
      .map((e) => Number(e.data!.step)),
  );
  assert(stoppedAt < 12, `stopped before the end (checkpoint at ${stoppedAt})`);
  // a new server on the same folder: reports the job and resumes it
  const second = await setup(fs);
  const seen = second.jobs.record(job.id)!;
  assert(
    seen.events.some((e) => /server restarted/.test(e.message)),
    'the restart is in the event log',
  );
  await second.jobs.drain();
  const done = (await (await second.app.request(`/v1/pretraining/jobs/${job.id}`)).json()) as { status: string; fine_tuned_model: string };
  assertEqual(done.status, 'succeeded');
  const resumed = seen.events.find((e) => e.data?.resumed);
  assert(resumed && Number(resumed.data!.step) >= stoppedAt, `resumed from step ${resumed?.data?.step}, the checkpoint was at ${stoppedAt}`);
  const firstResumedStep = seen.events.find(
    (e) => e.type === 'metrics' && typeof e.data?.train_loss === 'number' && Number(e.data.step) > Number(resumed!.data!.step),
  );
  assertEqual(Number(firstResumedStep!.data!.step), Number(resumed!.data!.step) + 1, 'training continued at the next step, not step 1');
  const losses = seen.events.filter((e) => typeof e.data?.train_loss === 'number').map((e) => Number(e.data!.train_loss));
  assert(losses.at(-1)! < losses[0], `loss fell: ${losses[0]} -> ${losses.at(-1)}`);
  const c = (await (await post(second.app, '/v1/completions', { model: done.fine_tuned_model, prompt: 'ABC', max_tokens: 3, temperature: 0 })).json()) as {
    choices: { text: string }[];
  };
  assertEqual(typeof c.choices[0].text, 'string', 'the pretrained result is served');
  // a third server serves the finished model again without running anything
  const third = await setup(fs);
  assert(
    third.models.infos().some((m) => m.id === done.fine_tuned_model),
    'the result model is served after another restart',
  );
});
