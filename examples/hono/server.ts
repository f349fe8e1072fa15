// gptedge's app inside your own Hono server: request logging in front of it, your own routes beside it,
// gptedge's API keys and CORS policy (createApp's `auth` and `cors`). TypeScript, for Bun:
//   GPTEDGE_API_KEYS=secret bun server.ts runs/demo
//   curl -s localhost:8787/v1/completions -H 'authorization: Bearer secret' -H 'content-type: application/json' \
//        -d '{"prompt": "It was", "max_tokens": 20, "stream": true}'
import { Hono } from 'hono';
import { logger } from 'hono/logger';
import { load, serve } from 'gptedge/bun';
import { createApp, parseApiKeys } from 'gptedge/hono';

const dir = process.argv[2] ?? 'runs/demo';
const gpt = await load(dir);
const gptedge = createApp({
  models: new Map([['demo', { model: gpt.model, tokenizer: gpt.tokenizer }]]),
  limits: { maxConcurrent: 2, maxQueue: 32, maxTokens: 256 },
  auth: parseApiKeys(process.env.GPTEDGE_API_KEYS),
  cors: parseApiKeys(process.env.GPTEDGE_CORS), // e.g. GPTEDGE_CORS=https://app.example.com
});

const app = new Hono();
app.use('*', logger());
app.get('/', (c) => c.text(`gptedge serving ${dir}: POST /v1/completions, /v1/score; GET /v1/models\n`));
app.route('/', gptedge);

const server = await serve(app, { port: Number(process.env.PORT ?? 8787) });
console.log(`listening on ${server.url}`);
