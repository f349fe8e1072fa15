// Real servers on 127.0.0.1: Node (@hono/node-server, in this process, through `serveCommand`), Deno
// (Deno.serve) and Bun (Bun.serve) through their binaries running examples/{deno,bun}/server.ts. Each:
// /health, a completion equal to the reference backend's, SSE, a bad request, and a client that hangs up
// mid-stream cancelling its generation. Every server is stopped by the test.
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

/** Two model folders: "tiny" (checked against the reference) and "slow" (long enough to hang up on). */
async function modelDirs(dir: string) {
  const tiny = tinyModel({}, 7), slow = tinyModel({ nCtx: 1024, nEmbd: 128, nLayer: 4, nHead: 4, nInner: 512 }, 8);
  for (const [name, m] of [['tiny', tiny], ['slow', slow]] as const) {
    await fs.mkdir(join(dir, name));
    await writeModelFiles(fs, join(dir, name), m, tinyTokenizerJSON());
  }
  return { tiny };
}

const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function exercise(url: string, tiny: ReturnType<typeof tinyModel>, label: string): Promise<void> {
  const h = await fetch(`${url}/health`);
  assertEqual(h.status, 200, `${label} /health`);
  const r = await fetch(`${url}/v1/completions`, json({ model: 'tiny', prompt: 'ABC', max_tokens: 8, temperature: 0 }));
  const j = (await r.json()) as { choices: { text: string }[] };
  const ref = await generate(tiny, GPTTokenizer.fromJSON(tinyTokenizerJSON()), 'ABC', { maxTokens: 8, temperature: 0 });
  assertEqual(j.choices[0].text, ref.text, `${label}: greedy text equals the reference backend`);
  const s = await (await fetch(`${url}/v1/completions`, json({ model: 'tiny', prompt: 'ABC', max_tokens: 8, temperature: 0, stream: true }))).text();
  const chunks = s.split('\n\n').filter(Boolean);
  assertEqual(chunks.at(-1), 'data: [DONE]', `${label}: SSE ends with [DONE]`);
  assertEqual(chunks.slice(0, -1).map((c) => (JSON.parse(c.slice(6)) as { choices: { text: string }[] }).choices[0].text).join(''), ref.text, `${label}: streamed text`);
  const bad = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(8192) });
  assertEqual(bad.status, 413, `${label}: an 8 KiB body over --max-body-bytes 4096`);
  // hang up mid-stream: the generation must end as cancelled, not run to its 500 tokens
  const ac = new AbortController();
  const sr = await fetch(`${url}/v1/completions`, { ...json({ model: 'slow', prompt: 'A', max_tokens: 500, temperature: 1, stream: true }), signal: ac.signal });
  assertEqual(sr.status, 200, `${label}: the long streaming request`);
  const reader = sr.body!.getReader();
  const first = await reader.read();
  assert(!first.done, `${label}: a first SSE chunk`);
  ac.abort();
  await reader.cancel().catch(() => undefined);
  const t0 = Date.now();
  let st: { active: number; cancelled: number; completions: number };
  for (;;) {
    st = (await (await fetch(`${url}/health`)).json()) as typeof st;
    if (st.active === 0) break;
    assert(Date.now() - t0 < 15_000, `${label}: the generation still runs 15 s after the client left`);
    await new Promise((r) => setTimeout(r, 20));
  }
  assertEqual(st.cancelled, 1, `${label}: counted as cancelled (${JSON.stringify(st)})`);
  assertEqual(st.completions, 2, `${label}: only the two finished completions completed`);
  const after = await fetch(`${url}/v1/completions`, json({ model: 'tiny', prompt: 'AB', max_tokens: 2 }));
  assertEqual(after.status, 200, `${label}: still serving`);
}

if (runtime === 'node') {
  test('serve: Node (@hono/node-server) via serveCommand on 127.0.0.1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gptedge-serve-'));
    const stop = new AbortController();
    try {
      const { tiny } = await modelDirs(dir);
      let url = '';
      const listening = new Promise<void>((ok) => {
        void serveCommand(['--model', `tiny=${join(dir, 'tiny')}`, '--model', join(dir, 'slow'), '--port', '0', '--backend', 'wasm', '--max-body-bytes', '4096'], { fs, createBackend, parse: parseArgs }, {
          signal: stop.signal, onListen: (s) => ((url = s.url), ok()),
        });
      });
      await listening;
      assert(url.startsWith('http://127.0.0.1:'), url);
      await exercise(url, tiny, 'node');
    } finally {
      stop.abort();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  for (const [rt, bin, args] of [
    ['deno', 'node_modules/.bin/deno', ['run', '-A', 'examples/deno/server.ts']],
    ['bun', 'node_modules/.bin/bun', ['examples/bun/server.ts']],
  ] as const) {
    test(`serve: ${rt} (${rt === 'deno' ? 'Deno.serve' : 'Bun.serve'}) from its binary on 127.0.0.1`, async () => {
      assert(existsSync(bin), `${bin} is missing (npm install)`);
      const dir = mkdtempSync(join(tmpdir(), `gptedge-serve-${rt}-`));
      let proc: ChildProcess | null = null;
      try {
        const { tiny } = await modelDirs(dir);
        let log = '';
        proc = spawn(bin, [...args, '--model', `tiny=${join(dir, 'tiny')}`, '--model', join(dir, 'slow'), '--port', '0', '--backend', 'wasm', '--max-body-bytes', '4096'], { stdio: ['ignore', 'pipe', 'pipe'] });
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
        await exercise(url, tiny, rt);
      } finally {
        proc?.kill('SIGTERM');
        rmSync(dir, { recursive: true, force: true });
      }
    }, 60_000);
  }
}
