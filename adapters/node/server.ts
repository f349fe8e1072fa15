// Serving the Hono app on Node with @hono/node-server (Bun and Deno have their own: serve-bun.ts,
// serve-deno.ts). Binds 127.0.0.1 unless told otherwise; port 0 picks a free port.
import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Hono } from 'hono';

export interface RunningServer {
  /** the port actually bound (useful with port 0) */
  port: number;
  hostname: string;
  url: string;
  /** stops accepting connections and closes the open ones */
  close(): Promise<void>;
}

export function serveNode(app: Hono, o: { port?: number; hostname?: string } = {}): Promise<RunningServer> {
  const hostname = o.hostname ?? '127.0.0.1';
  return new Promise((ok, fail) => {
    const server = serve({ fetch: app.fetch, port: o.port ?? 8787, hostname }, (info: AddressInfo) => {
      ok({
        port: info.port,
        hostname,
        url: `http://${hostname.includes(':') ? `[${hostname}]` : hostname}:${info.port}`,
        close: () =>
          new Promise<void>((done) => {
            const s = server as unknown as { close(cb: () => void): void; closeAllConnections?: () => void };
            s.close(() => done());
            s.closeAllConnections?.();
          }),
      });
    });
    server.once('error', fail);
  });
}
