// gptedge's HTTP API on Deno (Deno.serve), e.g. in a project that installed gptedge with npm:
//   deno run -A server.ts runs/demo
//   curl -s localhost:8787/v1/completions -H 'content-type: application/json' -d '{"prompt": "Call me", "max_tokens": 20}'
// (Deno resolves `gptedge/deno` from package.json; elsewhere import `npm:gptedge/deno`.)
import { load, serve } from 'gptedge/deno';
import { createApp, parseApiKeys } from 'gptedge/hono';

const dir = Deno.args[0] ?? 'runs/demo';
const gpt = await load(dir);
const app = createApp({
  models: new Map([['demo', gpt.task ?? { model: gpt.model, tokenizer: gpt.tokenizer }]]),
  auth: parseApiKeys(Deno.env.get('GPTEDGE_API_KEYS')),
});
const server = await serve(app, { port: Number(Deno.env.get('PORT') ?? 8787) });
console.log(`serving ${dir} (${gpt.backendReason}) on ${server.url}`);
Deno.addSignalListener('SIGINT', () => server.close().then(() => Deno.exit(0)));
