// A Cloudflare Worker (workerd) whose model is not part of its script: config.json, tokenizer.json and
// model.safetensors come from the MODEL binding (a service: workerd's disk service locally, a worker in
// front of R2 on Cloudflare; fetched as http://model/<file>) or from MODEL_URL with the global fetch.
// The weights stream into WASM memory tensor by tensor (loadModelStream), so the isolate never holds them
// twice: GPT-2 124M with int4 weights fits a 128 MB isolate this way (docs/quantization.md measures it).
// WASM_MEMORY_MB caps the kernels' linear memory (it grows in doublings up to the cap); PREFILL_CHUNK runs
// prompts that many tokens at a time (activation memory); WEIGHTS quantizes an f32 file on load (int8 |
// int4); KV_CACHE = "f16" keeps the KV cache in half precision (half its memory). GET /memory reports the
// WASM memory this isolate holds and the kernel build it runs (wasm-relaxed where workerd's V8 has relaxed SIMD).
// Built by `node scripts/build-edge.mjs` into dist/edge/worker-binding.js; config-binding.capnp runs it.
import { workerApp, lazyApp, type AppEnv } from './app.ts';
import { createWasmBackend, type WasmBackend } from '../../src/backend/wasm/index.ts';
import { loadModelStream } from '../../src/model/load.ts';
import type { WeightsKind } from '../../src/model/gpt.ts';
// @ts-ignore: modules the runtime provides
import simd128 from './gptedge-simd128.wasm';
// @ts-ignore
import relaxed from './gptedge-relaxed.wasm';

interface Env extends AppEnv {
  MODEL?: { fetch(input: string): Promise<Response> };
  MODEL_URL?: string;
  WEIGHTS?: string;
  KV_CACHE?: string;
  WASM_MEMORY_MB?: string;
}

let backend: WasmBackend | null = null;

async function init(env: Env) {
  const get = async (file: string): Promise<Response> => {
    if (!env.MODEL && !env.MODEL_URL) throw new Error('worker-binding: set the MODEL binding or MODEL_URL');
    const res = env.MODEL ? await env.MODEL.fetch(`http://model/${file}`) : await fetch(new URL(file, env.MODEL_URL));
    if (!res.ok || !res.body) throw new Error(`worker-binding: ${file}: HTTP ${res.status}`);
    return res;
  };
  const mb = Number(env.WASM_MEMORY_MB ?? 0);
  backend = await createWasmBackend({
    modules: { simd128: simd128 as WebAssembly.Module, relaxed: relaxed as WebAssembly.Module },
    threads: 1,
    maxMemoryBytes: mb > 0 ? mb * 2 ** 20 : undefined,
  });
  const [config, tokenizer] = await Promise.all([get('config.json').then((r) => r.text()), get('tokenizer.json').then((r) => r.text())]);
  const weights = (await get('model.safetensors')).body!;
  // a macrotask between pieces: /health and /memory answer while the weights stream in
  const between = () => new Promise<void>((r) => setTimeout(r, 0));
  const loaded = await loadModelStream({ config, tokenizer, weights }, backend, {
    weights: env.WEIGHTS as WeightsKind | undefined,
    kvCache: env.KV_CACHE as 'f32' | 'f16' | undefined,
    between,
  });
  return workerApp(env, loaded.model, loaded.tokenizer);
}

const app = lazyApp(init);

export default {
  async fetch(req: Request, env: Env, ctx: unknown): Promise<Response> {
    if (new URL(req.url).pathname === '/memory') {
      return Response.json({ wasmMemoryBytes: backend?.memoryBytes ?? 0, wasmBytesInUse: backend?.bytesInUse ?? 0, backend: backend?.name ?? null });
    }
    return app(req, env, ctx);
  },
};
