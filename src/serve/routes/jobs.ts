// Training jobs over HTTP (the job manager itself is src/jobs/, which knows nothing of HTTP):
//   POST /v1/fine_tuning/jobs               {model, training_file | training_data (JSONL), task, labels?, hyperparameters, suffix?, seed?}
//   GET  /v1/fine_tuning/jobs[/{id}]        the job(s), OpenAI's fine_tuning.job object
//   GET  /v1/fine_tuning/jobs/{id}/events   list; with ?stream=true or Accept: text/event-stream, SSE until the job ends
//   POST /v1/fine_tuning/jobs/{id}/cancel
//   …and the same five under /v1/pretraining/jobs: {model, training_file | training_data (plain text),
//   hyperparameters: {steps, batch_size, learning_rate, seq_len, warmup_steps, checkpoint_every}, from_scratch?}
import type { Context, Hono } from 'hono';
import type { JobKind, JobService } from '../../jobs/service.ts';
import { ApiError } from '../errors.ts';
import { readJSON } from '../validate.ts';
import { requestAbort, type RouteContext } from './context.ts';

export function jobsRoutes(app: Hono, ctx: RouteContext): void {
  const jobs = (): JobService => {
    if (!ctx.engine.jobs) throw new ApiError(404, 'this server has no jobs folder (start it with --jobs DIR)', 'invalid_request_error', null, 'not_found');
    return ctx.engine.jobs;
  };
  for (const kind of ['fine_tuning', 'pretraining'] as const satisfies readonly JobKind[]) {
    const base = `/v1/${kind}/jobs`;
    app.post(base, async (c) => c.json(await jobs().create(kind, await readJSON(c))));
    app.get(base, async (c) => c.json({ object: 'list', data: await jobs().list(kind), has_more: false }));
    app.get(`${base}/:id`, async (c) => c.json(await jobs().get(kind, c.req.param('id'))));
    app.post(`${base}/:id/cancel`, async (c) => c.json(await jobs().cancel(kind, c.req.param('id'))));
    app.get(`${base}/:id/events`, async (c) => {
      const id = c.req.param('id');
      const wantsStream = c.req.query('stream') === 'true' || /text\/event-stream/.test(c.req.header('accept') ?? '');
      if (!wantsStream) {
        const limit = Math.max(1, Math.min(10_000, Number(c.req.query('limit') ?? 20) || 20));
        return c.json({ object: 'list', ...(await jobs().events(kind, id, limit)) });
      }
      await jobs().get(kind, id); // a 404 before the stream starts
      return eventStream(c, jobs(), kind, id);
    });
  }
}

/** SSE: every event so far, then new ones as they come, `data: [DONE]` when the job ends, until the client leaves. */
function eventStream(c: Context, jobs: JobService, kind: JobKind, id: string): Response {
  const abort = requestAbort(c),
    enc = new TextEncoder();
  const it = jobs.follow(kind, id, abort.signal)[Symbol.asyncIterator]();
  let closed = false;
  const finish = () => {
    closed = true;
    abort.dispose();
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (closed) return;
      try {
        const r = await it.next();
        if (closed) return;
        if (!r.done) {
          controller.enqueue(enc.encode(`data: ${JSON.stringify(r.value)}\n\n`));
          return;
        }
        if (!abort.signal.aborted) controller.enqueue(enc.encode('data: [DONE]\n\n'));
        finish();
        controller.close();
      } catch (err) {
        if (closed) return;
        finish();
        controller.error(err);
      }
    },
    cancel() {
      abort.abort();
      finish();
      void Promise.resolve(it.return?.(undefined)).catch(() => undefined);
    },
  });
  return new Response(body, { headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' } });
}
