// A GPT tokenizer from a Hugging Face tokenizer.json. Byte-level BPE files (ours, GPT-2's) encode through
// our own engine (bpe.ts); any other BPE file goes through @huggingface/tokenizers.
//
// Special tokens are never produced from text. @huggingface/tokenizers splits its input on every added
// token, so a user typing "<|extract|>" would get the extract id and could forge the fine-tuning input
// structure. Here encode(text) is always plain text; special ids come only from specialId/encodeParts.
import { Tokenizer as HFTokenizer } from '@huggingface/tokenizers';
import { asFileError, FileFormatError, parseJSON, quote } from '../io/errors.ts';
import { CONFIG_LIMITS } from '../model/config.ts';
import { ByteLevelBPE, resolveMerges } from './bpe.ts';

/** The largest token id a tokenizer.json may hold: one less than the largest vocabulary a config may have. */
export const MAX_TOKEN_ID = CONFIG_LIMITS.vocabSize - 1;

/** The special tokens of the paper's input transformations (§3.3) and end-of-text. */
export const SPECIAL_TOKENS = {
  endOfText: '<|endoftext|>',
  start: '<|start|>',
  delimiter: '<|delimiter|>',
  extract: '<|extract|>',
} as const;
export type SpecialTokenName = keyof typeof SPECIAL_TOKENS;

