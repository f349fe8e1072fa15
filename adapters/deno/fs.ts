// The portable core's FileSystem on Deno's own file APIs.
import { FileFormatError } from '../../src/io/errors.ts';
import type { FileInfo, FileSystem } from '../../src/io/fs.ts';

interface DenoStat {
  isFile: boolean;
  isDirectory: boolean;
  size: number;
}
interface DenoFs {
  readFile(path: string): Promise<Uint8Array>;
  open(path: string, o: { read: boolean }): Promise<{ stat(): Promise<DenoStat>; readable: ReadableStream<Uint8Array>; close(): void }>;
  writeFile(path: string, data: Uint8Array): Promise<void>;
  writeTextFile(path: string, data: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  mkdir(path: string, o: { recursive: boolean }): Promise<void>;
  stat(path: string): Promise<DenoStat>;
  remove(path: string, o: { recursive: boolean }): Promise<void>;
  readDir(path: string): AsyncIterable<{ name: string }>;
  errors: { NotFound: new (...a: never[]) => Error };
}
const deno = (): DenoFs => (globalThis as unknown as { Deno: DenoFs }).Deno;

export class DenoFileSystem implements FileSystem {
  /** Regular files only: a device or FIFO is refused before a byte is read. */
  async readFile(path: string): Promise<Uint8Array> {
    const f = await deno().open(path, { read: true });
    try {
      if (!(await f.stat()).isFile) throw new FileFormatError(path, 'not a regular file (a device, FIFO or socket)');
      return new Uint8Array(await new Response(f.readable).arrayBuffer());
    } catch (err) {
      try {
        f.close();
      } catch {
        // the stream closed it already
      }
      throw err;
    }
  }
  async stat(path: string): Promise<FileInfo | null> {
    let s: DenoStat;
    try {
      s = await deno().stat(path);
    } catch (err) {
      if (err instanceof deno().errors.NotFound) return null;
      throw err;
    }
    return { kind: s.isFile ? 'file' : s.isDirectory ? 'directory' : 'other', size: s.isFile ? s.size : 0 };
  }
  writeFile(path: string, data: Uint8Array | string): Promise<void> {
    return typeof data === 'string' ? deno().writeTextFile(path, data) : deno().writeFile(path, data);
  }
  rename(from: string, to: string): Promise<void> {
    return deno().rename(from, to);
  }
  mkdir(path: string): Promise<void> {
    return deno().mkdir(path, { recursive: true });
  }
  async exists(path: string): Promise<boolean> {
    return deno()
      .stat(path)
      .then(
        () => true,
        () => false,
      );
  }
  async remove(path: string): Promise<void> {
    await deno()
      .remove(path, { recursive: true })
      .catch((err: Error) => {
        if (!(err instanceof deno().errors.NotFound)) throw err;
      });
  }
  async readdir(path: string): Promise<string[]> {
    const out: string[] = [];
    for await (const e of deno().readDir(path)) out.push(e.name);
    return out;
  }
}
