// Byte-level BPE training (Sennrich et al. 2016, with GPT-2's byte alphabet) in plain TypeScript, so every
// runtime can learn a vocabulary. Output: a Hugging Face tokenizer.json object.
//
// Speed comes from the same plan as Hugging Face's Rust trainer: pre-tokenise once and count distinct
// words; count adjacent pairs once; then for each merge touch only the words that hold the pair, update
// pair counts by the local change around each merge site, and pick the next pair from a lazy max-heap.
//
// Tie-break (deterministic, documented because merge order defines the tokenizer): the pair with the
// highest count wins; among equal counts, the pair whose left token's bytes sort first (unsigned byte
// order), then whose right token's bytes sort first. Hugging Face breaks ties by token id instead, so the
// two agree on which pairs merge but may order equal-count merges differently.
import { SPECIAL_TOKENS, GPTTokenizer, specialTokenEntry } from './tokenizer.ts';
import { BYTE_TO_CHAR, gpt2Pattern, utf8 } from './bytes.ts';
import { PairHeap } from './pair-heap.ts';

export interface TrainBPEOptions {
  /** Number of merges to learn (GPT-1 used 40,000). Fewer are learned if the corpus runs out of pairs. */
  merges?: number;
  /** Added after the byte alphabet and merges, as special tokens; default the four SPECIAL_TOKENS. */
  specialTokens?: string[];
  /** Called now and then with (merges done, merges asked for). */
  onProgress?: (done: number, total: number) => void;
  /** A pair seen fewer times than this is never merged; default 1, so `merges` are learned whenever the corpus has that many pairs. */
  minFrequency?: number;
}

/**
 * Learn a byte-level BPE vocabulary. Ids: 0..255 are the bytes (id = byte value), then one id per merge
 * in merge order (a merge that rebuilds an existing token's bytes by another split reuses its id, as
 * Hugging Face's trainer does), then the special tokens. Every input round-trips: every byte has an id.
 */
export function trainBPE(texts: Iterable<string>, opts: TrainBPEOptions = {}): Record<string, unknown> {
  const target = opts.merges ?? 40_000;
  if (!Number.isInteger(target) || target < 0) throw new Error(`trainBPE: merges must be a non-negative integer, got ${opts.merges}`);
  const minFrequency = Math.max(1, opts.minFrequency ?? 1);
  const specials = checkSpecials(opts.specialTokens ?? Object.values(SPECIAL_TOKENS));

  // 1. distinct pre-tokenised words and their counts
  const wordCounts = countWords(texts);
  if (wordCounts.size === 0) throw new Error('trainBPE: the corpus is empty (no text to learn merges from)');

  // tokens as "byte strings" (one char per byte, 0..255) so that JS string order is byte order
  const tokens: string[] = [];
  const tokenId = new Map<string, number>();
  for (let b = 0; b < 256; b++) {
    tokens.push(String.fromCharCode(b));
    tokenId.set(tokens[b], b);
  }
  // a learned token whose tokenizer.json string equals a special token's would share its vocab entry
  const specialSet = new Set(specials);

  // pair key = left * stride + right; with stride = vocabulary bound the keys stay small integers
  const stride = 256 + target;
  const words: Int32Array[] = [];
  const lengths: number[] = [];
  const freqs: number[] = [];
  for (const [w, f] of wordCounts) {
    const bytes = utf8(w);
    if (bytes.length < 2) continue; // a single byte holds no pair
    words.push(Int32Array.from(bytes));
    lengths.push(bytes.length);
    freqs.push(f);
  }

  // 2. initial pair counts, and which words hold each pair
  const pairCount = new Map<number, number>();
  const where = new Map<number, Set<number>>();
  for (let w = 0; w < words.length; w++) {
    const s = words[w],
      f = freqs[w];
    for (let i = 0; i + 1 < s.length; i++) {
      const k = s[i] * stride + s[i + 1];
      pairCount.set(k, (pairCount.get(k) ?? 0) + f);
      let set = where.get(k);
      if (!set) where.set(k, (set = new Set()));
      set.add(w);
    }
  }
  const heap = new PairHeap((x, y) => {
    const xa = tokens[Math.floor(x / stride)],
      ya = tokens[Math.floor(y / stride)];
    if (xa !== ya) return xa < ya;
    return tokens[x % stride] < tokens[y % stride];
  });
  for (const [k, c] of pairCount) heap.push(c, k);

  // 3. merge loop
  const merges: [number, number][] = [];
  const progressEvery = Math.max(1, Math.floor(target / 100));
  const delta = new Map<number, number>();
  while (merges.length < target && heap.size > 0) {
    const { count, key } = heap.pop();
    const current = pairCount.get(key) ?? 0;
    if (current !== count) {
      // stale entry: counts of old pairs only fall, so re-queue with the true count and look again
      if (current > 0) heap.push(current, key);
      continue;
    }
    if (count < minFrequency) break;
    const a = Math.floor(key / stride),
      b = key % stride;
    const merged = tokens[a] + tokens[b];
    if (specialSet.has(symbols(merged))) {
      pairCount.delete(key); // would collide with a special token's string; never learn it
      continue;
    }
    let c = tokenId.get(merged);
    if (c === undefined) {
      c = tokens.length;
      tokens.push(merged);
      tokenId.set(merged, c);
    }
    merges.push([a, b]);

    delta.clear();
    const holders = where.get(key);
    where.delete(key);
    for (const w of holders ?? []) {
      const len = mergeWord(words[w], lengths[w], a, b, c, freqs[w], stride, delta, (k) => {
        let set = where.get(k);
        if (!set) where.set(k, (set = new Set()));
        set.add(w);
      });
      lengths[w] = len;
    }
    for (const [k, d] of delta) {
      const n = (pairCount.get(k) ?? 0) + d;
      if (n > 0) pairCount.set(k, n);
      else pairCount.delete(k);
      if (d > 0) heap.push(n, k);
    }
    if (opts.onProgress && merges.length % progressEvery === 0) opts.onProgress(merges.length, target);
  }
  // the last word, unless the loop just said it (also tells when the corpus ran out of pairs early)
  if (opts.onProgress && (merges.length === 0 || merges.length % progressEvery !== 0)) opts.onProgress(merges.length, target);
  return toTokenizerJSON(tokens, merges, specials);
}