/** A tokenizer.json `added_tokens` entry for a special token (matched whole, never normalised). */
export function specialTokenEntry(id: number, content: string): Record<string, unknown> {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/** One piece of a model input: plain text, or a special token by name. */
export type Part = string | { special: SpecialTokenName };

interface AddedToken {
  id: number;
  content: string;
}

export class GPTTokenizer {
  readonly vocabSize: number;
  private readonly engine: ByteLevelBPE | undefined;
  private hfPlain: HFTokenizer | undefined;
  /** added-token content -> id, and back */
  private readonly addedByContent = new Map<string, number>();
  private readonly addedById = new Map<number, string>();

  /** 1 for the ids of model.vocab (for canDecode: ids may have holes) */
  private readonly inVocab: Uint8Array;
  /**
   * The file as text, what toJSON() gives back. Kept instead of the parsed object: GPT-2's tokenizer.json is
   * 1.3 MB as a string and ~10 MB of heap as objects, and a Worker isolate has 128 MB for everything.
   */
  private readonly text: string;
  /** the file it came from, for errors */
  private readonly file: string;

  private constructor(json: Record<string, unknown>, text: string, file: string) {
    this.text = text;
    this.file = file;
    const model = json.model as { vocab: Record<string, number>; merges: unknown[] };
    const added = json.added_tokens as AddedToken[];
    let max = -1;
    for (const tok in model.vocab) max = Math.max(max, model.vocab[tok]);
    this.inVocab = new Uint8Array(max + 1);
    for (const tok in model.vocab) this.inVocab[model.vocab[tok]] = 1;
    for (const t of added) {
      max = Math.max(max, t.id);
      this.addedByContent.set(t.content, t.id);
      this.addedById.set(t.id, t.content);
    }
    this.vocabSize = max + 1;
    const merges = resolveMerges(model.vocab, model.merges);
    this.engine = isPlainByteLevel(json) ? ByteLevelBPE.tryCreate(model.vocab, merges) : undefined;
    if (!this.engine) this.hfPlain = loadHF(json);
  }

  /** The tokenizer.json, parsed: a fresh copy on each call (the tokenizer keeps the text, not the objects). */
  get json(): Record<string, unknown> {
    return JSON.parse(this.text) as Record<string, unknown>;
  }

  /**
   * Parse a tokenizer.json (text or parsed object). Everything that sizes memory or indexes the model
   * is checked first: ids are integers in 0..MAX_TOKEN_ID, no id names two tokens, merges join known
   * tokens. Every refusal is a FileFormatError naming `file`.
   */
  static fromJSON(input: string | Record<string, unknown>, file = 'tokenizer.json'): GPTTokenizer {
    const fail = (detail: string): never => {
      throw new FileFormatError(file, detail);
    };
    const json = typeof input === 'string' ? parseJSON(input, file) : input;
    if (!json || typeof json !== 'object' || Array.isArray(json)) fail('must hold a JSON object');
    const model = (json as Record<string, unknown>).model as Record<string, unknown> | undefined;
    if (!model || typeof model !== 'object') fail('no "model" object');
    if (model!.type !== 'BPE') fail(`model.type must be "BPE", got ${quote(model!.type)}`);
    if (!model!.vocab || typeof model!.vocab !== 'object' || Array.isArray(model!.vocab)) fail('model.vocab is missing');
    if (!Array.isArray(model!.merges)) fail('model.merges is missing');
    const idOk = (id: unknown) => Number.isInteger(id) && (id as number) >= 0;
    const seen = new Map<number, string>();
    const vocab = model!.vocab as Record<string, unknown>;
    for (const tok in vocab) {
      const id = vocab[tok];
      if (!idOk(id)) fail(`vocab entry ${quote(tok)} has id ${quote(id)}, not a non-negative integer`);
      if ((id as number) > MAX_TOKEN_ID) fail(`vocab entry ${quote(tok)} has id ${id}, more than the limit of ${MAX_TOKEN_ID}`);
      if (seen.has(id as number)) fail(`id ${id} is given to both ${quote(seen.get(id as number))} and ${quote(tok)}`);
      seen.set(id as number, tok);
    }
    const added = (json as Record<string, unknown>).added_tokens ?? [];
    if (!Array.isArray(added)) fail('added_tokens must be an array');
    const addedSeen = new Map<number, string>();
    for (const t of added as Record<string, unknown>[]) {
      if (!t || typeof t.content !== 'string' || !idOk(t.id)) fail(`added token ${quote(t)} needs a string "content" and an integer "id"`);
      const id = t.id as number;
      if (id > MAX_TOKEN_ID) fail(`added token ${quote(t.content)} has id ${id}, more than the limit of ${MAX_TOKEN_ID}`);
      // an added token may also be in the vocabulary (GPT-2's <|endoftext|> is), but as itself
      const other = seen.get(id) ?? addedSeen.get(id);
      if (other !== undefined && other !== t.content) fail(`id ${id} is given to both ${quote(other)} and the added token ${quote(t.content)}`);
      addedSeen.set(id, t.content as string);
    }
    if (seen.size === 0 && addedSeen.size === 0) fail('holds no tokens (model.vocab and added_tokens are empty)');
    const m = model as Record<string, unknown>;
    if (m.unk_token != null && !(typeof m.unk_token === 'string' && Object.hasOwn(m.vocab as object, m.unk_token)))
      fail(`model.unk_token must be null or a token of model.vocab, got ${quote(m.unk_token)}`);
    for (const k of ['continuing_subword_prefix', 'end_of_word_suffix'] as const)
      if (m[k] != null && typeof m[k] !== 'string') fail(`model.${k} must be null or a string, got ${quote(m[k])}`);
    if (m.dropout != null && !(typeof m.dropout === 'number' && m.dropout >= 0 && m.dropout <= 1))
      fail(`model.dropout must be null or in [0, 1], got ${quote(m.dropout)}`);
    // the text as given when it is the whole file; otherwise (an object, or no added_tokens) serialised once
    const whole = { ...(json as Record<string, unknown>), added_tokens: added };
    const text = typeof input === 'string' && (json as Record<string, unknown>).added_tokens !== undefined ? input : JSON.stringify(whole);
    try {
      return new GPTTokenizer(whole, text, file);
    } catch (err) {
      throw asFileError(file, err);
    }
  }

  /** Whether decode() knows this id: an added token, or a vocabulary entry (ids may have holes). */
  canDecode(id: number): boolean {
    if (this.addedById.has(id)) return true;
    return this.engine ? this.engine.bytes(id) !== undefined : this.isVocabId(id);
  }

  /** The ids below `n` (the model's vocabulary) that this tokenizer cannot decode: generation never samples them. */
  undecodable(n: number): Int32Array {
    if (this.undecodableBelow?.n !== n) {
      const out: number[] = [];
      for (let id = 0; id < n; id++) if (!this.canDecode(id)) out.push(id);
      this.undecodableBelow = { n, ids: Int32Array.from(out) };
    }
    return this.undecodableBelow.ids;
  }
  private undecodableBelow?: { n: number; ids: Int32Array };

  /** Ids of plain text. Never returns a special id, even if the text spells one out. */
  encode(text: string): number[] {
    if (typeof text !== 'string') throw new Error(`encode: expected a string, got ${typeof text}`);
    if (this.engine) return this.engine.encode(text);
    if (text.length === 0) return [];
    const ids = this.hfPlain!.encode(text, { add_special_tokens: false }).ids;
    // @huggingface/tokenizers trusts the file: an odd pre-tokenizer or unknown-token setup can yield ids outside the vocabulary
    for (const id of ids)
      if (!this.isVocabId(id))
        throw new FileFormatError(
          this.file,
          `encodes text to id ${id}, which is not in model.vocab (check model.unk_token, byte_fallback and the pre-tokenizer)`,
        );
    return ids;
  }

  /** Ids of a model input built from text and named special tokens, e.g. [{special:'start'}, q, {special:'extract'}]. */
  encodeParts(parts: Part[]): number[] {
    const out: number[] = [];
    for (const p of parts) {
      if (typeof p === 'string') out.push(...this.encode(p));
      else out.push(this.requireSpecialId(p.special));
    }
    return out;
  }

  /** Text of some ids; special ids become their token text unless skipSpecial. Unknown ids are an error. */
  decode(ids: ArrayLike<number>, opts: { skipSpecial?: boolean } = {}): string {
    let text = '';
    let run: number[] = []; // consecutive ordinary ids, decoded together so multi-byte characters join
    const flush = () => {
      if (run.length > 0) text += this.decodeOrdinary(run);
      run = [];
    };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const special = this.addedById.get(id);
      if (special !== undefined) {
        flush();
        if (!opts.skipSpecial) text += special;
      } else {
        if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new Error(`decode: id ${id} is not in this vocabulary (size ${this.vocabSize})`);
        run.push(id);
      }
    }
    flush();
    return text;
  }

  /** The id of a special token, or undefined when this vocabulary lacks it. */
  specialId(name: SpecialTokenName): number | undefined {
    return this.addedByContent.get(SPECIAL_TOKENS[name]);
  }

  /** The id of a special token; an error naming the token when this vocabulary lacks it. */
  requireSpecialId(name: SpecialTokenName): number {
    const id = this.specialId(name);
    if (id === undefined) throw new Error(`this tokenizer has no ${name} token (${SPECIAL_TOKENS[name]}); train one with it or add it to added_tokens`);
    return id;
  }

  isSpecialId(id: number): boolean {
    return this.addedById.has(id);
  }

  toJSON(): string {
    return this.text;
  }

  private isVocabId(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.inVocab.length && this.inVocab[id] === 1;
  }

  private decodeOrdinary(ids: number[]): string {
    if (this.engine) {
      const parts: Uint8Array[] = [];
      let n = 0;
      for (const id of ids) {
        const b = this.engine.bytes(id);
        if (!b) throw new Error(`decode: id ${id} has no byte-level token`);
        parts.push(b);
        n += b.length;
      }
      const all = new Uint8Array(n);
      let o = 0;
      for (const p of parts) {
        all.set(p, o);
        o += p.length;
      }
      return this.engine.text(all);
    }
    return this.hfPlain!.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }
}

/** ByteLevel pre-tokenizer with GPT-2's regex, no prefix space, no normalizer: what bpe.ts implements. */
function isPlainByteLevel(json: Record<string, unknown>): boolean {
  const pre = json.pre_tokenizer as Record<string, unknown> | null | undefined;
  const dec = json.decoder as Record<string, unknown> | null | undefined;
  const model = json.model as Record<string, unknown>;
  return (
    pre?.type === 'ByteLevel' &&
    pre.add_prefix_space !== true &&
    pre.use_regex !== false &&
    dec?.type === 'ByteLevel' &&
    json.normalizer == null &&
    !model.continuing_subword_prefix &&
    !model.end_of_word_suffix &&
    !model.dropout
  );
}

/** @huggingface/tokenizers on a copy without added tokens, so that it too never matches them in text. */
function loadHF(json: Record<string, unknown>): HFTokenizer {
  try {
    return new HFTokenizer({ ...json, added_tokens: [] }, {});
  } catch (err) {
    throw new Error(`could not be loaded by @huggingface/tokenizers: ${err instanceof Error ? err.message : String(err)}`);
  }
}
