// GET /health — liveness and the gate's counters, answered by the HTTP thread without waiting for the
// models (compute runs elsewhere, or between the requests' steps). Open even when API keys are
// configured; then only a caller with a key also sees the models and limits.
import type { Hono } from 'hono';
import type { RouteContext } from './context.ts';

export function healthRoute(app: Hono, ctx: RouteContext): void {
  app.get('/health', async (c) => {
    const basic = { status: 'ok', ...ctx.gate.stats };
    if (ctx.hasAuth && !(await ctx.authorized(c))) return c.json(basic);
    return c.json({ ...basic, models: ctx.engine.models().map((m) => m.id), limits: ctx.limits });
  });
}
