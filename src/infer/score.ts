// Scoring: log P(continuation | prompt) under the language model, token by token, from one forward
// pass over prompt + continuation (the logits at position i predict token i+1).
import type { GPT } from '../model/gpt.ts';

/** log softmax(logits[row])[id] for logits (rows, V) */
export function logSoftmaxAt(logits: Float32Array, row: number, V: number, id: number): number {
  const o = row * V;
  let m = -Infinity;
  for (let i = 0; i < V; i++) m = Math.max(m, logits[o + i]);
  let s = 0;
  for (let i = 0; i < V; i++) s += Math.exp(logits[o + i] - m);
  return logits[o + id] - m - Math.log(s);
}

/** The log-probability of each token of `continuation` after `prompt` (both token ids; prompt non-empty). */
export async function continuationLogprobs(model: GPT, prompt: number[], continuation: number[]): Promise<number[]> {
  if (prompt.length === 0) throw new RangeError('continuationLogprobs: the prompt is empty (condition on <|endoftext|>)');
  const all = [...prompt, ...continuation], T = all.length, V = model.cfg.vocabSize;
  model.transformer(Int32Array.from(all), 1, T);
  const logits = await model.allLogits(T);
  return continuation.map((id, j) => logSoftmaxAt(logits, prompt.length + j - 1, V, id));
}
