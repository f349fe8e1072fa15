// What both workers share: the HTTP app over one model, built on the first request, its limits from the
// worker's environment.
//
// A deployed Worker is on the internet: it answers /v1 only with API keys, from the GPTEDGE_API_KEYS
// secret (`wrangler secret put GPTEDGE_API_KEYS`, comma-separated), checked by createApp's `auth`;
// ALLOW_UNAUTHENTICATED = "true" opts out (config.capnp does, for a worker bound to 127.0.0.1).
// CORS_ORIGINS lists the web origins allowed to call it from a browser. PREFILL_CHUNK runs prompts that
// many tokens at a time (it bounds the activations' memory); KV_TOKENS bounds a request's prompt +
// completion, and with MAX_CONCURRENT the KV cache: MAX_CONCURRENT slots of KV_TOKENS positions.
import { apiKeys, createApp, parseApiKeys } from '../../src/serve/index.ts';
import type { GPT } from '../../src/model/gpt.ts';
import type { GPTTokenizer } from '../../src/tokenizer/tokenizer.ts';
import type { Hono } from 'hono';

export interface AppEnv {
  MODEL_ID?: string;
  MAX_CONCURRENT?: string;
  MAX_QUEUE?: string;
  MAX_TOKENS?: string;
  PREFILL_CHUNK?: string;
  KV_TOKENS?: string;
  GPTEDGE_API_KEYS?: string;
  ALLOW_UNAUTHENTICATED?: string;
  CORS_ORIGINS?: string;
}

export function workerApp(env: AppEnv, model: GPT, tokenizer: GPTTokenizer): Hono {
  const n = (v: string | undefined) => (v ? Number(v) : undefined);
  const limits = Object.fromEntries(
    Object.entries({ maxConcurrent: n(env.MAX_CONCURRENT), maxQueue: n(env.MAX_QUEUE), maxTokens: n(env.MAX_TOKENS) }).filter(([, v]) => v !== undefined),
  );
  const keys = parseApiKeys(env.GPTEDGE_API_KEYS);
  return createApp({
    models: new Map([[env.MODEL_ID ?? 'gptedge', { model, tokenizer }]]),
    limits,
    prefillChunk: n(env.PREFILL_CHUNK),
    kvTokens: n(env.KV_TOKENS),
    auth: keys.length ? apiKeys(keys) : undefined,
    cors: parseApiKeys(env.CORS_ORIGINS),
  });
}

/**
 * The worker's fetch: refuses to serve without API keys unless told the worker is private, then builds
 * the app once per isolate on the first request (a failed start is retried by the next one).
 */
export function lazyApp<E extends AppEnv>(init: (env: E) => Promise<Hono>): (req: Request, env: E, ctx: unknown) => Promise<Response> {
  let app: Promise<Hono> | null = null;
  return async (req, env, ctx) => {
    if (parseApiKeys(env.GPTEDGE_API_KEYS).length === 0 && env.ALLOW_UNAUTHENTICATED !== 'true') {
      const message = 'this worker has no API key: set the GPTEDGE_API_KEYS secret, or ALLOW_UNAUTHENTICATED = "true" for a worker nobody else reaches';
      return Response.json({ error: { message, type: 'server_error', param: null, code: 'no_api_key' } }, { status: 503 });
    }
    app ??= init(env).catch((err) => {
      app = null;
      throw err;
    });
    return (await app).fetch(req, env, ctx as never);
  };
}
