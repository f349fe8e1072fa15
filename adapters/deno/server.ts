// Serving the Hono app with Deno.serve. The request's AbortSignal fires when the client disconnects,
// which cancels its generation (adapters/hono.ts).
import type { Hono } from 'hono';
import type { RunningServer } from '../node/server.ts';

interface DenoServer {
  addr: { port: number };
  shutdown(): Promise<void>;
  finished: Promise<void>;
}
declare const Deno: {
  serve(o: { port: number; hostname: string; onListen?: (a: { port: number }) => void }, h: (r: Request) => Response | Promise<Response>): DenoServer;
};

export function serveDeno(app: Hono, o: { port?: number; hostname?: string } = {}): Promise<RunningServer> {
  const hostname = o.hostname ?? '127.0.0.1';
  return new Promise((ok) => {
    const server = Deno.serve({ port: o.port ?? 8787, hostname, onListen: () => undefined }, (req) => app.fetch(req));
    const port = server.addr.port;
    ok({ port, hostname, url: `http://${hostname}:${port}`, close: () => server.shutdown() });
  });
}
