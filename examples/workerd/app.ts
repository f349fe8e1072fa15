// What both workers share: the HTTP app over one model, its limits from the worker's environment.
import { createApp } from '../../adapters/hono.ts';
import type { GPT } from '../../src/model/gpt.ts';
import type { GPTTokenizer } from '../../src/tokenizer/tokenizer.ts';
import type { Hono } from 'hono';

export interface AppEnv { MODEL_ID?: string; MAX_CONCURRENT?: string; MAX_QUEUE?: string; MAX_TOKENS?: string; PREFILL_CHUNK?: string }

export function workerApp(env: AppEnv, model: GPT, tokenizer: GPTTokenizer): Hono {
  const n = (v: string | undefined) => (v ? Number(v) : undefined);
  const limits = Object.fromEntries(Object.entries({ maxConcurrent: n(env.MAX_CONCURRENT), maxQueue: n(env.MAX_QUEUE), maxTokens: n(env.MAX_TOKENS), prefillChunk: n(env.PREFILL_CHUNK) }).filter(([, v]) => v !== undefined));
  return createApp({ models: new Map([[env.MODEL_ID ?? 'gptedge', { model, tokenizer }]]), limits });
}

/** One app per isolate, built on the first request; a failed start is retried by the next one. */
export function lazyApp<E>(init: (env: E) => Promise<Hono>): (req: Request, env: E, ctx: unknown) => Promise<Response> {
  let app: Promise<Hono> | null = null;
  return async (req, env, ctx) => {
    app ??= init(env).catch((err) => {
      app = null;
      throw err;
    });
    return (await app).fetch(req, env, ctx as never);
  };
}
