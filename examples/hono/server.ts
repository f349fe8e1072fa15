// gptedge's app inside your own Hono server: request logging in front of it, your own routes beside it,
// and gptedge's API keys and CORS policy (createApp's `auth` and `cors`). Runs on Bun or Deno:
//   GPTEDGE_API_KEYS=secret bun examples/hono/server.ts runs/demo
//   GPTEDGE_API_KEYS=secret deno run -A examples/hono/server.ts runs/demo
//   curl -s localhost:8787/v1/completions -H 'authorization: Bearer secret' -H 'content-type: application/json' \
//        -d '{"prompt": "It was", "max_tokens": 20, "stream": true}'
import { Hono } from 'hono';
import { logger } from 'hono/logger';
import { createApp, loadServedModel, parseApiKeys } from '../../src/serve/index.ts';
import { createBackend } from '../../adapters/node/backend.ts';
import { NodeFileSystem } from '../../adapters/node/fs.ts';
import { startServer } from '../../adapters/cli/commands/serve.ts';

const dir = process.argv[2] ?? 'runs/demo';
const gptedge = createApp({
  models: new Map([['demo', await loadServedModel(new NodeFileSystem(), dir, await createBackend('auto'))]]),
  limits: { maxConcurrent: 2, maxQueue: 32, maxTokens: 256 },
  auth: parseApiKeys(process.env.GPTEDGE_API_KEYS),
  cors: parseApiKeys(process.env.GPTEDGE_CORS), // e.g. GPTEDGE_CORS=https://app.example.com
});

const app = new Hono();
app.use('*', logger());
app.get('/', (c) => c.text(`gptedge serving ${dir}: POST /v1/completions, /v1/score; GET /v1/models\n`));
app.route('/', gptedge);

const server = await startServer(app, { port: Number(process.env.PORT ?? 8787), hostname: '127.0.0.1' });
console.log(`listening on ${server.url}`);
