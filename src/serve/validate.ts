// Reading and checking request bodies: every problem is a 4xx ApiError that names the field.
import type { Context } from 'hono';
import { ApiError, badRequest } from './errors.ts';

export type Body = Record<string, unknown>;

export const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

const JSON_TYPE = /^application\/json\s*(;|$)/i;

/**
 * The request body as a JSON object. Only `Content-Type: application/json` is read: a browser sends
 * that cross-site only after a CORS preflight, so a page the user visits cannot post JSON here; a
 * request without a Content-Type (or with text/plain, a form type) is refused with 415.
 */
export async function readJSON(c: Context): Promise<Body> {
  const ct = c.req.header('content-type');
  if (!ct || !JSON_TYPE.test(ct)) {
    throw new ApiError(
      415,
      ct ? `Content-Type must be application/json, got "${ct}"` : 'Content-Type must be application/json; the request has none',
      'invalid_request_error',
      null,
      'unsupported_media_type',
    );
  }
  const text = await c.req.text();
  if (text.trim() === '') throw badRequest('the request body is empty; send a JSON object', null, 'invalid_json');
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw badRequest(`the request body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`, null, 'invalid_json');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw badRequest('the request body must be a JSON object', null, 'invalid_json');
  return v as Body;
}

export function optNumber(b: Body, k: string, lo: number, hi: number, int = false): number | undefined {
  const v = b[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw badRequest(`'${k}' must be a number, got ${typeName(v)} ${JSON.stringify(v)?.slice(0, 40)}`, k, 'invalid_type');
  if (int && !Number.isInteger(v)) throw badRequest(`'${k}' must be an integer, got ${v}`, k, 'invalid_type');
  if (v < lo || v > hi) throw badRequest(`'${k}' must be in [${lo}, ${hi}], got ${v}`, k, 'out_of_range');
  return v;
}

export function optBool(b: Body, k: string): boolean | undefined {
  const v = b[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw badRequest(`'${k}' must be a boolean, got ${typeName(v)}`, k, 'invalid_type');
  return v;
}

export function text(v: unknown, param: string, max: number, allowEmpty = false): string {
  if (typeof v !== 'string') throw badRequest(`'${param}' must be a string, got ${typeName(v)}`, param, 'invalid_type');
  if (!allowEmpty && v.length === 0) throw badRequest(`'${param}' is empty`, param, 'invalid_value');
  if (v.length > max) throw badRequest(`'${param}' has ${v.length} characters; the limit is ${max}`, param, 'string_above_max_length');
  return v;
}

export function onlyKeys(b: Body, allowed: string[]): void {
  for (const k of Object.keys(b)) if (!allowed.includes(k)) throw badRequest(`Unrecognized request argument supplied: ${k}`, k, 'unknown_parameter');
}

/** `model`: a string, or absent when the server has a default model. */
export function modelField(b: Body, defaultModel: string | null): string {
  const id = b.model;
  if (id === undefined || id === null) {
    if (defaultModel !== null) return defaultModel;
    throw badRequest(`'model' is required`, 'model', 'missing_required_parameter');
  }
  if (typeof id !== 'string') throw badRequest(`'model' must be a string, got ${typeName(id)}`, 'model', 'invalid_type');
  return id;
}
