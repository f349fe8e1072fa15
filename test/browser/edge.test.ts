// The edge library bundle (dist/edge/gptedge.js + .wasm, built by scripts/build-edge.mjs into a temporary
// folder) in headless Chromium (Debian chromium via playwright-core), page served from 127.0.0.1:
// examples/browser/finetune.html fine-tunes a tiny GPT on the WASM backend and its loss falls; then the
// Hono app runs inside the page and answers /v1/completions through app.request. Node only (vitest);
// skipped with the reason when Chromium or playwright-core is missing.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { assert, assertEqual, test } from '../lib/harness.ts';
import { chromiumMissing, openPage } from './chromium.ts';

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };

const missing = await chromiumMissing();

if (missing) {
  test(`edge-browser (skipped: ${missing})`, () => console.warn(`SKIP edge-browser: ${missing}`));
} else {
  test('edge-browser: the bundle fine-tunes a tiny GPT in a Chromium tab (loss falls) and serves the Hono app in the page', async () => {
    const out = mkdtempSync(join(tmpdir(), 'gptedge-edge-browser-'));
    const b = spawnSync(process.execPath, ['scripts/build-edge.mjs'], { env: { ...process.env, GPTEDGE_EDGE_OUT: out }, encoding: 'utf8' });
    assertEqual(b.status, 0, `build-edge: ${b.stderr}`);
    // only the example folder and the bundle are served
    const server = createServer((req, res) => {
      const p = normalize(decodeURIComponent(new URL(req.url!, 'http://x').pathname));
      const file = p.startsWith('/dist/edge/') ? join(out, p.slice('/dist/edge/'.length)) : p.startsWith('/examples/browser/') ? join(process.cwd(), p) : null;
      if (!file || !existsSync(file)) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': TYPES[p.slice(p.lastIndexOf('.'))] ?? 'application/octet-stream' }).end(readFileSync(file));
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { page, logs, close } = await openPage(`${base}/examples/browser/finetune.html?backend=wasm&steps=40`);
    try {
      const r = (await page.evaluate('window.__result')) as { error?: string; backend: string; losses: number[]; accuracy: number };
      assert(!r.error, `page failed: ${r.error}\n${logs.join('\n')}`);
      assert(r.backend.startsWith('wasm-'), r.backend);
      assertEqual(r.losses.length, 40);
      const head = r.losses.slice(0, 5).reduce((s, x) => s + x, 0) / 5, tail = r.losses.slice(-5).reduce((s, x) => s + x, 0) / 5;
      console.log(`edge-browser: ${r.backend}, L3 ${head.toFixed(3)} -> ${tail.toFixed(3)}, held-out accuracy ${(100 * r.accuracy).toFixed(1)}%`);
      assert(tail < 0.8 * head, `the loss did not fall: ${r.losses.map((l) => l.toFixed(3)).join(' ')}`);
      // the Hono app in the page: a completion through app.request (no sockets)
      const c = (await page.evaluate(`(async () => {
        const g = await import('/dist/edge/gptedge.js');
        const be = await g.createWasmBackend({ load: async (v) => new Uint8Array(await (await fetch('/dist/edge/gptedge-' + v + '.wasm')).arrayBuffer()), threads: 1 });
        const vocab = {}; for (let i = 0; i < 66; i++) vocab[String.fromCharCode(33 + i)] = i;
        const tokenizer = g.GPTTokenizer.fromJSON({ version: '1.0', added_tokens: [{ id: 66, content: '<|endoftext|>', special: true }], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null,
          model: { type: 'BPE', vocab, merges: [], dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false } });
        const model = new g.GPT(be, g.preset('tiny')).init(1);
        const app = g.createApp({ models: new Map([['tiny', { model, tokenizer }]]) });
        const res = await app.request('/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'ABC', max_tokens: 5, temperature: 0 }) });
        const bad = await app.request('/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
        return { status: res.status, body: await res.json(), bad: bad.status };
      })()`)) as { status: number; body: { choices: { text: string }[]; usage: { completion_tokens: number } }; bad: number };
      assertEqual([c.status, c.bad], [200, 400]);
      assertEqual(c.body.usage.completion_tokens, 5);
    } finally {
      await close();
      server.close();
      rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);
}
