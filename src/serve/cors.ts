// Cross-origin policy. By default the app sends no CORS headers at all, so no web page on another
// origin can read an answer, and it refuses every state-changing request (POST) whose Origin header
// names another origin: a page the user visits cannot start jobs or computations through the user's
// browser. Origins listed in `allow` (`--cors ORIGIN`; '*' = any) get CORS headers, answered
// preflights, and may post. A request without an Origin header (curl, SDKs, servers) is not a
// browser's cross-site request and passes; it still needs a key when keys are configured.
import type { MiddlewareHandler } from 'hono';
import { ApiError, errorResponse } from './errors.ts';

const METHODS = 'GET, POST, OPTIONS';
const HEADERS = 'authorization, content-type';

/** An origin as browsers send it (scheme://host[:port]); throws on anything else. */
export function normalizeOrigin(o: string): string {
  if (o === '*') return o;
  let u: URL;
  try {
    u = new URL(o);
  } catch {
    throw new Error(`CORS origin "${o}" is not a URL origin such as https://app.example.com`);
  }
  if (u.origin === 'null' || `${u.origin}/` !== u.href.replace(/\/?$/, '/'))
    throw new Error(`CORS origin "${o}" must be scheme://host[:port] only, e.g. ${u.origin}`);
  return u.origin;
}

export function originPolicy(allow: readonly string[]): MiddlewareHandler {
  const allowed = new Set(allow.map(normalizeOrigin));
  const any = allowed.has('*');
  const permits = (origin: string) => any || allowed.has(origin);
  return async (c, next) => {
    const origin = c.req.header('origin');
    const self = new URL(c.req.url).origin;
    const crossOrigin = origin !== undefined && origin !== self;
    if (c.req.method === 'OPTIONS') {
      // a preflight: answered for allowed origins only
      if (!origin || !permits(origin))
        return errorResponse(
          c,
          new ApiError(
            403,
            `cross-origin requests from ${origin ?? 'this client'} are not allowed (the server's CORS policy: ${allowed.size ? [...allowed].join(', ') : 'none'})`,
            'invalid_request_error',
            null,
            'cors_forbidden',
          ),
        );
      return new Response(null, {
        status: 204,
        headers: {
          'access-control-allow-origin': origin,
          'access-control-allow-methods': METHODS,
          'access-control-allow-headers': HEADERS,
          'access-control-max-age': '600',
          vary: 'Origin',
        },
      });
    }
    if (crossOrigin && !permits(origin) && c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      return errorResponse(
        c,
        new ApiError(
          403,
          `cross-origin ${c.req.method} from ${origin} refused: the server's CORS policy does not allow that origin`,
          'invalid_request_error',
          null,
          'cors_forbidden',
        ),
      );
    }
    await next();
    if (crossOrigin && permits(origin)) {
      c.res.headers.set('access-control-allow-origin', origin);
      c.res.headers.set('access-control-expose-headers', 'retry-after');
      c.res.headers.append('vary', 'Origin');
    }
  };
}
