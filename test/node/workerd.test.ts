// The edge bundle inside workerd (the open-source Cloudflare Workers runtime): scripts/build-edge.mjs
// builds dist/edge-style output into a temporary folder, a tiny model is written beside it, workerd
// serves examples/workerd/config.capnp (with an API key and a CORS origin bound, as a deployment
// would) on a loopback port, and /v1/completions answers with the text the reference backend
// generates; keys and origins are checked as on the other servers; then int4 weights fetched from a
// binding (config-binding.capnp: a disk service) and streamed in. Node only (vitest); workerd is
// stopped by the test.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeFileSystem } from '../../adapters/node/fs.ts';
import { writeModelFiles } from '../../src/io/checkpoint.ts';
import { generate } from '../../src/infer/generate.ts';
import { GPTTokenizer } from '../../src/tokenizer/tokenizer.ts';
import { assert, assertEqual, runtime, test } from '../lib/harness.ts';
import { tinyModel, tinyTokenizerJSON } from '../lib/helpers.ts';
import { GPT } from '../../src/model/gpt.ts';
import { startWorkerd, WORKERD, type RunningWorkerd } from '../lib/workerd.ts';

const KEY = 'sk-workerd-secret-7c1e';
const APP = 'https://app.example';
const auth = { authorization: `Bearer ${KEY}` };

