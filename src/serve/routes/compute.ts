// One request that computes, start to end, through the gate: admitted (or 429), run with the client's
// abort signal, and ended with what happened (ok / cancelled / invalid / failed) — the accounting
// /health shows, the same for every computing route. Completions stream, so they do this themselves.
import type { Context } from 'hono';
import { outcomeOf } from '../errors.ts';
import type { ComputeKind } from '../gate.ts';
import { requestAbort, type RouteContext } from './context.ts';

export async function compute<T>(c: Context, ctx: RouteContext, kind: ComputeKind, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = requestAbort(c);
  try {
    const ticket = await ctx.gate.admit(kind, abort.signal);
    try {
      const out = await run(abort.signal);
      ticket.end(abort.signal.aborted ? 'cancelled' : 'ok');
      return out;
    } catch (err) {
      ticket.end(outcomeOf(err, abort.signal.aborted));
      throw err;
    }
  } finally {
    abort.dispose();
  }
}
