// Where a model comes from, as a FileSystem plus a folder inside it, so that one loader (src/io,
// src/model/load.ts) serves every source: a folder on disk (the runtime's file system), an http(s) base
// URL (read-only, fetched file by file with progress), or files held in memory.
import { MemoryFileSystem, type FileInfo, type FileSystem } from '../io/fs.ts';

/** Progress of one file's download: `total` when the server sent a length. */
export interface ProgressEvent {
  file: string;
  loaded: number;
  total?: number;
}

/** A model folder's files in memory: name → contents (`model.safetensors` bytes, JSON text, ...). */
export type ModelFiles = Record<string, Uint8Array | ArrayBuffer | string>;

/** A folder path (needs a runtime with files), an http(s) URL of a folder, or in-memory files. */
export type ModelSource = string | URL | { files: ModelFiles };

const isURL = (s: string) => /^https?:\/\//i.test(s);

/**
 * A read-only FileSystem over http(s): `readFile` fetches base + path, reporting progress as the body
 * arrives; `exists` asks with HEAD (GET where the server refuses HEAD). Everything fetched is cached, so
 * a file is downloaded once even when a loader checks for it first.
 */
export class HttpFileSystem implements FileSystem {
  private readonly got = new Map<string, Promise<Uint8Array | null>>();
  private readonly heads = new Map<string, Promise<boolean>>();

  constructor(
    private readonly base: URL,
    private readonly o: { fetch?: (u: URL, init?: RequestInit) => Promise<Response>; onProgress?: (e: ProgressEvent) => void } = {},
  ) {
    if (!base.href.endsWith('/')) this.base = new URL(`${base.href}/`);
  }

  private url(path: string): URL {
    return new URL(path.replace(/^\.?\/+/, ''), this.base);
  }
  private fetch(u: URL, init?: RequestInit): Promise<Response> {
    const f = this.o.fetch ?? (globalThis.fetch as (u: URL, init?: RequestInit) => Promise<Response>);
    return f(u, init);
  }

  private download(path: string): Promise<Uint8Array | null> {
    let p = this.got.get(path);
    if (!p) {
      p = (async () => {
        const u = this.url(path);
        const res = await this.fetch(u);
        if (res.status === 404) return null;
        if (!res.ok) throw new Error(`${u.href}: HTTP ${res.status} ${res.statusText}`);
        const len = Number(res.headers.get('content-length'));
        const total = Number.isFinite(len) && len > 0 ? len : undefined;
        if (!res.body || !this.o.onProgress) return new Uint8Array(await res.arrayBuffer());
        const parts: Uint8Array[] = [];
        let loaded = 0;
        this.o.onProgress({ file: path, loaded, total });
        const reader = res.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          parts.push(value);
          loaded += value.length;
          this.o.onProgress({ file: path, loaded, total });
        }
        const out = new Uint8Array(loaded);
        let o = 0;
        for (const part of parts) {
          out.set(part, o);
          o += part.length;
        }
        return out;
      })();
      this.got.set(path, p);
      p.catch(() => this.got.delete(path));
    }
    return p;
  }

  async readFile(path: string): Promise<Uint8Array> {
    const b = await this.download(path);
    if (!b) throw new Error(`${this.url(path).href}: not found (HTTP 404)`);
    return b;
  }
  /** a file: its size from what was downloaded or from the server's Content-Length (0 when it sent none) */
  async stat(path: string): Promise<FileInfo | null> {
    if (path.replace(/^\.?\/*/, '') === '') return { kind: 'directory', size: 0 };
    const got = this.got.get(path);
    if (got) {
      const b = await got;
      return b ? { kind: 'file', size: b.length } : null;
    }
    const res = await this.fetch(this.url(path), { method: 'HEAD' });
    if (res.status === 405 || res.status === 501) {
      const b = await this.download(path);
      return b ? { kind: 'file', size: b.length } : null;
    }
    if (!res.ok) return null;
    const len = Number(res.headers.get('content-length'));
    return { kind: 'file', size: Number.isFinite(len) && len > 0 ? len : 0 };
  }
  async exists(path: string): Promise<boolean> {
    if (path.replace(/^\.?\/*/, '') === '') return true;
    if (this.got.has(path)) return (await this.got.get(path)!) !== null;
    let p = this.heads.get(path);
    if (!p) {
      p = (async () => {
        const res = await this.fetch(this.url(path), { method: 'HEAD' });
        if (res.status === 405 || res.status === 501) return (await this.download(path)) !== null;
        return res.ok;
      })();
      this.heads.set(path, p);
    }
    return p;
  }
  async readdir(): Promise<string[]> {
    throw new Error(`${this.base.href}: an http(s) model source cannot be listed`);
  }
  private readOnly(): never {
    throw new Error(`${this.base.href}: an http(s) model source is read-only; save to a folder or in memory`);
  }
  async writeFile(): Promise<void> {
    this.readOnly();
  }
  async rename(): Promise<void> {
    this.readOnly();
  }
  async mkdir(): Promise<void> {
    this.readOnly();
  }
  async remove(): Promise<void> {
    this.readOnly();
  }
}

/** The file system and folder a source is read from. */
export function openSource(
  source: ModelSource,
  o: { fs?: FileSystem; fetch?: (u: URL, init?: RequestInit) => Promise<Response>; onProgress?: (e: ProgressEvent) => void } = {},
): { fs: FileSystem; dir: string; name: string } {
  if (source instanceof URL || (typeof source === 'string' && isURL(source))) {
    const u = new URL(String(source));
    return { fs: new HttpFileSystem(u, o), dir: '', name: u.href };
  }
  if (typeof source === 'string') {
    if (!o.fs) throw new Error(`load("${source}"): this runtime has no file system; pass an http(s) URL or { files }`);
    return { fs: o.fs, dir: source, name: source };
  }
  if (source && typeof source === 'object' && 'files' in source) {
    const mem = new MemoryFileSystem();
    for (const [name, data] of Object.entries(source.files)) {
      if (name.includes('/') || name === '..' || name === '.') throw new Error(`load({ files }): "${name}" is not a plain file name`);
      const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data instanceof Uint8Array ? data : new Uint8Array(data);
      mem.files.set(`model/${name}`, bytes);
    }
    mem.dirs.add('model');
    return { fs: mem, dir: 'model', name: 'in-memory files' };
  }
  throw new Error('load: the source must be a folder path, an http(s) URL, or { files: { "config.json": ..., ... } }');
}
