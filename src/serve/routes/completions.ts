// POST /v1/completions — OpenAI's completions; `stream: true` answers with server-sent events.
// The request passes the gate, then the engine generates; a client that goes away (the request's
// signal, or the SSE body being cancelled) ends its generation at the next step and is counted as
// cancelled, never as an error.
import type { Hono } from 'hono';
import type { FinishReason } from '../../infer/generate.ts';
import { badRequest, outcomeOf } from '../errors.ts';
import type { CompletionEvent, CompletionRequest } from '../engine.ts';
import type { Outcome } from '../gate.ts';
import { modelField, onlyKeys, optBool, optNumber, readJSON, text, typeName, type Body } from '../validate.ts';
import { randomId, requestAbort, type RouteContext } from './context.ts';

const openaiFinish = (r: FinishReason): 'stop' | 'length' | null => (r === 'stop' ? 'stop' : r === 'length' || r === 'context' ? 'length' : null);

function parse(b: Body, ctx: RouteContext): CompletionRequest & { stream: boolean; includeUsage: boolean } {
  const L = ctx.limits;
  onlyKeys(b, [
    'model',
    'prompt',
    'max_tokens',
    'temperature',
    'top_p',
    'top_k',
    'n',
    'stream',
    'stop',
    'seed',
    'user',
    'echo',
    'stream_options',
    'logprobs',
    'presence_penalty',
    'frequency_penalty',
  ]);
  const model = modelField(b, ctx.engine.defaultModel);
  // prompt: a string, an array of one string, or an array of token ids
  let prompt: string | number[];
  let p = b.prompt ?? '';
  if (Array.isArray(p) && p.length === 1 && typeof p[0] === 'string') p = p[0];
  if (typeof p === 'string') prompt = text(p, 'prompt', L.maxPromptChars, true);
  else if (Array.isArray(p) && p.every((x) => typeof x === 'number')) {
    if (p.length > L.maxPromptChars) throw badRequest(`'prompt' has ${p.length} tokens; the limit is ${L.maxPromptChars}`, 'prompt', 'string_above_max_length');
    for (const t of p as number[])
      if (!(Number.isInteger(t) && t >= 0)) throw badRequest(`'prompt' holds ${t}, which is not a token id`, 'prompt', 'invalid_value');
    prompt = p as number[];
  } else throw badRequest(`'prompt' must be a string, an array of one string, or an array of token ids; got ${typeName(p)}`, 'prompt', 'invalid_type');
  const maxTokens = optNumber(b, 'max_tokens', 0, L.maxTokens, true) ?? Math.min(16, L.maxTokens);
  const temperature = optNumber(b, 'temperature', 0, 2) ?? 1;
  const topP = optNumber(b, 'top_p', Number.MIN_VALUE, 1) ?? 1;
  const topK = optNumber(b, 'top_k', 0, 2 ** 31 - 1, true) ?? 0;
  const seed = optNumber(b, 'seed', 0, 2 ** 32 - 1, true);
  optNumber(b, 'n', 1, 1, true);
  if (b.logprobs !== undefined && b.logprobs !== null) throw badRequest(`'logprobs' is not supported; use POST /v1/score`, 'logprobs', 'unsupported_parameter');
  const echo = optBool(b, 'echo') ?? false;
  const stream = optBool(b, 'stream') ?? false;
  for (const k of ['presence_penalty', 'frequency_penalty'])
    if (b[k] !== undefined && b[k] !== null && b[k] !== 0) throw badRequest(`'${k}' is not supported (only 0)`, k, 'unsupported_parameter');
  let stop: string[] = [];
  if (b.stop !== undefined && b.stop !== null) {
    const s = typeof b.stop === 'string' ? [b.stop] : b.stop;
    if (!Array.isArray(s) || s.length > 4 || !s.every((x) => typeof x === 'string'))
      throw badRequest(`'stop' must be a string or an array of at most 4 strings`, 'stop', 'invalid_type');
    stop = (s as string[]).map((x, i) => text(x, `stop[${i}]`, 256, true));
  }
  if (b.user !== undefined && typeof b.user !== 'string') throw badRequest(`'user' must be a string`, 'user', 'invalid_type');
  const includeUsage = !!(b.stream_options && typeof b.stream_options === 'object' && (b.stream_options as Body).include_usage === true);
  return { model, prompt, maxTokens, temperature, topP, topK, seed, stop, echo, stream, includeUsage };
}

