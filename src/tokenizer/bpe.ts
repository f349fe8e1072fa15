// Byte-level BPE encoding and decoding from a tokenizer.json's vocab and merges, with no added-token
// matching: text is always plain text, so "<|extract|>" typed by a user encodes as ordinary bytes and
// special ids come only from GPTTokenizer's explicit API. It is also several times faster than
// @huggingface/tokenizers' general pipeline (a pair-id rank table and a word cache), which matters
// because a pretraining corpus is tokenised in full before the first step.
import { BYTE_TO_CHAR, gpt2Pattern, symbolBytesLength, utf8, writeSymbolBytes } from './bytes.ts';
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

/**
 * Merge ranks by pair of ids: an open-addressing table of rank + 1 (0: empty) over the merges array itself,
 * which holds each rank's pair and result. For GPT-2's 50,000 merges, 0.5 MB besides the merges' 0.6 MB,
 * and no heap objects (a 128 MB Worker isolate counts every one).
 */
class PairRanks {
  private readonly mask: number;
  private readonly slots: Int32Array;

  /** merges: [left, right, result] per rank; a repeated pair keeps its first (best) rank */
  constructor(private readonly merges: Int32Array) {
    const n = merges.length / 3;
    let size = 16;
    while (size < 2 * n) size *= 2; // load ≤ 1/2: probes stay short
    this.mask = size - 1;
    this.slots = new Int32Array(size);
    for (let r = 0; r < n; r++) {
      const l = merges[3 * r],
        rt = merges[3 * r + 1];
      let i = this.slot(l, rt);
      while (this.slots[i] !== 0 && !this.holds(this.slots[i] - 1, l, rt)) i = (i + 1) & this.mask;
      if (this.slots[i] === 0) this.slots[i] = r + 1;
    }
  }

  private slot(l: number, r: number): number {
    return (Math.imul(l, 0x9e3779b1) ^ Math.imul(r, 0x85ebca6b)) & this.mask;
  }

  private holds(rank: number, l: number, r: number): boolean {
    return this.merges[3 * rank] === l && this.merges[3 * rank + 1] === r;
  }

  /** The rank of merging l then r, or -1. */
  get(l: number, r: number): number {
    for (let i = this.slot(l, r); this.slots[i] !== 0; i = (i + 1) & this.mask) if (this.holds(this.slots[i] - 1, l, r)) return this.slots[i] - 1;
    return -1;
  }

  /** The token a rank's merge makes. */
  result(rank: number): number {
    return this.merges[3 * rank + 2];
  }
}

export class ByteLevelBPE {
  private readonly byteId = new Int32Array(256);
  private readonly ranks: PairRanks;
  /**
   * Every token's bytes in one array: id's are tokenBytes[start[id] .. start[id + 1]), when hasBytes[id]
   * (ids may be sparse, and added tokens have none). One allocation instead of a Uint8Array per token.
   */
  private readonly tokenBytes: Uint8Array;
  private readonly start: Int32Array;
  private readonly hasBytes: Uint8Array;
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
    for (const tok in vocab) maxId = Math.max(maxId, vocab[tok]);
    for (let b = 0; b < 256; b++) this.byteId[b] = vocab[BYTE_TO_CHAR[b]];
    // two passes over the vocabulary (ids need not come in order): lengths first, then the bytes
    const len = new Int32Array(maxId + 1);
    this.hasBytes = new Uint8Array(maxId + 1);
    for (const tok in vocab) {
      const n = symbolBytesLength(tok);
      if (n < 0) continue;
      len[vocab[tok]] = n;
      this.hasBytes[vocab[tok]] = 1;
    }
    this.start = new Int32Array(maxId + 2);
    for (let id = 0; id <= maxId; id++) this.start[id + 1] = this.start[id] + len[id];
    this.tokenBytes = new Uint8Array(this.start[maxId + 1]);
    for (const tok in vocab) {
      const id = vocab[tok];
      if (this.hasBytes[id]) writeSymbolBytes(tok, this.tokenBytes, this.start[id]);
    }
    this.ranks = new PairRanks(merges);
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
        const r = this.ranks.get(s[i], s[i + 1]);
        if (r >= 0 && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const a = s[best],
        b = s[best + 1],
        c = this.ranks.result(bestRank);
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
    return id >= 0 && id < this.hasBytes.length && this.hasBytes[id] ? this.tokenBytes.subarray(this.start[id], this.start[id + 1]) : undefined;
  }

  /** UTF-8 decoding of some bytes; invalid sequences (a token cut mid-character) become U+FFFD. */
  text(bytes: Uint8Array): string {
    return this.decoder.decode(bytes);
  }
}
