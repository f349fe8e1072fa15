// GET /v1/models, GET /v1/models/{id} — the servable model ids, their context length, and the task of
// fine-tuned ones (results of jobs are listed whether or not they are loaded now).
import type { Hono } from 'hono';
import { ApiError } from '../errors.ts';
import type { ModelInfo } from '../engine.ts';
import type { RouteContext } from './context.ts';

export function modelsRoute(app: Hono, ctx: RouteContext): void {
  const object = (m: ModelInfo) => ({ id: m.id, object: 'model', created: ctx.started, owned_by: 'gptedge', context_length: m.contextLength, task: m.task });
  app.get('/v1/models', (c) => c.json({ object: 'list', data: ctx.engine.models().map(object) }));
  app.get('/v1/models/:id', (c) => {
    const id = c.req.param('id'),
      m = ctx.engine.models().find((x) => x.id === id);
    if (!m) throw new ApiError(404, `The model '${id}' does not exist`, 'invalid_request_error', 'model', 'model_not_found');
    return c.json(object(m));
  });
}
