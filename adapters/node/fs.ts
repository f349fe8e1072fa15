// The FileSystem of the portable core on Node's fs (Bun and Deno run it too, through node:fs).
import { constants } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { FileFormatError } from '../../src/io/errors.ts';
import type { FileInfo, FileSystem } from '../../src/io/fs.ts';

// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever
const READ_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

export class NodeFileSystem implements FileSystem {
  /** Regular files only: a device or FIFO (say a symlink to /dev/zero) is refused before a byte is read. */
  async readFile(path: string): Promise<Uint8Array> {
    const h = await open(path, READ_FLAGS);
    try {
      if (!(await h.stat()).isFile()) throw new FileFormatError(path, 'not a regular file (a device, FIFO or socket)');
      const b = await h.readFile();
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    } finally {
      await h.close();
    }
  }
  async stat(path: string): Promise<FileInfo | null> {
    const s = await stat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return null;
      throw err;
    });
    if (!s) return null;
    return { kind: s.isFile() ? 'file' : s.isDirectory() ? 'directory' : 'other', size: s.isFile() ? s.size : 0 };
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
    return stat(path).then(
      () => true,
      () => false,
    );
  }
  async remove(path: string): Promise<void> {
    await rm(path, { recursive: true, force: true });
  }
  async readdir(path: string): Promise<string[]> {
    return readdir(path);
  }
}
