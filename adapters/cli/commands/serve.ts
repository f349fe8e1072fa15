// gptedge serve: the HTTP app (src/serve/) over model folders, on Node (@hono/node-server), Deno
// (Deno.serve) or Bun (Bun.serve) — whichever runtime runs the CLI. Stops on SIGINT / SIGTERM.
import type { CommandContext } from '../context.ts';
import { createApp, DEFAULT_LIMITS, parseApiKeys, type Limits } from '../../../src/serve/index.ts';
import { normalizeOrigin } from '../../../src/serve/cors.ts';
import { DEFAULT_JOB_BOUNDS, formatBytes, type JobBounds } from '../../../src/jobs/index.ts';
import { parseModelArg } from '../../../src/serve/models.ts';
import { WEIGHTS_OPTION, weightsFrom } from '../args.ts';
import type { RunningServer } from '../../node/server.ts';
import { defaultJobMemory, startEngine, type EngineConfig } from '../serve-engine.ts';

const HELP = `usage: gptedge serve --model <dir> [--model id=<dir> ...] [--port N] [options]

  --model [ID=]DIR      a model folder or run folder (fine-tuned folders also serve /v1/classify);
                        repeatable; the id defaults to the folder's name
  --port N              (default 8787; 0 = any free port)       --host H   (default 127.0.0.1)
  --backend B           auto | wasm | webgpu | reference (default auto)
  --threads N           WASM worker threads (default: every core)
  --weights W           f32 | f16 | int8 | int4 (default: as each folder stores them): f16 halves the
                        weights' memory (WebGPU with shader-f16); int8 / int4 quantize them on load (WASM)
  --jobs DIR            enable /v1/files, /v1/fine_tuning/jobs and /v1/pretraining/jobs, persisted in DIR
  --inline              compute in the HTTP thread (default: models, batching and jobs run in a worker,
                        so sockets and /health never wait for the model)

security (docs/serving.md, "Security"):
  --api-key KEY         require Authorization: Bearer KEY on every /v1 route; repeatable. Keys may also come
                        from the environment variable GPTEDGE_API_KEYS (comma-separated), which ps cannot show
  --cors ORIGIN         let web pages from ORIGIN call the API (CORS); repeatable; '*' = any origin.
                        Default: no CORS, and POSTs from foreign origins are refused
  --insecure            allow a non-loopback --host without an API key (anyone who reaches the port can
                        compute and train); without it such a server refuses to start

limits:
  --max-concurrent N    requests computing at once: generations on a model decode together as one batch
                        of up to N sequences, each with a KV cache slot of the context window (default ${DEFAULT_LIMITS.maxConcurrent})
  --prefill-chunk N     prompt tokens a joining request feeds per batched step (default 64)
  --kv-tokens N         KV-cache positions per slot, i.e. the longest prompt + completion a request may
                        have (default: the model's context window); each model holds --max-concurrent slots
  --max-queue N         requests waiting; more are answered 429 (default ${DEFAULT_LIMITS.maxQueue})
  --max-tokens N        largest max_tokens of a request (default ${DEFAULT_LIMITS.maxTokens})
  --max-body-bytes N    (default ${DEFAULT_LIMITS.maxBodyBytes})      --max-prompt-chars N   (default ${DEFAULT_LIMITS.maxPromptChars})
  --max-upload-bytes N  uploads and inline training data (default ${DEFAULT_LIMITS.maxUploadBytes})
  --max-jobs N          training jobs queued or running; more are answered 429 (default ${DEFAULT_JOB_BOUNDS.maxQueued})
  --max-job-memory N    bytes one job may need by estimate (default: a quarter of this machine's memory)
  --jobs-disk-quota N   bytes the jobs folder may hold (default ${formatBytes(DEFAULT_JOB_BOUNDS.diskQuotaBytes)})
  --max-loaded-models N results of jobs kept loaded; the least recently used is unloaded (default 4)
  sizes take K, M, G suffixes (powers of 1024)

endpoints: POST /v1/completions (stream: true = SSE), /v1/classify, /v1/score; GET /v1/models, /health`;

const g = globalThis as { Deno?: unknown; Bun?: unknown };

export async function startServer(
  app: Parameters<typeof import('../../node/server.ts').serveNode>[0],
  o: { port: number; hostname: string },
): Promise<RunningServer> {
  if (g.Deno) return (await import('../../deno/server.ts')).serveDeno(app, o);
  if (g.Bun) return (await import('../../bun/server.ts')).serveBun(app, o);
  return (await import('../../node/server.ts')).serveNode(app, o);
}