export function completionsRoute(app: Hono, ctx: RouteContext): void {
  app.post('/v1/completions', async (c) => {
    const r = parse(await readJSON(c), ctx);
    const abort = requestAbort(c);
    const ticket = await ctx.gate.admit('completions', abort.signal).catch((err) => {
      abort.dispose();
      throw err;
    });
    const events = ctx.engine.complete(r, abort.signal)[Symbol.asyncIterator]();
    let ended = false;
    /** ends the request once: the engine's generator, the client's abort link, the gate's ticket */
    const end = (outcome: Outcome) => {
      if (ended) return;
      ended = true;
      abort.dispose();
      void Promise.resolve(events.return?.(undefined)).catch(() => undefined);
      ticket.end(outcome);
    };
    const failed = (err: unknown): Outcome => outcomeOf(err, abort.signal.aborted);
    let start: CompletionEvent;
    try {
      start = (await events.next()).value as CompletionEvent;
      if (start?.type !== 'start') throw new Error('the engine did not start the completion');
    } catch (err) {
      end(failed(err));
      throw err;
    }
    const promptTokens = start.promptTokens,
      echo = start.echo;
    let completionTokens = 0;
    const usage = () => ({ prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens });
    const id = randomId('cmpl-'),
      created = Math.floor(Date.now() / 1000);

    if (!r.stream) {
      let out = '',
        reason: FinishReason = 'length';
      try {
        for (let e = await events.next(); !e.done; e = await events.next()) {
          const ev = e.value;
          if (ev.type === 'text') out += ev.text;
          else if (ev.type === 'end') {
            reason = ev.finishReason;
            completionTokens = ev.completionTokens;
            break;
          }
        }
      } catch (err) {
        end(failed(err));
        throw err;
      }
      end(reason === 'cancelled' || abort.signal.aborted ? 'cancelled' : 'ok');
      return c.json({
        id,
        object: 'text_completion',
        created,
        model: r.model,
        choices: [{ text: echo + out, index: 0, logprobs: null, finish_reason: openaiFinish(reason) }],
        usage: usage(),
      });
    }

    const enc = new TextEncoder();
    const sse = (v: unknown) => enc.encode(`data: ${typeof v === 'string' ? v : JSON.stringify(v)}\n\n`);
    const chunk = (t: string, reason: 'stop' | 'length' | null) => ({
      id,
      object: 'text_completion',
      created,
      model: r.model,
      choices: [{ text: t, index: 0, logprobs: null, finish_reason: reason }],
    });
    let sentEcho = !r.echo;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (ended) return;
        try {
          if (!sentEcho) {
            sentEcho = true;
            controller.enqueue(sse(chunk(echo, null)));
            return;
          }
          const e = await events.next();
          if (ended) return; // the client left while the next token was computed
          const ev = e.done ? ({ type: 'end', finishReason: abort.signal.aborted ? 'cancelled' : 'length', completionTokens } as const) : e.value;
          if (ev.type === 'text') controller.enqueue(sse(chunk(ev.text, null)));
          else if (ev.type === 'end') {
            completionTokens = ev.completionTokens;
            if (ev.finishReason === 'cancelled') {
              end('cancelled');
              controller.close();
              return;
            }
            const final = chunk('', openaiFinish(ev.finishReason));
            controller.enqueue(sse(r.includeUsage ? { ...final, usage: usage() } : final));
            controller.enqueue(sse('[DONE]'));
            end('ok');
            controller.close();
          }
        } catch (err) {
          if (ended) return;
          const outcome = failed(err);
          end(outcome);
          try {
            if (outcome === 'failed')
              controller.enqueue(sse({ error: { message: err instanceof Error ? err.message : String(err), type: 'server_error', param: null, code: null } }));
            controller.close();
          } catch {
            // the stream was cancelled meanwhile: nothing to tell anyone
          }
        }
      },
      cancel() {
        // the client went away (the runtime cancels the body): the generation stops at its next step
        abort.abort();
        end('cancelled');
      },
    });
    return new Response(body, {
      headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' },
    });
  });
}
