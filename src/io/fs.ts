// The file access the portable core needs, injected by each runtime's adapter (adapters/node.ts,
// deno.ts, bun.ts use the real file system; browsers and tests can use MemoryFileSystem).
import { FileFormatError } from './errors.ts';

/** What a stat says about a path (symbolic links followed): devices, FIFOs and sockets are 'other'. */
export interface FileInfo {
  kind: 'file' | 'directory' | 'other';
  /** bytes, for a regular file (0 otherwise) */
  size: number;
}

export interface FileSystem {
  readFile(path: string): Promise<Uint8Array>;
  /** null when nothing is there; follows symbolic links */
  stat(path: string): Promise<FileInfo | null>;
  writeFile(path: string, data: Uint8Array | string): Promise<void>;
  /** atomic within one file system: the target is replaced whole or not at all */
  rename(from: string, to: string): Promise<void>;
  /** recursive; no error when it exists */
  mkdir(path: string): Promise<void>;
  exists(path: string): Promise<boolean>;
  /** recursive; no error when missing */
  remove(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
}

export function join(...parts: string[]): string {
  return parts
    .filter((p) => p.length > 0)
    .join('/')
    .replace(/\/+/g, '/');
}

export async function readText(fs: FileSystem, path: string): Promise<string> {
  return new TextDecoder().decode(await fs.readFile(path));
}

/**
 * Read a file the caller is about to trust: it must be a regular file (not a device, FIFO or folder:
 * a symlink to /dev/zero would never end) of at most `maxBytes`, checked by a stat before a byte is
 * read. Every refusal is a FileFormatError naming the path; `what` ends the size message ("more than the
 * 1048576 <what>", e.g. "a config.json may have").
 */
export async function readFileChecked(fs: FileSystem, path: string, o: { maxBytes: number; what?: string }): Promise<Uint8Array> {
  const info = await fs.stat(path);
  if (!info) throw new FileFormatError(path, 'missing');
  if (info.kind !== 'file') throw new FileFormatError(path, `not a regular file (a ${info.kind === 'directory' ? 'directory' : 'device, FIFO or socket'})`);
  const limit = () => `more than the ${o.maxBytes} ${o.what ?? 'allowed'}`;
  if (info.size > o.maxBytes) throw new FileFormatError(path, `${info.size} bytes, ${limit()}`);
  const bytes = await fs.readFile(path);
  if (bytes.length > o.maxBytes) throw new FileFormatError(path, `${bytes.length} bytes, ${limit()} (it grew while being read)`);
  return bytes;
}

/** readFileChecked, decoded as UTF-8 JSON text (invalid UTF-8 is replaced: JSON.parse reports what matters). */
export async function readTextChecked(fs: FileSystem, path: string, o: { maxBytes: number; what?: string }): Promise<string> {
  return new TextDecoder().decode(await readFileChecked(fs, path, o));
}

/** Write to a temporary sibling, then rename over the target: readers never see half a file. */
export async function writeAtomic(fs: FileSystem, path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${Math.random().toString(36).slice(2, 10)}.tmp`;
  try {
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, path);
  } catch (err) {
    await fs.remove(tmp).catch(() => undefined);
    throw err;
  }
}

/** An in-memory file system: for tests, browsers without OPFS, and edge handlers. */
export class MemoryFileSystem implements FileSystem {
  readonly files: Map<string, Uint8Array> = new Map();
  readonly dirs: Set<string> = new Set(['', '.', '/']);

  private norm(p: string): string {
    return p.replace(/\/+/g, '/').replace(/\/$/, '');
  }
  async readFile(path: string): Promise<Uint8Array> {
    const f = this.files.get(this.norm(path));
    if (!f) throw new Error(`ENOENT: no such file: ${path}`);
    return f.slice();
  }
  async stat(path: string): Promise<FileInfo | null> {
    const p = this.norm(path),
      f = this.files.get(p);
    if (f) return { kind: 'file', size: f.length };
    return this.isDir(p) ? { kind: 'directory', size: 0 } : null;
  }
  /** a folder made by mkdir, or implied by a file written under it */
  private isDir(p: string): boolean {
    if (this.dirs.has(p)) return true;
    for (const k of this.files.keys()) if (k.startsWith(p + '/')) return true;
    return false;
  }
  async writeFile(path: string, data: Uint8Array | string): Promise<void> {
    this.files.set(this.norm(path), typeof data === 'string' ? new TextEncoder().encode(data) : data.slice());
  }
  async rename(from: string, to: string): Promise<void> {
    const a = this.norm(from),
      b = this.norm(to);
    if (this.files.has(a)) {
      this.files.set(b, this.files.get(a)!);
      this.files.delete(a);
      return;
    }
    if (!this.dirs.has(a)) throw new Error(`ENOENT: no such file or directory: ${from}`);
    for (const [k, v] of [...this.files])
      if (k.startsWith(a + '/')) {
        this.files.delete(k);
        this.files.set(b + k.slice(a.length), v);
      }
    for (const d of [...this.dirs])
      if (d === a || d.startsWith(a + '/')) {
        this.dirs.delete(d);
        this.dirs.add(b + d.slice(a.length));
      }
  }
  async mkdir(path: string): Promise<void> {
    const parts = this.norm(path).split('/');
    for (let i = 1; i <= parts.length; i++) this.dirs.add(parts.slice(0, i).join('/'));
  }
  async exists(path: string): Promise<boolean> {
    const p = this.norm(path);
    return this.files.has(p) || this.isDir(p);
  }
  async remove(path: string): Promise<void> {
    const p = this.norm(path);
    this.files.delete(p);
    this.dirs.delete(p);
    for (const k of [...this.files.keys()]) if (k.startsWith(p + '/')) this.files.delete(k);
    for (const d of [...this.dirs]) if (d.startsWith(p + '/')) this.dirs.delete(d);
  }
  async readdir(path: string): Promise<string[]> {
    const p = this.norm(path),
      out = new Set<string>();
    for (const k of [...this.files.keys(), ...this.dirs]) if (k.startsWith(p + '/')) out.add(k.slice(p.length + 1).split('/')[0]);
    return [...out].filter((x) => x);
  }
}
