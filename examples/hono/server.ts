// gptedge's app inside your own Hono server: a bearer token, request logging and CORS in front of it,
// and your own routes beside it. Runs on Bun or Deno (TypeScript directly):
//   GPTEDGE_TOKEN=secret bun examples/hono/server.ts runs/demo
//   GPTEDGE_TOKEN=secret deno run -A examples/hono/server.ts runs/demo
//   curl -s localhost:8787/v1/completions -H 'authorization: Bearer secret' -H 'content-type: application/json' \
//        -d '{"prompt": "It was", "max_tokens": 20, "stream": true}'
import { Hono } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { cors } from 'hono/cors';
import { logger } from 'hono/logger';
import { createApp } from '../../adapters/hono.ts';
import { createBackend } from '../../adapters/node/backend.ts';
import { NodeFileSystem } from '../../adapters/node/fs.ts';
import { loadServedModel } from '../../adapters/serve-models.ts';
import { startServer } from '../../adapters/cli/commands/serve.ts';

const dir = process.argv[2] ?? 'runs/demo';
const gptedge = createApp({
  models: new Map([['demo', await loadServedModel(new NodeFileSystem(), dir, await createBackend('auto'))]]),
  limits: { maxConcurrent: 2, maxQueue: 32, maxTokens: 256 },
});

const app = new Hono();
app.use('*', logger());
app.use('/v1/*', cors());
if (process.env.GPTEDGE_TOKEN) app.use('/v1/*', bearerAuth({ token: process.env.GPTEDGE_TOKEN }));
app.get('/', (c) => c.text(`gptedge serving ${dir}: POST /v1/completions, /v1/score; GET /v1/models\n`));
app.route('/', gptedge);

const server = await startServer(app, { port: Number(process.env.PORT ?? 8787), hostname: '127.0.0.1' });
console.log(`listening on ${server.url}`);
