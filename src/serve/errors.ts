// Errors in OpenAI's shape: {"error": {"message", "type", "param", "code"}} with a 4xx/5xx status.
// ApiError is the HTTP layer's own; RequestError (engine, jobs) is mapped here, in one place.
import type { Context } from 'hono';
import { RequestError, type RequestErrorKind } from '../util/request-error.ts';

export type ErrorStatus = 400 | 401 | 403 | 404 | 408 | 409 | 413 | 415 | 429 | 500 | 503 | 507;

export class ApiError extends Error {
  constructor(readonly status: ErrorStatus, message: string, readonly type = 'invalid_request_error', readonly param: string | null = null, readonly code: string | null = null) {
    super(message);
  }
}

export function errorResponse(c: Context, e: ApiError): Response {
  return c.json({ error: { message: e.message, type: e.type, param: e.param, code: e.code } }, e.status);
}

export const badRequest = (message: string, param: string | null = null, code: string | null = null) => new ApiError(400, message, 'invalid_request_error', param, code);

const STATUS: Record<RequestErrorKind, ErrorStatus> = { invalid: 400, not_found: 404, too_large: 413, busy: 429, quota: 507 };

/** The ApiError for a client-side problem raised anywhere below the routes; null for a failure of ours. */
export function asApiError(err: unknown): ApiError | null {
  if (err instanceof ApiError) return err;
  if (err instanceof RequestError) return new ApiError(STATUS[err.kind], err.message, err.kind === 'busy' ? 'rate_limit_error' : 'invalid_request_error', err.param, err.code);
  return null;
}
