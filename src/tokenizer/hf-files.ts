// Hugging Face's older tokenizer layout, vocab.json + merges.txt (no tokenizer.json), as a tokenizer.json:
// GPT-2's byte-level BPE (gpt2tokenizerJSON), or openai-gpt's word-level BPE with "</w>" word ends, lower
// case and BERT-style pre-tokenisation — what transformers' OpenAIGPTConverter builds.
// Errors are FileFormatErrors naming vocab.json or merges.txt; GPTTokenizer.fromJSON then checks the
// result as it checks any tokenizer.json (ids bounded, merges of known tokens).
import { asFileError, FileFormatError, parseJSON, quote } from '../io/errors.ts';
import { gpt2TokenizerJSON } from './gpt2.ts';
import { MAX_TOKEN_ID, specialTokenEntry } from './tokenizer.ts';

export function tokenizerJSONFromVocabMerges(vocabJSON: string, mergesTxt: string, where = 'vocab.json'): Record<string, unknown> {
  const vocab = parseJSON(vocabJSON, where);
  if (!vocab || typeof vocab !== 'object' || Array.isArray(vocab)) throw new FileFormatError(where, 'must map tokens to ids');
  const encoder = vocab as Record<string, number>;
  for (const [t, id] of Object.entries(encoder)) {
    if (!Number.isInteger(id) || id < 0 || id > MAX_TOKEN_ID) throw new FileFormatError(where, `token ${quote(t)} has id ${quote(id)}, not an integer in 0..${MAX_TOKEN_ID}`);
  }
  if (!mergesTxt.includes('</w>')) {
    try {
      return gpt2TokenizerJSON(encoder, mergesTxt);
    } catch (err) {
      throw asFileError(where, err); // the encoder lacks <|endoftext|>
    }
  }
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
    model: { type: 'BPE', dropout: null, unk_token: unk, continuing_subword_prefix: null, end_of_word_suffix: '</w>', fuse_unk: false, byte_fallback: false, vocab: encoder, merges },
  };
}
