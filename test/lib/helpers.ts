// Small shared pieces for the portable tests: a tiny model and a synthetic-but-structured corpus.
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import { GPT } from '../../src/model/gpt.ts';
import { preset, type GPTConfig } from '../../src/model/config.ts';

export function tinyModel(overrides: Partial<GPTConfig> = {}, seed = 1): GPT {
  return new GPT(new ReferenceBackend(), preset('tiny', overrides)).init(seed);
}

/** A token stream with learnable structure: a repeating pattern with a little noise. */
export function patternTokens(n: number, vocab: number, seed = 3): Int32Array {
  const out = new Int32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = (s >>> 16) % 10 === 0 ? (s >>> 8) % vocab : (i * 7 + Math.floor(i / 5)) % vocab;
  }
  return out;
}

/** A BPE tokenizer.json with no merges: `vocab` and the special tokens `specials` (content → id). */
export function vocabTokenizerJSON(vocab: Record<string, number>, specials: Record<string, number>): string {
  return JSON.stringify({
    version: '1.0',
    added_tokens: Object.entries(specials).map(([content, id]) => ({
      id,
      content,
      special: true,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
    })),
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    model: {
      type: 'BPE',
      vocab,
      merges: [],
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
    },
  });
}

// a minimal valid byte-level tokenizer for checkpoint folders (67 tokens like the tiny model)
export function tinyTokenizerJSON(): string {
  const vocab: Record<string, number> = {};
  for (let i = 0; i < 66; i++) vocab[String.fromCharCode(0x21 + i)] = i;
  return vocabTokenizerJSON(vocab, { '<|endoftext|>': 66 });
}

/**
 * A backend that counts the bytes of the buffers allocated through it and not yet freed (arena views
 * share their buffer), to prove that work frees what it allocated.
 */
export function countingBackend<B extends import('../../src/backend/backend.ts').Backend>(be: B): { be: B; liveBytes(): number } {
  const live = new Map<unknown, number>();
  const bytes = (t: import('../../src/backend/backend.ts').Tensor) => (t.buffer as { byteLength?: number }).byteLength ?? t.length * 4;
  const proxy = new Proxy(be, {
    get(target, p) {
      if (p === 'alloc')
        return (length: number, dtype?: import('../../src/backend/backend.ts').DType) => {
          const t = target.alloc(length, dtype);
          live.set(t.buffer, bytes(t));
          return t;
        };
      if (p === 'allocArena')
        return (specs: Parameters<B['allocArena']>[0]) => {
          const arena = target.allocArena(specs);
          for (const t of Object.values(arena)) live.set(t.buffer, bytes(t));
          return arena;
        };
      if (p === 'free')
        return (...ts: Parameters<B['free']>) => {
          for (const t of ts) live.delete(t.buffer);
          target.free(...ts);
        };
      const v = Reflect.get(target, p, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { be: proxy, liveBytes: () => [...live.values()].reduce((n, b) => n + b, 0) };
}

/** Polls `cond` every 5 ms until it holds; throws after `ms`. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A tokenizer.json with `n` single-character tokens "A".. (ids 0..n-1, or the given ids) and <|endoftext|> at `eot`. */
export function lettersTokenizerJSON(n: number, ids?: number[], eot = n): string {
  const vocab: Record<string, number> = {};
  for (let i = 0; i < n; i++) vocab[String.fromCharCode(0x41 + i)] = ids?.[i] ?? i;
  return vocabTokenizerJSON(vocab, { '<|endoftext|>': eot });
}
