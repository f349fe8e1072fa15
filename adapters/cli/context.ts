// What every command gets from the CLI's entry (a command never imports the entry itself): the file
// system, backend creation that says which backend it chose and why, and option parsing that suggests
// the nearest option for a misspelt one.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Backend } from '../../src/backend/backend.ts';
import { chooseBackend } from '../node/backend.ts';
import { NodeFileSystem } from '../node/fs.ts';

export interface CommandContext {
  fs: NodeFileSystem;
  /** the backend of a --backend value; the choice and its reason go to stderr */
  createBackend(kind: string): Promise<Backend>;
  parse: typeof parseArgs;
}

/** Edit distance, for "did you mean": small strings only (option and command names). */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length];
}

/** The candidate closest to `word`, when it is close enough to be a likely typo. */
export function nearest(word: string, candidates: Iterable<string>): string | null {
  let best: string | null = null,
    bestD = Infinity;
  for (const c of candidates) {
    const dist = editDistance(word, c);
    if (dist < bestD) [best, bestD] = [c, dist];
  }
  return best !== null && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : null;
}

/** parseArgs whose unknown-option error names the nearest known option. */
const parseWithHints = ((config: ParseArgsConfig) => {
  try {
    return parseArgs(config);
  } catch (err) {
    const e = err as Error & { code?: string };
    const m = e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && /Unknown option '--?([^']+)'/.exec(e.message);
    if (m) {
      const hint = nearest(m[1], Object.keys(config.options ?? {}));
      throw new Error(`unknown option --${m[1]}${hint ? `; did you mean --${hint}?` : ''} (--help lists the options)`);
    }
    throw err;
  }
}) as typeof parseArgs;

export function cliContext(): CommandContext {
  return {
    fs: new NodeFileSystem(),
    parse: parseWithHints,
    async createBackend(kind: string) {
      const { backend, reason } = await chooseBackend(kind);
      console.error(`backend: ${reason}`);
      return backend;
    },
  };
}
