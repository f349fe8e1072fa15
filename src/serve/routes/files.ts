// POST /v1/files — training data upload: JSON {filename, purpose, content}, or multipart "file" (OpenAI's
// SDKs upload that way). A multipart form is what any web page can post cross-site without a preflight,
// so multipart is accepted only when the server has API keys (a page cannot send the key).
import type { Hono } from 'hono';
import { ApiError, badRequest } from '../errors.ts';
import { readJSON } from '../validate.ts';
import type { RouteContext } from './context.ts';

export function filesRoute(app: Hono, ctx: RouteContext): void {
  app.post('/v1/files', async (c) => {
    const jobs = ctx.engine.jobs;
    if (!jobs) throw new ApiError(404, 'this server has no jobs folder (start it with --jobs DIR)', 'invalid_request_error', null, 'not_found');
    const ct = c.req.header('content-type') ?? '';
    let filename = 'data.jsonl',
      purpose = 'fine-tune',
      content: string;
    if (/^multipart\/form-data/i.test(ct)) {
      if (!ctx.hasAuth)
        throw new ApiError(
          415,
          'multipart uploads are accepted only by a server with API keys (--api-key); post JSON {filename, purpose, content} instead',
          'invalid_request_error',
          null,
          'unsupported_media_type',
        );
      const form = await c.req.parseBody();
      const f = form.file;
      if (!f || typeof f === 'string' || Array.isArray(f)) throw badRequest(`multipart upload needs a "file" part`, 'file', 'missing_required_parameter');
      filename = (f as File).name || filename;
      content = await (f as File).text();
      if (typeof form.purpose === 'string') purpose = form.purpose;
    } else {
      const b = await readJSON(c);
      if (typeof b.content !== 'string') throw badRequest(`'content' must be a string (the file's text)`, 'content', 'invalid_type');
      content = b.content;
      if (typeof b.filename === 'string') filename = b.filename;
      if (typeof b.purpose === 'string') purpose = b.purpose;
    }
    return c.json(await jobs.upload({ filename, purpose, content }));
  });
}
