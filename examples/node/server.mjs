// gptedge's HTTP API on Node, from your own code: a model folder on the best backend, the OpenAI-compatible
// app (gptedge/hono) and Node's server (gptedge/node's serve). Run it where gptedge is installed:
//   node server.mjs runs/demo
//   curl -s localhost:8787/v1/completions -H 'content-type: application/json' -d '{"prompt": "Call me", "max_tokens": 20}'
// With GPTEDGE_API_KEYS=key1,key2 every /v1 route needs `Authorization: Bearer <key>` (docs/serving.md).
import { load, serve } from 'gptedge/node';
import { createApp, parseApiKeys } from 'gptedge/hono';

const dir = process.argv[2] ?? 'runs/demo';
const gpt = await load(dir);
const app = createApp({
  models: new Map([['demo', gpt.task ?? { model: gpt.model, tokenizer: gpt.tokenizer }]]),
  auth: parseApiKeys(process.env.GPTEDGE_API_KEYS),
});
const server = await serve(app, { port: Number(process.env.PORT ?? 8787) });
console.log(`serving ${dir} (${gpt.backendReason}) on ${server.url}`);
process.once('SIGINT', () => server.close().then(() => gpt.dispose()));
