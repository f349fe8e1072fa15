// A Cloudflare Worker (workerd) serving gptedge's HTTP app with the single-threaded WASM backend.
// workerd refuses to compile WebAssembly from bytes, so the kernels arrive as imported WASM modules, and
// the model as data/text modules; config.capnp (local workerd) and wrangler.toml (deploy) declare them.
// Built by `node scripts/build-edge.mjs` into dist/edge/worker.js (one ESM file, no node:*).
//
// A deployed Worker is on the internet: it answers /v1 only with API keys, from the GPTEDGE_API_KEYS
// secret (`wrangler secret put GPTEDGE_API_KEYS`, comma-separated), checked by createApp's `auth`;
// ALLOW_UNAUTHENTICATED = "true" opts out (config.capnp does, for a worker bound to 127.0.0.1).
// CORS_ORIGINS lists the web origins allowed to call it from a browser.
import { apiKeys, createApp, parseApiKeys } from '../../src/serve/index.ts';
import { createWasmBackend } from '../../src/backend/wasm/index.ts';
import { MemoryFileSystem } from '../../src/io/fs.ts';
import { loadModel } from '../../src/model/load.ts';
import type { Hono } from 'hono';
// @ts-ignore: modules the runtime provides
import simd128 from './gptedge-simd128.wasm';
// @ts-ignore
import relaxed from './gptedge-relaxed.wasm';
// @ts-ignore
import configJSON from './model/config.json';
// @ts-ignore
import tokenizerJSON from './model/tokenizer.json';
// @ts-ignore
import weights from './model/model.safetensors';

interface Env {
  MODEL_ID?: string; MAX_CONCURRENT?: string; MAX_QUEUE?: string; MAX_TOKENS?: string;
  GPTEDGE_API_KEYS?: string; ALLOW_UNAUTHENTICATED?: string; CORS_ORIGINS?: string;
}

let app: Promise<Hono> | null = null;

async function init(env: Env): Promise<Hono> {
  const be = await createWasmBackend({ modules: { simd128: simd128 as WebAssembly.Module, relaxed: relaxed as WebAssembly.Module }, threads: 1 });
  const fs = new MemoryFileSystem();
  await fs.mkdir('model');
  const text = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v)); // a text module, or a JSON one (wrangler)
  await fs.writeFile('model/config.json', text(configJSON));
  await fs.writeFile('model/tokenizer.json', text(tokenizerJSON));
  await fs.writeFile('model/model.safetensors', new Uint8Array(weights as ArrayBuffer));
  const { model, tokenizer } = await loadModel(fs, 'model', be);
  const n = (v: string | undefined) => (v ? Number(v) : undefined);
  const limits = Object.fromEntries(Object.entries({ maxConcurrent: n(env.MAX_CONCURRENT), maxQueue: n(env.MAX_QUEUE), maxTokens: n(env.MAX_TOKENS) }).filter(([, v]) => v !== undefined));
  const keys = parseApiKeys(env.GPTEDGE_API_KEYS);
  return createApp({ models: new Map([[env.MODEL_ID ?? 'gptedge', { model, tokenizer }]]), limits, auth: keys.length ? apiKeys(keys) : undefined, cors: parseApiKeys(env.CORS_ORIGINS) });
}

export default {
  async fetch(req: Request, env: Env, ctx: unknown): Promise<Response> {
    if (parseApiKeys(env.GPTEDGE_API_KEYS).length === 0 && env.ALLOW_UNAUTHENTICATED !== 'true') {
      const message = 'this worker has no API key: set the GPTEDGE_API_KEYS secret, or ALLOW_UNAUTHENTICATED = "true" for a worker nobody else reaches';
      return Response.json({ error: { message, type: 'server_error', param: null, code: 'no_api_key' } }, { status: 503 });
    }
    app ??= init(env).catch((err) => {
      app = null;
      throw err;
    });
    return (await app).fetch(req, env, ctx as never);
  },
};
