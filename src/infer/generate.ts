// Text generation with a KV cache: the prompt is run once (prefill), then each new token costs one
// position of attention against the cache. Streams text as an async iterator.
import type { GPT } from '../model/gpt.ts';
import type { GPTTokenizer } from '../tokenizer/tokenizer.ts';
import { Rng } from '../util/random.ts';
import { sampleToken, validateSampling, type SamplingOptions } from './sample.ts';

export interface GenerateOptions extends SamplingOptions {
  maxTokens?: number;
  seed?: number;
  /** generation ends before the first occurrence of any of these strings */
  stop?: string[];
  /** checked between tokens; when it aborts, generation ends with finishReason 'cancelled' */
  signal?: AbortSignal;
}

export type FinishReason = 'length' | 'stop' | 'context' | 'cancelled';

export interface GenerateChunk {
  /** new text since the previous chunk */
  text: string;
  /** the token ids behind it (a token's text may arrive with a later chunk: multi-byte characters) */
  tokens: number[];
  done: boolean;
  finishReason?: FinishReason;
}

export async function* generateStream(model: GPT, tok: GPTTokenizer, prompt: string | number[], o: GenerateOptions = {}): AsyncGenerator<GenerateChunk> {
  validateSampling(o);
  const maxTokens = o.maxTokens ?? 64;
  if (!(Number.isInteger(maxTokens) && maxTokens >= 0)) throw new RangeError(`maxTokens must be an integer >= 0, got ${maxTokens}`);
  const stops = (o.stop ?? []).filter((s) => s.length > 0);
  let ids = typeof prompt === 'string' ? tok.encode(prompt) : [...prompt];
  if (ids.length === 0) {
    const eot = tok.specialId('endOfText');
    if (eot === undefined) throw new Error('the prompt is empty and the tokenizer has no <|endoftext|> to start from');
    ids = [eot];
  }
  const nCtx = model.cfg.nCtx;
  if (ids.length >= nCtx) throw new RangeError(`the prompt has ${ids.length} tokens; the context window holds ${nCtx}, leaving no room to generate`);
  const rng = new Rng(o.seed ?? 0);
  // a tokenizer smaller than the model's vocabulary (or with holes) cannot decode every id the model
  // scores: those ids are never sampled, so generation cannot stop on an id it cannot show
  const undecodable = tok.undecodable(model.cfg.vocabSize);
  const cache = model.newKVCache(1, nCtx);
  const generated: number[] = [];
  let emitted = 0; // characters of the generated text already yielded
  let pendingTokens: number[] = [];
  const holdBack = stops.reduce((m, s) => Math.max(m, s.length - 1), 0);
  try {
    let input = ids;
    while (true) {
      if (o.signal?.aborted) {
        yield { text: '', tokens: pendingTokens, done: true, finishReason: 'cancelled' };
        return;
      }
      if (generated.length >= maxTokens || cache.pos + input.length > nCtx) {
        const text = tok.decode(generated).slice(emitted);
        yield { text, tokens: pendingTokens, done: true, finishReason: generated.length >= maxTokens ? 'length' : 'context' };
        return;
      }
      model.transformer(Int32Array.from(input), 1, input.length, {}, cache);
      const logits = await model.lastLogits(1, input.length);
      for (const id of undecodable) logits[id] = -Infinity;
      const next = sampleToken(logits, o, rng);
      generated.push(next);
      pendingTokens.push(next);
      input = [next];
      const full = tok.decode(generated);
      const stopAt = stops.reduce((m, s) => {
        const i = full.indexOf(s);
        return i >= 0 && i < m ? i : m;
      }, Infinity);
      if (stopAt !== Infinity) {
        yield { text: full.slice(emitted, stopAt), tokens: pendingTokens, done: true, finishReason: 'stop' };
        return;
      }
      // Hold back a trailing partial character (U+FFFD from split UTF-8) and a possible stop prefix.
      let safe = full.length - holdBack;
      while (safe > emitted && full.charCodeAt(safe - 1) === 0xfffd) safe--;
      if (safe > emitted) {
        yield { text: full.slice(emitted, safe), tokens: pendingTokens, done: false };
        emitted = safe;
        pendingTokens = [];
      }
    }
  } finally {
    model.freeKVCache(cache);
  }
}

export interface GenerateResult {
  text: string;
  tokens: number[];
  finishReason: FinishReason;
}

export async function generate(model: GPT, tok: GPTTokenizer, prompt: string | number[], o: GenerateOptions = {}): Promise<GenerateResult> {
  let text = '';
  const tokens: number[] = [];
  let finishReason: FinishReason = 'length';
  for await (const c of generateStream(model, tok, prompt, o)) {
    text += c.text;
    tokens.push(...c.tokens);
    if (c.done) finishReason = c.finishReason!;
  }
  return { text, tokens, finishReason };
}
