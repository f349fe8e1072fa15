// Text generation with a KV cache: the prompt is run once (prefill), then each new token costs one
// position of attention against the cache. Streams text as an async iterator.
import type { CacheState, CausalLM, CausalStep } from '../model/causal-lm.ts';
import type { GPTTokenizer } from '../tokenizer/tokenizer.ts';
import { Rng } from '../util/random.ts';
import { sampleToken, validateSampling, type SamplingOptions } from './sample.ts';
import { TextStream } from './text-stream.ts';

export interface GenerateOptions extends SamplingOptions {
  maxTokens?: number;
  seed?: number;
  /** generation ends before the first occurrence of any of these strings */
  stop?: string[];
  /** checked between tokens; when it aborts, generation ends with finishReason 'cancelled' */
  signal?: AbortSignal;
  /**
   * the prompt runs through the model this many tokens at a time (default: all at once); the model's
   * activations are sized by it, so a small value bounds the memory of a long prompt (edge isolates)
   */
  prefillChunk?: number;
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

export async function* generateStream<Cache extends CacheState>(
  model: CausalLM<Cache>,
  tok: GPTTokenizer,
  prompt: string | number[],
  o: GenerateOptions = {},
): AsyncGenerator<GenerateChunk> {
  validateSampling(o);
  const maxTokens = o.maxTokens ?? 64;
  if (o.prefillChunk !== undefined && !(Number.isInteger(o.prefillChunk) && o.prefillChunk >= 1))
    throw new RangeError(`prefillChunk must be an integer >= 1, got ${o.prefillChunk}`);
  if (!(Number.isInteger(maxTokens) && maxTokens >= 0)) throw new RangeError(`maxTokens must be an integer >= 0, got ${maxTokens}`);
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
  // the cache holds what this generation can reach, not the whole window: GPT-2's 1,024 positions are
  // 75 MB of f32 keys and values, more than an edge isolate's budget for a short completion
  const cache = model.newKVCache(1, Math.min(nCtx, ids.length + maxTokens));
  const text = new TextStream(tok, o.stop);
  let pendingTokens: number[] = [];
  try {
    let input = ids;
    while (true) {
      if (o.signal?.aborted) {
        yield { text: '', tokens: pendingTokens, done: true, finishReason: 'cancelled' };
        return;
      }
      if (text.tokens >= maxTokens || cache.pos + input.length > nCtx) {
        yield { text: text.rest(), tokens: pendingTokens, done: true, finishReason: text.tokens >= maxTokens ? 'length' : 'context' };
        return;
      }
      const chunk = Math.min(input.length, o.prefillChunk ?? input.length);
      let step!: CausalStep;
      for (let i = 0; i < input.length; i += chunk)
        step = model.forward(Int32Array.from(input.slice(i, i + chunk)), 1, Math.min(chunk, input.length - i), { cache });
      const logits = await step.lastLogits();
      for (const id of undecodable) logits[id] = -Infinity;
      const next = sampleToken(logits, o, rng);
      pendingTokens.push(next);
      input = [next];
      const t = text.push(next);
      if (t.stopped) {
        yield { text: t.text, tokens: pendingTokens, done: true, finishReason: 'stop' };
        return;
      }
      if (t.text) {
        yield { text: t.text, tokens: pendingTokens, done: false };
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

export async function generate<Cache extends CacheState>(
  model: CausalLM<Cache>,
  tok: GPTTokenizer,
  prompt: string | number[],
  o: GenerateOptions = {},
): Promise<GenerateResult> {
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