/** Whether `host` can only be reached from this machine. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::ffff:127.0.0.1';
}

const env = (name: string): string | undefined => (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env[name];

export async function serveCommand(
  argv: string[],
  ctx: CommandContext,
  opts: { signal?: AbortSignal; onListen?: (s: RunningServer) => void; log?: (line: string) => void } = {},
): Promise<number> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const { values: a } = ctx.parse({
    args: argv,
    options: {
      model: { type: 'string', multiple: true },
      port: { type: 'string', default: '8787' },
      host: { type: 'string', default: '127.0.0.1' },
      backend: { type: 'string', default: 'auto' },
      threads: { type: 'string' },
      ...WEIGHTS_OPTION,
      jobs: { type: 'string' },
      'api-key': { type: 'string', multiple: true },
      cors: { type: 'string', multiple: true },
      insecure: { type: 'boolean', default: false },
      inline: { type: 'boolean', default: false },
      'max-concurrent': { type: 'string' },
      'max-queue': { type: 'string' },
      'max-tokens': { type: 'string' },
      'max-body-bytes': { type: 'string' },
      'max-prompt-chars': { type: 'string' },
      'max-upload-bytes': { type: 'string' },
      'max-jobs': { type: 'string' },
      'max-job-memory': { type: 'string' },
      'jobs-disk-quota': { type: 'string' },
      'max-loaded-models': { type: 'string' },
      'prefill-chunk': { type: 'string' },
      'kv-tokens': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (a.help) {
    console.log(HELP);
    return 0;
  }
  if (!a.model?.length) throw new Error(`serve: --model is required\n\n${HELP}`);
  const int = (name: string, v: string | undefined, min = 0): number | undefined => {
    if (v === undefined) return undefined;
    const m = /^(\d+)([KMG]?)$/i.exec(v.trim());
    const n = m ? Number(m[1]) * 1024 ** ' KMG'.indexOf((m[2] || ' ').toUpperCase()) : NaN;
    if (!(Number.isSafeInteger(n) && n >= min)) throw new Error(`--${name} must be an integer >= ${min} (K, M, G suffixes allowed), got "${v}"`);
    return n;
  };
  const port = int('port', a.port)!;
  if (port > 65535) throw new Error(`--port must be at most 65535, got ${port}`);
  const keys = [...(a['api-key'] ?? []), ...parseApiKeys(env('GPTEDGE_API_KEYS'))];
  const host = a.host!;
  if (!isLoopback(host) && keys.length === 0) {
    if (!a.insecure)
      throw new Error(
        `serve: --host ${host} reaches beyond this machine, and no API key is set: anyone who reaches the port could compute and train. Set --api-key (or GPTEDGE_API_KEYS), bind to 127.0.0.1, or pass --insecure to accept that.`,
      );
    log(`WARNING: serving on ${host} without an API key (--insecure): anyone who reaches this port can use every route, training jobs included`);
  }
  const cors = (a.cors ?? []).map(normalizeOrigin);
  const models = a.model.map(parseModelArg);
  const ids = new Set<string>();
  for (const { id } of models) {
    if (ids.has(id)) throw new Error(`serve: two models named "${id}"; name them with --model ID=DIR`);
    ids.add(id);
  }
  const drop = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
  const limits: Partial<Limits> = drop({
    maxConcurrent: int('max-concurrent', a['max-concurrent'], 1),
    maxQueue: int('max-queue', a['max-queue']),
    maxTokens: int('max-tokens', a['max-tokens'], 1),
    maxBodyBytes: int('max-body-bytes', a['max-body-bytes'], 1),
    maxPromptChars: int('max-prompt-chars', a['max-prompt-chars'], 1),
    maxUploadBytes: int('max-upload-bytes', a['max-upload-bytes'], 1),
  });
  const bounds: Partial<JobBounds> = drop({
    maxQueued: int('max-jobs', a['max-jobs'], 1),
    maxJobBytes: int('max-job-memory', a['max-job-memory'], 1) ?? defaultJobMemory(),
    diskQuotaBytes: int('jobs-disk-quota', a['jobs-disk-quota'], 1),
    maxDataBytes: limits.maxUploadBytes,
  });
  const config: EngineConfig = {
    models,
    backend: a.backend!,
    threads: int('threads', a.threads, 1),
    weights: weightsFrom(a),
    jobsDir: a.jobs,
    bounds,
    maxLoaded: int('max-loaded-models', a['max-loaded-models'], 1),
    slots: limits.maxConcurrent ?? DEFAULT_LIMITS.maxConcurrent,
    prefillChunk: int('prefill-chunk', a['prefill-chunk'], 1),
    kvTokens: int('kv-tokens', a['kv-tokens'], 2),
  };
  const engine = await startEngine(config, ctx, log, { inline: a.inline });
  const app = createApp({ engine, limits, auth: keys.length ? keys : undefined, cors });
  const server = await startServer(app, { port, hostname: host });
  log(
    `gptedge serve: listening on ${server.url} (${engine.description}${a.jobs ? `, jobs in ${a.jobs}` : ''}${keys.length ? `, ${keys.length} API key${keys.length > 1 ? 's' : ''}` : ', no API key'}${cors.length ? `, CORS for ${cors.join(' ')}` : ''})`,
  );
  opts.onListen?.(server);
  await new Promise<void>((done) => {
    const proc = (globalThis as { process?: { once(s: string, f: () => void): void } }).process;
    proc?.once('SIGINT', done);
    proc?.once('SIGTERM', done);
    opts.signal?.addEventListener('abort', () => done(), { once: true });
  });
  await engine.close();
  await server.close();
  return 0;
}
