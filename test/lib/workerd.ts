// workerd (npm `workerd`, the open-source Cloudflare Workers runtime) serving a config on a free loopback
// port, ready when `readyPath` answers: for the workerd tests and bench/workerd-gpt2.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from './net.ts';

export const WORKERD = 'node_modules/.bin/workerd';

export interface RunningWorkerd {
  url: string;
  proc: ChildProcess;
  /** what workerd printed so far */
  log(): string;
  stop(): void;
}

export async function startWorkerd(cwd: string, config: string, o: { args?: string[]; readyPath?: string; timeoutMs?: number } = {}): Promise<RunningWorkerd> {
  const port = await freePort();
  let out = '';
  const proc = spawn(join(process.cwd(), WORKERD), ['serve', config, '--socket-addr', `http=127.0.0.1:${port}`, ...(o.args ?? [])], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const w: RunningWorkerd = { url: `http://127.0.0.1:${port}`, proc, log: () => out, stop: () => void proc.kill('SIGTERM') };
  const t0 = Date.now();
  while (
    !(await fetch(`${w.url}${o.readyPath ?? '/health'}`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (proc.exitCode !== null || Date.now() - t0 > (o.timeoutMs ?? 30_000)) {
      w.stop();
      throw new Error(`workerd ${proc.exitCode !== null ? `exited (${proc.exitCode})` : `did not answer within ${(o.timeoutMs ?? 30_000) / 1000} s`}: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return w;
}
