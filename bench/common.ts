// What the benchmarks share: command-line numbers, medians, the machine's load for the record, writing a
// table into a tagged section of BENCHMARKS.md (or another markdown file), and the WASM backend.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createNodeWasmBackend } from '../adapters/node/wasm.ts';
import type { WasmBackendOptions, WasmVariant } from '../src/backend/wasm/index.ts';

export const argv = process.argv.slice(2);
/** --name N (a number), or the default */
export const opt = (name: string, dflt: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
/** --only=a,b: the parts of a bench to run (all when absent) */
export const only = argv
  .find((a) => a.startsWith('--only='))
  ?.slice(7)
  .split(',');
export const want = (s: string): boolean => !only || only.includes(s);
export const median = (ts: number[]): number => [...ts].sort((x, y) => x - y)[ts.length >> 1];
export const loadNow = (): string =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
/** the run's command, date, runtime, CPU and load, under a table */
export function runMeta(cmd: string, load0: number[]): string {
  return (
    `\`${cmd}\` — ${new Date().toISOString().slice(0, 10)}, ${process.release?.name ?? 'node'} ${process.version}, ${cpus()[0]?.model ?? 'cpu'} ×${cpus().length}, ` +
    `load average ${load0.map((x) => x.toFixed(1)).join(' ')} before, ${loadNow()} after (a shared machine: compare rows of one table, not across tables)`
  );
}
/** Replaces the section `<!-- tag -->…<!-- /tag -->` of a markdown file (appended when absent). */
export function writeSection(file: string, tag: string, body: string): void {
  const section = `<!-- ${tag} -->\n${body}\n<!-- /${tag} -->`;
  const esc = tag.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const re = new RegExp(`<!-- ${esc} -->[\\s\\S]*?<!-- /${esc} -->`);
  const md = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  writeFileSync(file, re.test(md) ? md.replace(re, section) : md.trimEnd() + '\n\n' + section + '\n');
}

/**
 * The WASM backend with its kernels read from wasm/build under the working directory (the repository
 * root): a bench runs bundled from .cache/bench/, where import.meta.url does not point at adapters/.
 */
export const benchWasmBackend = (o: Omit<WasmBackendOptions, 'load'> = {}) =>
  createNodeWasmBackend({ ...o, load: async (v: WasmVariant) => new Uint8Array(await readFile(join('wasm/build', `gptedge-${v}.wasm`))) });
