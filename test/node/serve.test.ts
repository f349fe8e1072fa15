// Real servers on 127.0.0.1: Node (@hono/node-server, in this process, through `serveCommand`), Deno
// (Deno.serve) and Bun (Bun.serve) through their binaries running the CLI's serve command from source, each
// with its engine in a worker. Each: an API key and a CORS origin (401s, preflights, foreign origins),
// /health open but silent, a completion equal to the reference backend's, SSE, a bad request, clients
// that hang up mid-stream (counted as cancelled, not errors), and /health answering within 100 ms
// while a training step runs in the worker. Every server is stopped by the test.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { NodeFileSystem } from '../../adapters/node/fs.ts';
import { createBackend } from '../../adapters/node/backend.ts';
import { serveCommand } from '../../adapters/cli/commands/serve.ts';
import { writeModelFiles } from '../../src/io/checkpoint.ts';
import { generate } from '../../src/infer/generate.ts';
import { GPTTokenizer } from '../../src/tokenizer/tokenizer.ts';
import { assert, assertEqual, runtime, test } from '../lib/harness.ts';
import { tinyModel, tinyTokenizerJSON } from '../lib/helpers.ts';

const fs = new NodeFileSystem();
const KEY = 'sk-serve-test-4f2a9c';
const APP = 'https://app.example';

/** Two model folders: "tiny" (checked against the reference) and "slow" (long enough to hang up on, and to train on). */
async function modelDirs(dir: string) {
  const tiny = tinyModel({}, 7),
    slow = tinyModel({ nCtx: 1024, nEmbd: 128, nLayer: 4, nHead: 4, nInner: 512 }, 8);
  for (const [name, m] of [
    ['tiny', tiny],
    ['slow', slow],
  ] as const) {
    await fs.mkdir(join(dir, name));
    await writeModelFiles(fs, join(dir, name), m, tinyTokenizerJSON());
  }
  return { tiny };
}

/** Resolves once the child has exited: SIGTERM first (the server closes its engine), SIGKILL after `ms`. */
function exited(proc: ChildProcess, ms: number): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const force = setTimeout(() => proc.kill('SIGKILL'), ms);
    proc.once('exit', () => (clearTimeout(force), done()));
    proc.kill('SIGTERM');
  });
}

const removeDir = (dir: string) => rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });

const serverArgs = (dir: string) => [
  '--model',
  `tiny=${join(dir, 'tiny')}`,
  '--model',
  join(dir, 'slow'),
  '--port',
  '0',
  '--backend',
  'wasm',
  '--max-body-bytes',
  '4096',
  '--api-key',
  KEY,
  '--cors',
  APP,
  '--jobs',
  join(dir, 'jobs'),
];
const auth = { authorization: `Bearer ${KEY}` };
const json = (body: unknown, headers: Record<string, string> = auth): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});
type Health = { active: number; cancelled: number; completions: number; errors: number; models?: string[] };

