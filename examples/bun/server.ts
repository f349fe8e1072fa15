// gptedge's HTTP API on Bun (Bun.serve), in a project that installed gptedge:
//   bun server.ts runs/demo
//   curl -s localhost:8787/v1/completions -H 'content-type: application/json' -d '{"prompt": "Call me", "max_tokens": 20}'
import { load, serve } from 'gptedge/bun';
import { createApp, parseApiKeys } from 'gptedge/hono';

const dir = process.argv[2] ?? 'runs/demo';
const gpt = await load(dir);
const app = createApp({
  models: new Map([['demo', gpt.task ?? { model: gpt.model, tokenizer: gpt.tokenizer }]]),
  auth: parseApiKeys(process.env.GPTEDGE_API_KEYS),
});
const server = await serve(app, { port: Number(process.env.PORT ?? 8787) });
console.log(`serving ${dir} (${gpt.backendReason}) on ${server.url}`);
