// gptedge serve: the HTTP app (adapters/hono.ts) over model folders, on Node (@hono/node-server), Deno
// (Deno.serve) or Bun (Bun.serve) — whichever runtime runs the CLI. Stops on SIGINT / SIGTERM.
import type { CommandContext } from '../cli.ts';
import { createApp, DEFAULT_LIMITS, type ServedModel } from '../hono.ts';
import { JobManager } from '../jobs.ts';
import { loadServedModel, parseModelArg } from '../serve-models.ts';
import { WEIGHTS_OPTION, weightsFrom } from './args.ts';
import type { RunningServer } from '../serve-node.ts';

const HELP = `usage: gptedge serve --model <dir> [--model id=<dir> ...] [--port N] [options]

  --model [ID=]DIR      a model folder or run folder (fine-tuned folders also serve /v1/classify);
                        repeatable; the id defaults to the folder's name
  --port N              (default 8787; 0 = any free port)       --host H   (default 127.0.0.1)
  --backend B           auto | wasm | webgpu | reference (default auto)
  --weights W           f32 | f16 | int8 | int4 (default: as each folder stores them): f16 halves the
                        weights' memory (WebGPU with shader-f16); int8 / int4 quantize them on load (WASM)
  --jobs DIR            enable /v1/fine_tuning/jobs and /v1/pretraining/jobs, persisted in DIR
  --max-concurrent N    generations running at once (default ${DEFAULT_LIMITS.maxConcurrent})
  --max-queue N         generations waiting; more are answered 429 (default ${DEFAULT_LIMITS.maxQueue})
  --max-tokens N        largest max_tokens of a request (default ${DEFAULT_LIMITS.maxTokens})
  --max-body-bytes N    (default ${DEFAULT_LIMITS.maxBodyBytes})      --max-prompt-chars N   (default ${DEFAULT_LIMITS.maxPromptChars})

endpoints: POST /v1/completions (stream: true = SSE), /v1/classify, /v1/score; GET /v1/models, /health`;

const g = globalThis as { Deno?: unknown; Bun?: unknown };

export async function startServer(app: Parameters<typeof import('../serve-node.ts').serveNode>[0], o: { port: number; hostname: string }): Promise<RunningServer> {
  if (g.Deno) return (await import('../serve-deno.ts')).serveDeno(app, o);
  if (g.Bun) return (await import('../serve-bun.ts')).serveBun(app, o);
  return (await import('../serve-node.ts')).serveNode(app, o);
}

export async function serveCommand(argv: string[], ctx: CommandContext, opts: { signal?: AbortSignal; onListen?: (s: RunningServer) => void } = {}): Promise<number> {
  const { values: a } = ctx.parse({
    args: argv,
    options: {
      model: { type: 'string', multiple: true }, port: { type: 'string', default: '8787' }, host: { type: 'string', default: '127.0.0.1' },
      backend: { type: 'string', default: 'auto' }, ...WEIGHTS_OPTION, jobs: { type: 'string' }, 'max-concurrent': { type: 'string' }, 'max-queue': { type: 'string' },
      'max-tokens': { type: 'string' }, 'max-body-bytes': { type: 'string' }, 'max-prompt-chars': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (a.help) {
    console.log(HELP);
    return 0;
  }
  if (!a.model?.length) throw new Error(`serve: --model is required\n\n${HELP}`);
  const int = (name: string, v: string | undefined, min = 0): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!(Number.isInteger(n) && n >= min)) throw new Error(`--${name} must be an integer >= ${min}, got "${v}"`);
    return n;
  };
  const port = int('port', a.port)!;
  if (port > 65535) throw new Error(`--port must be at most 65535, got ${port}`);
  const backend = await ctx.createBackend(a.backend!);
  const models = new Map<string, ServedModel>();
  for (const spec of a.model) {
    const { id, dir } = parseModelArg(spec);
    if (models.has(id)) throw new Error(`serve: two models named "${id}"; name them with --model ID=DIR`);
    models.set(id, await loadServedModel(ctx.fs, dir, backend, { weights: weightsFrom(a) }));
    console.log(`model ${id}: ${dir}`);
  }
  const jobs = a.jobs ? await JobManager.open({ fs: ctx.fs, dir: a.jobs, models, backend }) : undefined;
  const limits = {
    maxConcurrent: int('max-concurrent', a['max-concurrent'], 1), maxQueue: int('max-queue', a['max-queue']), maxTokens: int('max-tokens', a['max-tokens'], 1),
    maxBodyBytes: int('max-body-bytes', a['max-body-bytes'], 1), maxPromptChars: int('max-prompt-chars', a['max-prompt-chars'], 1),
  };
  const app = createApp({ models, jobs, limits: Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)) });
  const server = await startServer(app, { port, hostname: a.host! });
  console.log(`gptedge serve: listening on ${server.url} (backend ${backend.name}${jobs ? `, jobs in ${a.jobs}` : ''})`);
  opts.onListen?.(server);
  await new Promise<void>((done) => {
    const proc = (globalThis as { process?: { once(s: string, f: () => void): void } }).process;
    proc?.once('SIGINT', done);
    proc?.once('SIGTERM', done);
    opts.signal?.addEventListener('abort', () => done(), { once: true });
  });
  await jobs?.stop();
  await server.close();
  return 0;
}
