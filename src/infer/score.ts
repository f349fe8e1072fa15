// Scoring: log P(continuation | prompt) under the language model, token by token, from one forward
// pass over prompt + continuation (the logits at position i predict token i+1); for several
// continuations, one pass each (multiple choice by the LM alone).
import type { GPT } from '../model/gpt.ts';
import type { GPTTokenizer } from '../tokenizer/tokenizer.ts';
import { logSoftmaxAt } from '../util/softmax.ts';

export interface ContinuationScore {
  text: string;
  /** the continuation's tokens */
  tokens: number;
  /** Σ log P(token | everything before it), natural log */
  logprob: number;
  /** logprob / tokens: the length-normalised score */
  meanLogprob: number;
  tokenLogprobs: number[];
}

export { logSoftmaxAt };

/** The log-probability of each token of `continuation` after `prompt` (both token ids; prompt non-empty). */
export async function continuationLogprobs(model: GPT, prompt: number[], continuation: number[]): Promise<number[]> {
  if (prompt.length === 0) throw new RangeError('continuationLogprobs: the prompt is empty (condition on <|endoftext|>)');
  const all = [...prompt, ...continuation],
    T = all.length,
    V = model.cfg.vocabSize;
  const logits = await model.forward(Int32Array.from(all), 1, T).allLogits();
  return continuation.map((id, j) => logSoftmaxAt(logits, prompt.length + j - 1, V, id));
}

/** The prompt's ids; an empty prompt conditions on <|endoftext|>, as GPT-2 does. */
export function promptIds(tok: GPTTokenizer, prompt: string | number[]): number[] {
  const ids = typeof prompt === 'string' ? tok.encode(prompt) : [...prompt];
  if (ids.length > 0) return ids;
  const eot = tok.specialId('endOfText');
  if (eot === undefined) throw new RangeError('the prompt is empty and the tokenizer has no <|endoftext|> to condition on');
  return [eot];
}

/** Scores each continuation after the prompt. Throws RangeError when one encodes to nothing or exceeds the context. */
export async function scoreContinuations(model: GPT, tok: GPTTokenizer, prompt: string | number[], continuations: string[]): Promise<ContinuationScore[]> {
  const p = promptIds(tok, prompt),
    nCtx = model.cfg.nCtx;
  const encoded = continuations.map((text, i) => {
    const ids = tok.encode(text);
    if (ids.length === 0) throw new RangeError(`continuation ${i} encodes to no tokens`);
    if (p.length + ids.length > nCtx)
      throw new RangeError(
        `the prompt (${p.length} tokens) and continuation ${i} (${ids.length}) need ${p.length + ids.length} positions; the context window holds ${nCtx}`,
      );
    return ids;
  });
  const out: ContinuationScore[] = [];
  for (const [i, ids] of encoded.entries()) {
    const tokenLogprobs = await continuationLogprobs(model, p, ids);
    const logprob = tokenLogprobs.reduce((s, x) => s + x, 0);
    out.push({ text: continuations[i], tokens: ids.length, logprob, meanLogprob: logprob / ids.length, tokenLogprobs });
  }
  return out;
}
