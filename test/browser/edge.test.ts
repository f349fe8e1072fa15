// examples/browser (a page importing gptedge/browser), bundled with esbuild as a user would, in headless
// Chromium (Debian chromium via playwright-core), served from 127.0.0.1 cross-origin isolated: the page
// fine-tunes a tiny GPT on the WASM backend (a worker pool: SharedArrayBuffer) and its loss falls; then
// gptedge/hono's app runs inside the page and answers /v1/completions through app.request. Node only
// (vitest); skipped with the reason when Chromium or playwright-core is missing. The package resolves to
// this repository's dist/ (package.json self-reference), so it needs `npm run build`.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { assert, assertEqual, test } from '../lib/harness.ts';
import { chromiumMissing, openPage } from './chromium.ts';

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };

const missing = await chromiumMissing();

if (missing) {
  test(`edge-browser (skipped: ${missing})`, () => console.warn(`SKIP edge-browser: ${missing}`));
} else {
  test('edge-browser: examples/browser fine-tunes a tiny GPT in a Chromium tab (loss falls, threads) and serves the Hono app in the page', async () => {
    const out = mkdtempSync(join(tmpdir(), 'gptedge-edge-browser-'));
    const { build } = await import('esbuild');
    const common = { bundle: true, format: 'esm', platform: 'browser', target: 'es2022', logLevel: 'error' } as const;
    await build({ ...common, entryPoints: ['examples/browser/finetune.js'], outfile: join(out, 'finetune.js') });
    await build({
      ...common,
      stdin: { contents: "export * from 'gptedge/browser'; export { createApp } from 'gptedge/hono';", resolveDir: process.cwd() },
      outfile: join(out, 'lib.js'),
    });
    cpSync('dist/wasm/build', join(out, 'build'), { recursive: true });
    writeFileSync(join(out, 'finetune.html'), readFileSync('examples/browser/finetune.html', 'utf8'));
    const server = createServer((req, res) => {
      const file = resolve(out, '.' + decodeURIComponent(new URL(req.url!, 'http://x').pathname));
      if (!file.startsWith(out) || !existsSync(file)) return void res.writeHead(404).end();
      res
        .writeHead(200, {
          'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
          'cross-origin-opener-policy': 'same-origin',
          'cross-origin-embedder-policy': 'require-corp',
        })
        .end(readFileSync(file));
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { page, logs, close } = await openPage(`${base}/finetune.html?backend=wasm&steps=40`);
    try {
      const r = (await page.evaluate('window.__result')) as { error?: string; backend: string; losses: number[]; accuracy: number };
      assert(!r.error, `page failed: ${r.error}\n${logs.join('\n')}`);
      assert(/^wasm-.*-x\d/.test(r.backend), `WASM with a worker pool: ${r.backend}`);
      assertEqual(r.losses.length, 40);
      const head = r.losses.slice(0, 5).reduce((s, x) => s + x, 0) / 5,
        tail = r.losses.slice(-5).reduce((s, x) => s + x, 0) / 5;
      console.log(`edge-browser: ${r.backend}, L3 ${head.toFixed(3)} -> ${tail.toFixed(3)}, held-out accuracy ${(100 * r.accuracy).toFixed(1)}%`);
      assert(tail < 0.8 * head, `the loss did not fall: ${r.losses.map((l) => l.toFixed(3)).join(' ')}`);
      // the Hono app in the page: a completion through app.request (no sockets)
      const c = (await page.evaluate(`(async () => {
        const g = await import('/lib.js');
        const be = await g.createBackend('wasm', { threads: 1 });
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
  }, 120_000);
}