if (runtime === 'node') {
  test('workerd: the edge bundle serves /v1/completions with a tiny model on loopback (WASM from imported modules)', async () => {
    assert(existsSync(WORKERD), `${WORKERD} is missing (npm install)`);
    const dir = mkdtempSync(join(tmpdir(), 'gptedge-workerd-'));
    let wd: RunningWorkerd | null = null;
    try {
      const b = spawnSync(process.execPath, ['scripts/build-edge.mjs'], { env: { ...process.env, GPTEDGE_EDGE_OUT: dir }, encoding: 'utf8' });
      assertEqual(b.status, 0, `build-edge failed: ${b.stderr}`);
      const model = tinyModel({}, 7);
      await new NodeFileSystem().mkdir(join(dir, 'model'));
      await writeModelFiles(new NodeFileSystem(), join(dir, 'model'), model, tinyTokenizerJSON());
      // the example, deployed: a key and an allowed origin instead of ALLOW_UNAUTHENTICATED
      const config = readFileSync('examples/workerd/config.capnp', 'utf8').replace(
        /\(name = "ALLOW_UNAUTHENTICATED", text = "true"\),/,
        `(name = "GPTEDGE_API_KEYS", text = "${KEY}"), (name = "CORS_ORIGINS", text = "${APP}"),`,
      );
      assert(config.includes(KEY), 'the config binds the key');
      writeFileSync(join(dir, 'config.capnp'), config);
      wd = await startWorkerd(dir, 'config.capnp');
      const url = wd.url;
      // keys and origins, inside workerd
      const open = (await (await fetch(`${url}/health`)).json()) as Record<string, unknown>;
      assert(open.status === 'ok' && !('models' in open), `/health without a key: ${JSON.stringify(open)}`);
      assertEqual((await fetch(`${url}/v1/models`)).status, 401, 'no key');
      assertEqual((await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer wrong' } })).status, 401, 'a wrong key');
      const pre = await fetch(`${url}/v1/completions`, {
        method: 'OPTIONS',
        headers: { origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      });
      assertEqual([pre.status, pre.headers.get('access-control-allow-origin')], [204, APP], 'preflight from the allowed origin');
      const evil = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: 'http://evil.example', ...auth },
        body: '{"prompt":"A"}',
      });
      assertEqual(evil.status, 403, 'a post from another origin');
      assertEqual(
        (await fetch(`${url}/v1/completions`, { method: 'POST', headers: auth, body: new TextEncoder().encode('{"prompt":"A"}') })).status,
        415,
        'no Content-Type',
      );
      const res = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: APP, ...auth },
        body: JSON.stringify({ model: 'gptedge', prompt: 'ABC', max_tokens: 8, temperature: 0 }),
      });
      assertEqual(res.headers.get('access-control-allow-origin'), APP, 'CORS header for the allowed origin');
      const j = (await res.json()) as { choices: { text: string; finish_reason: string }[]; usage: { completion_tokens: number } };
      assertEqual(res.status, 200, `${JSON.stringify(j)} ${wd.log()}`);
      const ref = await generate(model, GPTTokenizer.fromJSON(tinyTokenizerJSON()), 'ABC', { maxTokens: 8, temperature: 0 });
      assertEqual(j.choices[0].text, ref.text, 'greedy text equals the reference backend');
      assertEqual(j.usage.completion_tokens, 8);
      // continuous batching in workerd's single thread: concurrent requests share steps, each gets its own text
      const prompts = ['A', 'BCD', 'EFGHIJ', 'KL'];
      const texts = await Promise.all(
        prompts.map(
          async (prompt) =>
            (
              (await (
                await fetch(`${url}/v1/completions`, {
                  method: 'POST',
                  headers: { 'content-type': 'application/json', ...auth },
                  body: JSON.stringify({ prompt, max_tokens: 6, temperature: 0 }),
                })
              ).json()) as { choices: { text: string }[] }
            ).choices[0].text,
        ),
      );
      for (const [i, prompt] of prompts.entries())
        assertEqual(
          texts[i],
          (await generate(model, GPTTokenizer.fromJSON(tinyTokenizerJSON()), prompt, { maxTokens: 6, temperature: 0 })).text,
          `concurrent request "${prompt}"`,
        );
      // streaming and a bad request inside workerd too
      const s = await (
        await fetch(`${url}/v1/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...auth },
          body: JSON.stringify({ prompt: 'ABC', max_tokens: 4, temperature: 0, stream: true }),
        })
      ).text();
      assert(s.trim().endsWith('data: [DONE]'), `SSE from workerd: ${s.slice(-200)}`);
      const bad = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: '{"prompt": ' });
      assertEqual(bad.status, 400);
      const models = (await (await fetch(`${url}/v1/models`, { headers: auth })).json()) as { data: { id: string }[] };
      assertEqual(
        models.data.map((d) => d.id),
        ['gptedge'],
      );
    } finally {
      wd?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
}

if (runtime === 'node') {
  test("workerd: worker-binding.js streams an int4 model from a disk-service binding and serves it (the reference's int4 text)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gptedge-workerd-'));
    let wd: RunningWorkerd | null = null;
    try {
      const b = spawnSync(process.execPath, ['scripts/build-edge.mjs'], { env: { ...process.env, GPTEDGE_EDGE_OUT: dir }, encoding: 'utf8' });
      assertEqual(b.status, 0, `build-edge failed: ${b.stderr}`);
      const f32 = tinyModel({}, 7);
      const q = new GPT(f32.be, f32.cfg, { weights: 'int4' });
      q.writeParams(await f32.readParams());
      const fs = new NodeFileSystem(),
        weights = join(dir, 'weights');
      await fs.mkdir(weights);
      await writeModelFiles(fs, weights, q, tinyTokenizerJSON());
      copyFileSync('examples/workerd/config-binding.capnp', join(dir, 'config.capnp'));
      wd = await startWorkerd(dir, 'config.capnp', { args: ['--directory-path', `model=${weights}`] });
      const url = wd.url;
      const res = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'ABC', max_tokens: 8, temperature: 0 }),
      });
      const j = (await res.json()) as { choices: { text: string }[] };
      assertEqual(res.status, 200, `${JSON.stringify(j)} ${wd.log()}`);
      const ref = await generate(q, GPTTokenizer.fromJSON(tinyTokenizerJSON()), 'ABC', { maxTokens: 8, temperature: 0 });
      assertEqual(j.choices[0].text, ref.text, 'greedy text equals the reference backend with the same int4 weights');
      const mem = (await (await fetch(`${url}/memory`)).json()) as { wasmMemoryBytes: number; wasmBytesInUse: number; backend: string };
      assert(mem.wasmMemoryBytes > 0 && mem.wasmBytesInUse > 0 && mem.wasmBytesInUse <= mem.wasmMemoryBytes, JSON.stringify(mem));
      // workerd will not compile a feature probe from bytes; its V8 has relaxed SIMD, checked on the imported
      // relaxed build itself (features.ts kernelDotMatches) — it ran on the SIMD128 build before
      assertEqual(mem.backend, 'wasm-relaxed', 'the relaxed kernels run inside workerd');
    } finally {
      wd?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
}
