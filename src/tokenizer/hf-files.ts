// Hugging Face's older tokenizer layout, vocab.json + merges.txt (no tokenizer.json), as a tokenizer.json:
// GPT-2's byte-level BPE (gpt2tokenizerJSON), or openai-gpt's word-level BPE with "</w>" word ends, lower
// case and BERT-style pre-tokenisation — what transformers' OpenAIGPTConverter builds.
import { gpt2TokenizerJSON } from './gpt2.ts';
import { specialTokenEntry } from './tokenizer.ts';
import { FileFormatError } from '../io/errors.ts';
import { CONFIG_LIMITS } from '../model/config.ts';

export function tokenizerJSONFromVocabMerges(vocabJSON: string, mergesTxt: string, where = 'vocab.json'): Record<string, unknown> {
  let vocab: unknown;
  try {
    vocab = JSON.parse(vocabJSON);
  } catch (err) {
    throw new FileFormatError(where, `not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!vocab || typeof vocab !== 'object' || Array.isArray(vocab)) throw new FileFormatError(where, 'must map tokens to ids');
  const encoder = vocab as Record<string, number>;
  for (const [t, id] of Object.entries(encoder))
    if (!Number.isInteger(id) || id < 0 || id >= CONFIG_LIMITS.vocabSize)
      throw new FileFormatError(
        where,
        `token ${JSON.stringify(t).slice(0, 40)} has id ${JSON.stringify(id)}, not an integer in 0..${CONFIG_LIMITS.vocabSize - 1}`,
      );
  if (!mergesTxt.includes('</w>')) return gpt2TokenizerJSON(encoder, mergesTxt);
  const merges = mergesTxt.split('\n').filter((l) => l.trim() && !l.startsWith('#version'));
  const unk = '<unk>' in encoder ? '<unk>' : null;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: unk ? [specialTokenEntry(encoder[unk], unk)] : [],
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: null,
    decoder: { type: 'BPEDecoder', suffix: '</w>' },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: unk,
      continuing_subword_prefix: null,
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      vocab: encoder,
      merges,
    },
  };
}
