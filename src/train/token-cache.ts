// Tokenize a corpus once: the ids are cached in a file named by fingerprints of the texts and the
// tokenizer, so a rerun (or a resumed run) skips the tokenizer entirely. The file is never trusted
// blindly: a 64-byte header (little-endian) says what it holds, and any mismatch rebuilds it.
//
//   0  "GPTETOK\0"               magic
//   8  u32 version               TOKEN_CACHE_VERSION
//  12  u32 0                     reserved
//  16  16 ASCII hex              fingerprint of the corpus texts
//  32  16 ASCII hex              fingerprint of tokenizer.json
//  48  u32 count (low), u32 (high)   number of ids
//  56  u32 checksum              FNV-1a over the ids
//  60  u32 0                     reserved
//  64  int32 ids
import type { FileSystem } from '../io/fs.ts';
import { join, readFileChecked, writeAtomic } from '../io/fs.ts';
import { FILE_LIMITS } from '../io/limits.ts';
import type { GPTTokenizer } from '../tokenizer/tokenizer.ts';
import { fingerprint } from './data.ts';

export const TOKEN_CACHE_VERSION = 1;
const MAGIC = 'GPTETOK\0';
const HEADER = 64;

/** What a cache must hold to be used: the fingerprints of the corpus and the tokenizer. */
export interface TokenSource {
  corpus: string;
  tokenizer: string;
}

export const tokenSource = (texts: string[], tok: GPTTokenizer): TokenSource => ({ corpus: fingerprint(texts), tokenizer: fingerprint([tok.toJSON()]) });

function checksum(ids: Int32Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < ids.length; i++) h = Math.imul(h ^ ids[i], 0x01000193) >>> 0;
  return h;
}

/** The ids of a cache file, or why it cannot be used (never throws on content). */
export function readTokenCache(bytes: Uint8Array, want: TokenSource, vocabSize: number): Int32Array | string {
  if (bytes.length < HEADER || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) return 'not a gptedge token cache (no header)';
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint32(8, true);
  if (version !== TOKEN_CACHE_VERSION) return `format version ${version} (this gptedge writes version ${TOKEN_CACHE_VERSION})`;
  const ascii = (o: number) => new TextDecoder().decode(bytes.subarray(o, o + 16));
  if (ascii(16) !== want.corpus) return `corpus fingerprint ${ascii(16)}, the corpus has ${want.corpus}`;
  if (ascii(32) !== want.tokenizer) return `tokenizer fingerprint ${ascii(32)}, the tokenizer has ${want.tokenizer}`;
  const count = dv.getUint32(48, true) + dv.getUint32(52, true) * 2 ** 32;
  if (HEADER + 4 * count !== bytes.length) return `length: the header says ${count} ids, the file holds ${(bytes.length - HEADER) / 4}`;
  const ids = new Int32Array(count);
  new Uint8Array(ids.buffer).set(bytes.subarray(HEADER));
  if (checksum(ids) !== dv.getUint32(56, true)) return 'checksum: the ids are not the ones written';
  for (let i = 0; i < count; i++) if (ids[i] < 0 || ids[i] >= vocabSize) return `id ${ids[i]} at ${i} is outside the vocabulary of ${vocabSize}`;
  return ids;
}

function writeTokenCache(ids: Int32Array, src: TokenSource): Uint8Array {
  const out = new Uint8Array(HEADER + 4 * ids.length),
    dv = new DataView(out.buffer);
  const enc = new TextEncoder();
  out.set(enc.encode(MAGIC), 0);
  dv.setUint32(8, TOKEN_CACHE_VERSION, true);
  out.set(enc.encode(src.corpus), 16);
  out.set(enc.encode(src.tokenizer), 32);
  dv.setUint32(48, ids.length % 2 ** 32, true);
  dv.setUint32(52, Math.floor(ids.length / 2 ** 32), true);
  dv.setUint32(56, checksum(ids), true);
  out.set(new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength), HEADER);
  return out;
}

/**
 * The ids of `texts` (documents separated by <|endoftext|> when the tokenizer has it), from the cache
 * when it matches, else tokenized and cached. `onRebuild` hears why an existing cache was not used;
 * `source` saves hashing the corpus again when the caller has tokenSource(texts, tok) already.
 */
export async function tokenizeCached(
  fs: FileSystem,
  cacheDir: string,
  texts: string[],
  tok: GPTTokenizer,
  o: { onRebuild?: (why: string) => void; source?: TokenSource } = {},
): Promise<Int32Array> {
  const src = o.source ?? tokenSource(texts, tok);
  const path = join(cacheDir, `${src.corpus}-${src.tokenizer}.tokens`);
  const info = await fs.stat(path);
  if (info) {
    let got: Int32Array | string;
    try {
      got = readTokenCache(await readFileChecked(fs, path, { maxBytes: FILE_LIMITS.tokenCache, what: 'a token cache may have' }), src, tok.vocabSize);
    } catch (err) {
      got = err instanceof Error ? err.message : String(err);
    }
    if (typeof got !== 'string') return got;
    o.onRebuild?.(`${path}: ${got}; rebuilt`);
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
  await writeAtomic(fs, path, writeTokenCache(arr, src));
  return arr;
}
