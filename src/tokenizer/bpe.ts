// Byte-level BPE encoding and decoding from a tokenizer.json's vocab and merges, with no added-token
// matching: text is always plain text, so "<|extract|>" typed by a user encodes as ordinary bytes and
// special ids come only from GPTTokenizer's explicit API. It is also several times faster than
// @huggingface/tokenizers' general pipeline (a pair-id rank table and a word cache), which matters
// because a pretraining corpus is tokenised in full before the first step.
import { BYTE_TO_CHAR, gpt2Pattern, symbolsToBytes, utf8 } from './bytes.ts';
import { quote } from '../io/errors.ts';

export type Merge = string | [string, string];

/** Parse one merge, in either tokenizer.json form ("left right" or ["left", "right"]). */
export function parseMerge(m: unknown, i: number): [string, string] {
  if (typeof m === 'string') {
    const parts = m.split(' ');
    if (parts.length === 2 && parts[0] && parts[1]) return [parts[0], parts[1]];
  } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string' && m[0] && m[1]) {
    return [m[0], m[1]];
  }
  throw new Error(`merge ${i} is ${quote(m)}, not "left right" or ["left", "right"]`);
}

/**
 * Check that every merge joins two known tokens into a known token, and return them as ids:
 * [left, right, result] per merge, in rank order.
 */
export function resolveMerges(vocab: Record<string, number>, merges: unknown[]): Int32Array {
  const out = new Int32Array(merges.length * 3);
  for (let i = 0; i < merges.length; i++) {
    const [l, r] = parseMerge(merges[i], i);
    const li = vocab[l],
      ri = vocab[r],
      ci = vocab[l + r];
    if (!Number.isInteger(li)) throw new Error(`merge ${i} ("${l} ${r}") refers to unknown token ${quote(l)}`);
    if (!Number.isInteger(ri)) throw new Error(`merge ${i} ("${l} ${r}") refers to unknown token ${quote(r)}`);
    if (!Number.isInteger(ci)) throw new Error(`merge ${i} ("${l} ${r}") makes ${quote(l + r)}, which is not in the vocabulary`);
    out[3 * i] = li;
    out[3 * i + 1] = ri;
    out[3 * i + 2] = ci;
  }
  return out;
}

const CACHE_LIMIT = 200_000; // distinct words kept; cleared when full so a server's memory stays bounded

export class ByteLevelBPE {
  private readonly byteId = new Int32Array(256);
  private readonly stride: number;
  /** pair key (left * stride + right) -> rank */
  private readonly rank = new Map<number, number>();
  private readonly result: Int32Array;
  /** id -> its bytes; none for ids that are not byte tokens (added tokens). A map: ids may be sparse. */
  private readonly bytesOf = new Map<number, Uint8Array>();
  private readonly cache = new Map<string, number[]>();
  private readonly pattern = gpt2Pattern();
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  /** Returns undefined if the vocabulary lacks one of the 256 byte symbols (then not every text encodes). */
  static tryCreate(vocab: Record<string, number>, merges: Int32Array): ByteLevelBPE | undefined {
    for (const ch of BYTE_TO_CHAR) if (!Number.isInteger(vocab[ch])) return undefined;
    return new ByteLevelBPE(vocab, merges);
  }

  private constructor(vocab: Record<string, number>, merges: Int32Array) {
    let maxId = 0;
    for (const id of Object.values(vocab)) maxId = Math.max(maxId, id);
    this.stride = maxId + 1;
    for (let b = 0; b < 256; b++) this.byteId[b] = vocab[BYTE_TO_CHAR[b]];
    for (const [tok, id] of Object.entries(vocab)) {
      const bytes = symbolsToBytes(tok);
      if (bytes) this.bytesOf.set(id, Uint8Array.from(bytes));
    }
    const n = merges.length / 3;
    this.result = new Int32Array(n);
    for (let r = 0; r < n; r++) {
      const key = merges[3 * r] * this.stride + merges[3 * r + 1];
      if (!this.rank.has(key)) this.rank.set(key, r); // a repeated merge keeps its first (best) rank
      this.result[r] = merges[3 * r + 2];
    }
  }

  /** Ids of plain text (never an added token's id). */
  encode(text: string, out: number[] = []): number[] {
    const re = this.pattern;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const piece = m[0];
      let ids = this.cache.get(piece);
      if (ids === undefined) {
        ids = this.encodeWord(utf8(piece));
        if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
        this.cache.set(piece, ids);
      }
      for (let i = 0; i < ids.length; i++) out.push(ids[i]);
    }
    return out;
  }

  /** GPT-2's rule: repeatedly merge every occurrence of the lowest-ranked adjacent pair. */
  private encodeWord(bytes: Uint8Array): number[] {
    const s: number[] = new Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) s[i] = this.byteId[bytes[i]];
    let len = s.length;
    while (len > 1) {
      let best = -1,
        bestRank = Infinity;
      for (let i = 0; i + 1 < len; i++) {
        const r = this.rank.get(s[i] * this.stride + s[i + 1]);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const a = s[best],
        b = s[best + 1],
        c = this.result[bestRank];
      let out = best;
      for (let i = best; i < len; ) {
        if (s[i] === a && i + 1 < len && s[i + 1] === b) {
          s[out++] = c;
          i += 2;
        } else s[out++] = s[i++];
      }
      len = out;
    }
    s.length = len;
    return s;
  }

  /** The bytes of a non-special id, or undefined. */
  bytes(id: number): Uint8Array | undefined {
    return this.bytesOf.get(id);
  }

  /** UTF-8 decoding of some bytes; invalid sequences (a token cut mid-character) become U+FFFD. */
  text(bytes: Uint8Array): string {
    return this.decoder.decode(bytes);
  }
}
