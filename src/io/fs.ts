// The file access the portable core needs, injected by each runtime's adapter (adapters/node.ts,
// deno.ts, bun.ts use the real file system; browsers and tests can use MemoryFileSystem).

export interface FileSystem {
  readFile(path: string): Promise<Uint8Array>;
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
  return parts.filter((p) => p.length > 0).join('/').replace(/\/+/g, '/');
}

export async function readText(fs: FileSystem, path: string): Promise<string> {
  return new TextDecoder().decode(await fs.readFile(path));
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
  async writeFile(path: string, data: Uint8Array | string): Promise<void> {
    this.files.set(this.norm(path), typeof data === 'string' ? new TextEncoder().encode(data) : data.slice());
  }
  async rename(from: string, to: string): Promise<void> {
    const a = this.norm(from), b = this.norm(to);
    if (this.files.has(a)) {
      this.files.set(b, this.files.get(a)!);
      this.files.delete(a);
      return;
    }
    if (!this.dirs.has(a)) throw new Error(`ENOENT: no such file or directory: ${from}`);
    for (const [k, v] of [...this.files]) if (k.startsWith(a + '/')) { this.files.delete(k); this.files.set(b + k.slice(a.length), v); }
    for (const d of [...this.dirs]) if (d === a || d.startsWith(a + '/')) { this.dirs.delete(d); this.dirs.add(b + d.slice(a.length)); }
  }
  async mkdir(path: string): Promise<void> {
    const parts = this.norm(path).split('/');
    for (let i = 1; i <= parts.length; i++) this.dirs.add(parts.slice(0, i).join('/'));
  }
  async exists(path: string): Promise<boolean> {
    const p = this.norm(path);
    return this.files.has(p) || this.dirs.has(p);
  }
  async remove(path: string): Promise<void> {
    const p = this.norm(path);
    this.files.delete(p);
    this.dirs.delete(p);
    for (const k of [...this.files.keys()]) if (k.startsWith(p + '/')) this.files.delete(k);
    for (const d of [...this.dirs]) if (d.startsWith(p + '/')) this.dirs.delete(d);
  }
  async readdir(path: string): Promise<string[]> {
    const p = this.norm(path), out = new Set<string>();
    for (const k of [...this.files.keys(), ...this.dirs]) if (k.startsWith(p + '/')) out.add(k.slice(p.length + 1).split('/')[0]);
    return [...out].filter((x) => x);
  }
}
