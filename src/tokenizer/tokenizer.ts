// Encoding and decoding through @huggingface/tokenizers, from a Hugging Face tokenizer.json.
import { Tokenizer as HFTokenizer } from '@huggingface/tokenizers';

/** The special tokens of the paper's input transformations (§3.3) and end-of-text. */
export const SPECIAL_TOKENS = {
  endOfText: '<|endoftext|>',
  start: '<|start|>',
  delimiter: '<|delimiter|>',
  extract: '<|extract|>',
} as const;
export type SpecialTokenName = keyof typeof SPECIAL_TOKENS;

export class GPTTokenizer {
  private readonly hf: HFTokenizer;
  readonly json: Record<string, unknown>;
  readonly vocabSize: number;

  private constructor(json: Record<string, unknown>) {
    this.json = json;
    try {
      this.hf = new HFTokenizer(json, {});
    } catch (err) {
      throw new Error(`tokenizer.json could not be loaded: ${err instanceof Error ? err.message : String(err)}`);
    }
    const model = json.model as { vocab?: Record<string, number> } | undefined;
    const added = (json.added_tokens as { id: number }[] | undefined) ?? [];
    let max = -1;
    for (const id of Object.values(model?.vocab ?? {})) if (id > max) max = id;
    for (const t of added) if (t.id > max) max = t.id;
    this.vocabSize = max + 1;
  }

  /** Parse a tokenizer.json (text or parsed object), with a clear error for malformed input. */
  static fromJSON(input: string | Record<string, unknown>): GPTTokenizer {
    let json: unknown = input;
    if (typeof input === 'string') {
      try {
        json = JSON.parse(input);
      } catch (err) {
        throw new Error(`tokenizer.json is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (!json || typeof json !== 'object') throw new Error('tokenizer.json must hold a JSON object');
    const model = (json as Record<string, unknown>).model as Record<string, unknown> | undefined;
    if (!model || typeof model !== 'object') throw new Error('tokenizer.json has no "model" object');
    if (model.type !== 'BPE') throw new Error(`tokenizer.json: model.type must be "BPE", got ${JSON.stringify(model.type)}`);
    if (!model.vocab || typeof model.vocab !== 'object') throw new Error('tokenizer.json: model.vocab is missing');
    if (!Array.isArray(model.merges)) throw new Error('tokenizer.json: model.merges is missing');
    return new GPTTokenizer(json as Record<string, unknown>);
  }

  encode(text: string): number[] {
    return this.hf.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: ArrayLike<number>): string {
    return this.hf.decode(Array.from(ids), { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }

  /** The id of a special token, or undefined when this vocabulary lacks it. */
  specialId(name: SpecialTokenName): number | undefined {
    return this.hf.token_to_id(SPECIAL_TOKENS[name]);
  }

  toJSON(): string {
    return JSON.stringify(this.json);
  }
}
