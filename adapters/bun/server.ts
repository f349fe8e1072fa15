// Serving the Hono app with Bun.serve. Bun aborts the request's signal when the client disconnects.
import type { Hono } from 'hono';
import type { RunningServer } from '../node/server.ts';

interface BunServer {
  port: number;
  stop(closeActive?: boolean): void | Promise<void>;
}
declare const Bun: { serve(o: { port: number; hostname: string; fetch: (r: Request) => Response | Promise<Response>; idleTimeout?: number }): BunServer };

export function serveBun(app: Hono, o: { port?: number; hostname?: string } = {}): Promise<RunningServer> {
  const hostname = o.hostname ?? '127.0.0.1';
  // idleTimeout 0: a long generation (or a job's event stream) is not cut after Bun's default 10 s
  const server = Bun.serve({ port: o.port ?? 8787, hostname, fetch: (req) => app.fetch(req), idleTimeout: 0 });
  return Promise.resolve({ port: server.port, hostname, url: `http://${hostname}:${server.port}`, close: async () => void (await server.stop(true)) });
}
