// Errors in OpenAI's shape: {"error": {"message", "type", "param", "code"}} with a 4xx/5xx status.
// ApiError is the HTTP layer's own; RequestError (engine, jobs) is mapped here, in one place.
import type { Context } from 'hono';
import { RequestError, type RequestErrorKind } from '../util/request-error.ts';

export type ErrorStatus = 400 | 401 | 403 | 404 | 408 | 409 | 413 | 415 | 429 | 500 | 503 | 507;

export class ApiError extends Error {
  constructor(
    readonly status: ErrorStatus,
    message: string,
    readonly type = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

export function errorResponse(c: Context, e: ApiError): Response {
  return c.json({ error: { message: e.message, type: e.type, param: e.param, code: e.code } }, e.status);
}

export const badRequest = (message: string, param: string | null = null, code: string | null = null) =>
  new ApiError(400, message, 'invalid_request_error', param, code);

const STATUS: Record<RequestErrorKind, ErrorStatus> = { invalid: 400, not_found: 404, too_large: 413, busy: 429, quota: 507, unavailable: 503 };
const TYPE: Partial<Record<RequestErrorKind, string>> = { busy: 'rate_limit_error', unavailable: 'server_error' };

/** Failures of the engine itself: a lost WebGPU device (the backend's DeviceLostError), a dead engine worker. */
const ENGINE_FAILURES = new Set(['DeviceLostError', 'EngineFailedError']);

/**
 * The ApiError for what went wrong below the routes: a client-side problem (4xx), or the engine failing
 * under the request (503: the supervisor is starting a new one, retry). Null for any other failure (500).
 */
export function asApiError(err: unknown): ApiError | null {
  if (err instanceof ApiError) return err;
  if (err instanceof RequestError) return new ApiError(STATUS[err.kind], err.message, TYPE[err.kind] ?? 'invalid_request_error', err.param, err.code);
  if (err instanceof Error && ENGINE_FAILURES.has(err.name)) {
    return new ApiError(
      503,
      `the server's compute engine failed under this request (${err.message}); a new one is starting: retry shortly`,
      'server_error',
      null,
      'engine_unavailable',
    );
  }
  return null;
}

/** What a request that threw `err` counts as: the client left, the client erred (4xx), or we failed. */
export function outcomeOf(err: unknown, clientLeft: boolean): 'cancelled' | 'invalid' | 'failed' {
  if (clientLeft) return 'cancelled';
  const e = asApiError(err);
  return e && e.status < 500 ? 'invalid' : 'failed';
}
