// Tokenize a corpus once: the ids are cached as little-endian int32 in a file named by a fingerprint
// of the texts and the tokenizer, so a rerun (or a resumed run) skips the tokenizer entirely.
import type { FileSystem } from '../io/fs.ts';
import { join, writeAtomic } from '../io/fs.ts';
import type { GPTTokenizer } from '../tokenizer/tokenizer.ts';
import { fingerprint } from './data.ts';

export async function tokenizeCached(fs: FileSystem, cacheDir: string, texts: string[], tok: GPTTokenizer): Promise<Int32Array> {
  const path = join(cacheDir, `${fingerprint([tok.toJSON(), ...texts])}.i32`);
  if (await fs.exists(path)) {
    const b = await fs.readFile(path);
    if (b.byteLength % 4 === 0) return new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    // a damaged cache is rebuilt, never trusted
  }
  const eot = tok.specialId('endOfText');
  const ids: number[] = [];
  for (const t of texts) {
    const enc = tok.encode(t);
    for (const id of enc) ids.push(id);
    if (eot !== undefined) ids.push(eot); // documents are separated as in GPT-2's training data
  }
  const arr = Int32Array.from(ids);
  await fs.mkdir(cacheDir);
  await writeAtomic(fs, path, new Uint8Array(arr.buffer));
  return arr;
}