/** Train and load in one step; the pretraining command uses this when it is given no tokenizer. */
export function trainTokenizerFromTexts(texts: Iterable<string>, merges = 40_000, opts: Omit<TrainBPEOptions, 'merges'> = {}): GPTTokenizer {
  return GPTTokenizer.fromJSON(trainBPE(texts, { ...opts, merges }));
}

/**
 * Replace each non-overlapping (a, b), left to right, by c in word s[0..len); return the new length.
 * Pair counts change only next to a merge site: (prev, a) -> (prev, c), (a, b) vanishes, (b, next) ->
 * (c, next). `prev` is read from the output, so two merges side by side give (c, c) correctly.
 */
function mergeWord(
  s: Int32Array,
  len: number,
  a: number,
  b: number,
  c: number,
  f: number,
  stride: number,
  delta: Map<number, number>,
  gained: (key: number) => void,
): number {
  let out = 0;
  for (let i = 0; i < len; ) {
    if (s[i] === a && i + 1 < len && s[i + 1] === b) {
      if (out > 0) {
        const prev = s[out - 1];
        add(delta, prev * stride + a, -f);
        add(delta, prev * stride + c, f);
        gained(prev * stride + c);
      }
      add(delta, a * stride + b, -f);
      if (i + 2 < len) {
        const next = s[i + 2];
        add(delta, b * stride + next, -f);
        add(delta, c * stride + next, f);
        gained(c * stride + next);
      }
      s[out++] = c;
      i += 2;
    } else {
      s[out++] = s[i++];
    }
  }
  return out;
}

function add(m: Map<number, number>, k: number, d: number): void {
  m.set(k, (m.get(k) ?? 0) + d);
}

/** Pre-tokenise every text with GPT-2's pattern and count the distinct pieces. */
function countWords(texts: Iterable<string>): Map<string, number> {
  if (texts == null || typeof (texts as Iterable<string>)[Symbol.iterator] !== 'function') {
    throw new Error('trainBPE: texts must be an iterable of strings');
  }
  if (typeof texts === 'string') texts = [texts];
  const counts = new Map<string, number>();
  const re = gpt2Pattern();
  for (const text of texts) {
    if (typeof text !== 'string') throw new Error(`trainBPE: every text must be a string, got ${typeof text}`);
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      counts.set(m[0], (counts.get(m[0]) ?? 0) + 1);
    }
  }
  return counts;
}

function checkSpecials(specials: string[]): string[] {
  if (!Array.isArray(specials)) throw new Error('trainBPE: specialTokens must be an array of strings');
  const seen = new Set<string>();
  for (const s of specials) {
    if (typeof s !== 'string' || s.length === 0) throw new Error(`trainBPE: special token ${JSON.stringify(s)} must be a non-empty string`);
    if (seen.has(s)) throw new Error(`trainBPE: special token ${JSON.stringify(s)} is listed twice`);
    seen.add(s);
  }
  return specials;
}

function symbols(byteString: string): string {
  let s = '';
  for (let i = 0; i < byteString.length; i++) s += BYTE_TO_CHAR[byteString.charCodeAt(i)];
  return s;
}

function toTokenizerJSON(tokens: string[], merges: [number, number][], specials: string[]): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  tokens.forEach((t, id) => (vocab[symbols(t)] = id));
  const addedTokens = specials.map((content, i) => {
    const id = tokens.length + i;
    vocab[content] = id;
    return specialTokenEntry(id, content);
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: merges.map(([a, b]) => `${symbols(tokens[a])} ${symbols(tokens[b])}`),
    },
  };
}