async function exercise(url: string, tiny: ReturnType<typeof tinyModel>, label: string): Promise<void> {
  // keys and origins
  const h = await fetch(`${url}/health`);
  assertEqual(h.status, 200, `${label} /health`);
  assert(!('models' in ((await h.json()) as Health)), `${label}: /health without a key lists no models`);
  assertEqual(((await (await fetch(`${url}/health`, { headers: auth })).json()) as Health).models, ['tiny', 'slow'], `${label}: /health with the key`);
  assertEqual((await fetch(`${url}/v1/models`)).status, 401, `${label}: no key`);
  assertEqual((await fetch(`${url}/v1/completions`, json({ prompt: 'AB' }, { authorization: 'Bearer nope' }))).status, 401, `${label}: wrong key`);
  const pre = await fetch(`${url}/v1/completions`, {
    method: 'OPTIONS',
    headers: { origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
  });
  assertEqual([pre.status, pre.headers.get('access-control-allow-origin')], [204, APP], `${label}: preflight from the allowed origin`);
  const evilPre = await fetch(`${url}/v1/completions`, {
    method: 'OPTIONS',
    headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' },
  });
  assertEqual([evilPre.status, evilPre.headers.get('access-control-allow-origin')], [403, null], `${label}: preflight from another origin`);
  assertEqual(
    (await fetch(`${url}/v1/fine_tuning/jobs`, json({ model: 'tiny' }, { ...auth, origin: 'http://evil.example' }))).status,
    403,
    `${label}: a post from another origin`,
  );
  assertEqual(
    (await fetch(`${url}/v1/fine_tuning/jobs`, { method: 'POST', headers: auth, body: new TextEncoder().encode('{}') })).status,
    415,
    `${label}: no Content-Type`,
  );
  // completions
  const r = await fetch(`${url}/v1/completions`, json({ model: 'tiny', prompt: 'ABC', max_tokens: 8, temperature: 0 }, { ...auth, origin: APP }));
  assertEqual(r.headers.get('access-control-allow-origin'), APP, `${label}: CORS header for the allowed origin`);
  const j = (await r.json()) as { choices: { text: string }[] };
  const ref = await generate(tiny, GPTTokenizer.fromJSON(tinyTokenizerJSON()), 'ABC', { maxTokens: 8, temperature: 0 });
  assertEqual(j.choices[0].text, ref.text, `${label}: greedy text equals the reference backend`);
  const s = await (await fetch(`${url}/v1/completions`, json({ model: 'tiny', prompt: 'ABC', max_tokens: 8, temperature: 0, stream: true }))).text();
  const chunks = s.split('\n\n').filter(Boolean);
  assertEqual(chunks.at(-1), 'data: [DONE]', `${label}: SSE ends with [DONE]`);
  assertEqual(
    chunks
      .slice(0, -1)
      .map((c) => (JSON.parse(c.slice(6)) as { choices: { text: string }[] }).choices[0].text)
      .join(''),
    ref.text,
    `${label}: streamed text`,
  );
  // concurrent requests decode in one batch in the worker, each with its own text
  const prompts = ['A', 'BCD', 'EFGHIJ', 'KL'];
  const texts = await Promise.all(
    prompts.map(
      async (prompt) =>
        (
          (await (await fetch(`${url}/v1/completions`, json({ model: 'tiny', prompt, max_tokens: 6, temperature: 0 }))).json()) as {
            choices: { text: string }[];
          }
        ).choices[0].text,
    ),
  );
  for (const [i, prompt] of prompts.entries())
    assertEqual(
      texts[i],
      (await generate(tiny, GPTTokenizer.fromJSON(tinyTokenizerJSON()), prompt, { maxTokens: 6, temperature: 0 })).text,
      `${label}: concurrent request "${prompt}"`,
    );
  const bad = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: 'x'.repeat(8192) });
  assertEqual(bad.status, 413, `${label}: an 8 KiB body over --max-body-bytes 4096`);
  // hang up mid-stream, several times: each generation ends as cancelled, none is an error
  for (let i = 0; i < 3; i++) {
    const ac = new AbortController();
    const sr = await fetch(`${url}/v1/completions`, {
      ...json({ model: 'slow', prompt: 'A', max_tokens: 500, temperature: 1, seed: i, stream: true }),
      signal: ac.signal,
    });
    assertEqual(sr.status, 200, `${label}: the long streaming request`);
    const reader = sr.body!.getReader();
    assert(!(await reader.read()).done, `${label}: a first SSE chunk`);
    ac.abort();
    await reader.cancel().catch(() => undefined);
  }
  const t0 = Date.now();
  let st: Health;
  for (;;) {
    st = (await (await fetch(`${url}/health`)).json()) as Health;
    if (st.active === 0) break;
    assert(Date.now() - t0 < 15_000, `${label}: a generation still runs 15 s after its client left`);
    await new Promise((r) => setTimeout(r, 20));
  }
  assertEqual([st.cancelled, st.errors, st.completions], [3, 0, 6], `${label}: hang-ups are cancelled, not errors (${JSON.stringify(st)})`);
  // a training step in the worker does not hold /health up
  const job = (await (
    await fetch(
      `${url}/v1/pretraining/jobs`,
      json({ model: 'slow', training_data: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.repeat(200), hyperparameters: { steps: 1000, batch_size: 4, seq_len: 128 } }),
    )
  ).json()) as { id: string };
  assert(job.id, `${label}: a pretraining job: ${JSON.stringify(job)}`);
  const stepped = async () =>
    ((await (await fetch(`${url}/v1/pretraining/jobs/${job.id}/events?limit=100`, { headers: auth })).json()) as { data: { type: string }[] }).data.filter(
      (e) => e.type === 'metrics',
    ).length;
  const t1 = Date.now();
  while ((await stepped()) < 1) {
    if (Date.now() - t1 > 30_000) {
      const j = await (await fetch(`${url}/v1/pretraining/jobs/${job.id}`, { headers: auth })).json();
      const ev = await (await fetch(`${url}/v1/pretraining/jobs/${job.id}/events?limit=5`, { headers: auth })).json();
      assert(false, `${label}: no training step within 30 s: ${JSON.stringify(j).slice(0, 300)} ${JSON.stringify(ev).slice(0, 600)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  // one step here takes ~0.2-1 s (2 cores, shared); /health must not wait for it. Checked at the 90th percentile of 30 asks:
  // on the shared 2-core test machine the OS alone sometimes delays a process by 100 ms or more
  const times: number[] = [];
  for (let i = 0; i < 30; i++) {
    const a = performance.now();
    assertEqual((await fetch(`${url}/health`)).status, 200);
    times.push(performance.now() - a);
    await new Promise((r) => setTimeout(r, 20));
  }
  const steps = await stepped();
  assert(steps >= 2, `${label}: training went on while /health was asked (${steps} steps)`);
  times.sort((x, y) => x - y);
  const p90 = times[26],
    max = times.at(-1)!;
  assert(
    p90 < 100 && max < 1000,
    `${label}: /health took ${times[15].toFixed(1)} ms (median), ${p90.toFixed(1)} ms (p90), ${max.toFixed(1)} ms (max) while training`,
  );
  const c = (await (await fetch(`${url}/v1/pretraining/jobs/${job.id}/cancel`, json({}))).json()) as { status: string };
  assertEqual(c.status, 'cancelled', `${label}: the job cancels`);
  assertEqual((await fetch(`${url}/v1/completions`, json({ model: 'tiny', prompt: 'AB', max_tokens: 2 }))).status, 200, `${label}: still serving`);
}

if (runtime === 'node') {
  test('serve: Node (@hono/node-server) via serveCommand on 127.0.0.1, engine in a worker', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gptedge-serve-'));
    const stop = new AbortController();
    let served: Promise<unknown> = Promise.resolve();
    try {
      const { tiny } = await modelDirs(dir);
      let url = '';
      const listening = new Promise<void>((ok) => {
        served = serveCommand(
          serverArgs(dir),
          { fs, createBackend, parse: parseArgs },
          { signal: stop.signal, onListen: (s) => ((url = s.url), ok()), log: () => undefined },
        ).catch(() => undefined);
      });
      await listening;
      assert(url.startsWith('http://127.0.0.1:'), url);
      await exercise(url, tiny, 'node');
    } finally {
      stop.abort();
      // the cancelled job may still be writing into dir until the engine has closed
      await served;
      removeDir(dir);
    }
  }, 90_000);

  test('serve: a non-loopback address needs an API key, or --insecure (then a warning)', async () => {
    const ctx = { fs, createBackend, parse: parseArgs };
    const refused = await serveCommand(['--model', 'x', '--host', '0.0.0.0'], ctx).then(
      () => null,
      (e: Error) => e.message,
    );
    assert(refused && /reaches beyond this machine, and no API key is set/.test(refused), `refused: ${refused}`);
    // with --insecure it gets as far as loading the model (which does not exist), after warning
    const lines: string[] = [];
    const insecure = await serveCommand(['--model', '/nonexistent/model', '--host', '0.0.0.0', '--insecure', '--inline'], ctx, {
      log: (l) => lines.push(l),
    }).then(
      () => null,
      (e: Error) => e.message,
    );
    assert(insecure && !/API key/.test(insecure), `--insecure passes the check: ${insecure}`);
    assert(
      lines.some((l) => /WARNING: serving on 0\.0\.0\.0 without an API key/.test(l)),
      `warned: ${lines.join(' | ')}`,
    );
    const keyed = await serveCommand(['--model', '/nonexistent/model', '--host', '0.0.0.0', '--api-key', KEY, '--inline'], ctx, { log: () => undefined }).then(
      () => null,
      (e: Error) => e.message,
    );
    assert(keyed && !/API key/.test(keyed), `a key passes the check: ${keyed}`);
  });

  for (const [rt, bin, args] of [
    ['deno', 'node_modules/.bin/deno', ['run', '-A', 'adapters/cli/main.ts', 'serve']],
    ['bun', 'node_modules/.bin/bun', ['adapters/cli/main.ts', 'serve']],
  ] as const) {
    test(`serve: ${rt} (${rt === 'deno' ? 'Deno.serve' : 'Bun.serve'}) from its binary on 127.0.0.1, engine in a worker`, async () => {
      assert(existsSync(bin), `${bin} is missing (npm install)`);
      const dir = mkdtempSync(join(tmpdir(), `gptedge-serve-${rt}-`));
      let proc: ChildProcess | null = null;
      try {
        const { tiny } = await modelDirs(dir);
        let log = '';
        proc = spawn(bin, [...args, ...serverArgs(dir)], { stdio: ['ignore', 'pipe', 'pipe'] });
        proc.stdout!.on('data', (d) => (log += d));
        proc.stderr!.on('data', (d) => (log += d));
        const t0 = Date.now();
        let url = '';
        while (!url) {
          url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log)?.[1] ?? '';
          assert(proc.exitCode === null, `${rt} exited (${proc.exitCode}): ${log}`);
          assert(Date.now() - t0 < 30_000, `${rt} did not listen within 30 s: ${log}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        assert(/engine in a worker/.test(log), `${rt}: ${log}`);
        await exercise(url, tiny, rt);
      } finally {
        // the cancelled job may still be writing into dir until the server has shut down
        if (proc) await exited(proc, 10_000);
        removeDir(dir);
      }
    }, 90_000);
  }
}
