// The HTTP app: an OpenAI-compatible surface over an Engine, written once against Hono and the Fetch API
// so it runs on Node (@hono/node-server), Deno.serve, Bun.serve, workerd, and in tests through
// `app.request(...)`. Nothing here touches files or runtime APIs (no node:*). One file per route:
//
//   POST /v1/completions   routes/completions.ts (SSE with `stream: true`)
//   POST /v1/classify      routes/classify.ts        POST /v1/score   routes/score.ts
//   GET  /v1/models[/id]   routes/models.ts          GET  /health     routes/health.ts
//   POST /v1/files         routes/files.ts           /v1/{fine_tuning,pretraining}/jobs…  routes/jobs.ts
//
// In front of the routes, in order: the origin policy (cors.ts: no cross-site state changes, CORS only
// for listed origins), API keys on every /v1 route when configured (auth.ts), body size limits. Every
// route that computes passes one gate (gate.ts). Errors are JSON in OpenAI's shape (errors.ts).
import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { JobService } from '../jobs/service.ts';
import { apiKeys, bearerToken, type Authenticate } from './auth.ts';
import { originPolicy } from './cors.ts';
import type { Engine } from './engine.ts';
import { ApiError, asApiError, errorResponse } from './errors.ts';
import { Gate } from './gate.ts';
import { LocalEngine } from './local-engine.ts';
import { ModelRegistry, type ServedModel } from './models.ts';
import { classifyRoute } from './routes/classify.ts';
import { completionsRoute } from './routes/completions.ts';
import { DEFAULT_LIMITS, type Limits, type RouteContext } from './routes/context.ts';
import { filesRoute } from './routes/files.ts';
import { healthRoute } from './routes/health.ts';
import { jobsRoutes } from './routes/jobs.ts';
import { modelsRoute } from './routes/models.ts';
import { scoreRoute } from './routes/score.ts';

export interface AppOptions {
  /** what the routes compute with; or give `models` (and `jobs`) for an engine in this thread */
  engine?: Engine;
  /** id → model, or a registry (which job results join) */
  models?: Map<string, ServedModel> | ModelRegistry;
  jobs?: JobService;
  limits?: Partial<Limits>;
  /**
   * API keys (`Authorization: Bearer <key>`), or a function that checks the bearer token (an edge
   * deployment's secret). Absent: the API is open to whoever reaches the port.
   */
  auth?: Authenticate | readonly string[];
  /** origins allowed to call the API from a browser ('*' = any); default none */
  cors?: readonly string[];
  /** with `models`: prompt tokens a joining request feeds per batched step (default 64) */
  prefillChunk?: number;
  /**
   * with `models`: KV-cache positions per request slot — prompt + generated tokens (default: the model's
   * context window). Each model holds maxConcurrent slots of this many positions: bound it to bound memory.
   */
  kvTokens?: number;
  /** with `models`, for tests: awaited before each generated token */
  beforeToken?: () => Promise<void> | void;
}

export type App = Hono & { readonly engine: Engine };

const UPLOAD_ROUTES = /^\/v1\/(files|fine_tuning\/jobs|pretraining\/jobs)$/;

export function createApp(o: AppOptions): App {
  const limits: Limits = { ...DEFAULT_LIMITS, ...o.limits };
  for (const [k, v] of Object.entries(limits))
    if (!(Number.isInteger(v) && v >= (k === 'maxQueue' ? 0 : 1))) throw new Error(`limits.${k} must be a positive integer, got ${v}`);
  let engine = o.engine;
  if (!engine) {
    if (!o.models) throw new Error('createApp: give an engine or models');
    if (o.jobs && !(o.models instanceof ModelRegistry)) throw new Error('createApp: with jobs, give the ModelRegistry the job manager publishes to');
    const models = o.models instanceof ModelRegistry ? o.models : new ModelRegistry(o.models);
    // as many KV slots per model as requests may compute at once: an admitted generation never waits for a slot
    engine = new LocalEngine({
      models,
      jobs: o.jobs,
      slots: limits.maxConcurrent,
      prefillChunk: o.prefillChunk,
      slotTokens: o.kvTokens,
      beforeToken: o.beforeToken,
    });
  }
  const auth: Authenticate | null = typeof o.auth === 'function' ? o.auth : o.auth?.length ? apiKeys(o.auth) : null;
  const authorized = async (c: { req: { header(n: string): string | undefined; raw: Request } }) =>
    !auth || (await auth(bearerToken(c.req.header('authorization')), c.req.raw));
  const gate = new Gate(limits.maxConcurrent, limits.maxQueue);
  const ctx: RouteContext = { engine, gate, limits, hasAuth: !!auth, authorized, started: Math.floor(Date.now() / 1000) };

  const app = new Hono();
  app.onError((err, c) => {
    const e = asApiError(err);
    if (e) {
      if (e.status === 429) c.header('Retry-After', '1');
      return errorResponse(c, e);
    }
    gate.stats.errors++;
    return errorResponse(c, new ApiError(500, `internal error: ${err instanceof Error ? err.message : String(err)}`, 'server_error'));
  });
  app.notFound((c) =>
    errorResponse(c, new ApiError(404, `no route ${c.req.method} ${new URL(c.req.url).pathname}`, 'invalid_request_error', null, 'not_found')),
  );
  app.use('*', originPolicy(o.cors ?? []));
  if (auth) {
    app.use('/v1/*', async (c, next) => {
      const token = bearerToken(c.req.header('authorization'));
      if (!(await auth(token, c.req.raw))) {
        c.header('WWW-Authenticate', 'Bearer');
        return errorResponse(
          c,
          token === null
            ? new ApiError(
                401,
                "You didn't provide an API key. Send it in an Authorization header using Bearer auth (Authorization: Bearer YOUR_KEY).",
                'invalid_request_error',
                null,
                'missing_api_key',
              )
            : new ApiError(401, 'Incorrect API key provided.', 'invalid_request_error', null, 'invalid_api_key'),
        );
      }
      await next();
    });
  }
  const tooLarge = (max: number): MiddlewareHandler =>
    bodyLimit({
      maxSize: max,
      onError: (c) =>
        errorResponse(c, new ApiError(413, `the request body is larger than the limit of ${max} bytes`, 'invalid_request_error', null, 'request_too_large')),
    });
  // uploads carry training data: their limit is the upload cap (plus room for a multipart envelope)
  const small = tooLarge(limits.maxBodyBytes),
    upload = tooLarge(limits.maxUploadBytes + 64 * 1024);
  app.use('*', (c, next) => (UPLOAD_ROUTES.test(new URL(c.req.url).pathname) ? upload : small)(c, next));

  healthRoute(app, ctx);
  modelsRoute(app, ctx);
  completionsRoute(app, ctx);
  classifyRoute(app, ctx);
  scoreRoute(app, ctx);
  filesRoute(app, ctx);
  jobsRoutes(app, ctx);
  return Object.assign(app, { engine });
}
