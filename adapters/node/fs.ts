// The FileSystem of the portable core on Node's fs (Bun and Deno run it too, through node:fs).
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { FileSystem } from '../../src/io/fs.ts';

export class NodeFileSystem implements FileSystem {
  async readFile(path: string): Promise<Uint8Array> {
    const b = await readFile(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
  async writeFile(path: string, data: Uint8Array | string): Promise<void> {
    await writeFile(path, data);
  }
  async rename(from: string, to: string): Promise<void> {
    await rename(from, to);
  }
  async mkdir(path: string): Promise<void> {
    await mkdir(path, { recursive: true });
  }
  async exists(path: string): Promise<boolean> {
    return stat(path).then(() => true, () => false);
  }
  async remove(path: string): Promise<void> {
    await rm(path, { recursive: true, force: true });
  }
  async readdir(path: string): Promise<string[]> {
    return readdir(path);
  }
}
