// What every route file gets from the app: the engine, the gate, the limits, and the auth check.
import type { Context } from 'hono';
import type { Engine } from '../engine.ts';
import type { Gate } from '../gate.ts';

export interface Limits {
  /** request bodies larger than this are refused with 413 (default 1 MiB) */
  maxBodyBytes: number;
  /** prompt (and each text field) length in characters (default 32,768) */
  maxPromptChars: number;
  /** the largest max_tokens a request may ask for (default 512) */
  maxTokens: number;
  /** requests computing at once: completions decode together, score and classify take their turn (default 4) */
  maxConcurrent: number;
  /** requests waiting for a slot; one more is answered 429 (default 16) */
  maxQueue: number;
  /** choices of one /v1/score request; inputs of one /v1/classify request (default 16) */
  maxItems: number;
  /** bodies of uploads and job creations (training data), in bytes (default 8 MiB) */
  maxUploadBytes: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxBodyBytes: 1 << 20,
  maxPromptChars: 32_768,
  maxTokens: 512,
  maxConcurrent: 4,
  maxQueue: 16,
  maxItems: 16,
  maxUploadBytes: 8 << 20,
};

export interface RouteContext {
  engine: Engine;
  gate: Gate;
  limits: Limits;
  /** whether API keys are configured */
  hasAuth: boolean;
  /** whether this request carries a valid key (true when no keys are configured) */
  authorized(c: Context): Promise<boolean>;
  /** seconds since the epoch when the app was created (the models' `created`) */
  started: number;
}

/** An AbortController that aborts when the client's request does (it went away). */
export function requestAbort(c: Context): { signal: AbortSignal; abort(): void; dispose(): void } {
  const ctrl = new AbortController(),
    req = c.req.raw.signal;
  const onAbort = () => ctrl.abort(req.reason);
  if (req.aborted) ctrl.abort(req.reason);
  else req.addEventListener('abort', onAbort, { once: true });
  return { signal: ctrl.signal, abort: () => ctrl.abort(), dispose: () => req.removeEventListener('abort', onAbort) };
}

export const randomId = (prefix: string) =>
  prefix +
  Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(36).padStart(2, '0'))
    .join('')
    .slice(0, 24);
