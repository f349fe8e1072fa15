// A Cloudflare Worker (workerd) serving gptedge's HTTP app with the single-threaded WASM backend.
// workerd refuses to compile WebAssembly from bytes, so the kernels arrive as imported WASM modules, and
// the model as data/text modules; config.capnp (local workerd) and wrangler.toml (deploy) declare them.
// Built by `node scripts/build-edge.mjs` into dist/edge/worker.js (one ESM file, no node:*).
import { createApp } from '../../adapters/hono.ts';
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

interface Env { MODEL_ID?: string; MAX_CONCURRENT?: string; MAX_QUEUE?: string; MAX_TOKENS?: string }

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
  return createApp({ models: new Map([[env.MODEL_ID ?? 'gptedge', { model, tokenizer }]]), limits });
}

export default {
  async fetch(req: Request, env: Env, ctx: unknown): Promise<Response> {
    app ??= init(env).catch((err) => {
      app = null;
      throw err;
    });
    return (await app).fetch(req, env, ctx as never);
  },
};
