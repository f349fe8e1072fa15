// What generation needs of a language model, and nothing more: GPT implements it on a backend, and
// OrtGPT.asCausalLM() (src/infer/ort.ts) on an ONNX Runtime session, so src/infer/generate.ts drives
// both. It lives beside GPT, not in src/infer, because GPT implements it and imports point down.
import type { GPTConfig } from './config.ts';

/** A KV cache as generation sees it: how many positions it holds so far. */
export interface CacheState {
  readonly pos: number;
}

export interface CausalLM<Cache extends CacheState = CacheState> {
  readonly cfg: Pick<GPTConfig, 'nCtx' | 'vocabSize'>;
  /** a cache for B rows of at most Tmax positions */
  newKVCache(B: number, Tmax?: number): Cache;
  freeKVCache(cache: Cache): void;
  /**
   * Runs ids (B,T), the next T positions after cache.pos, and appends them to the cache; the logits
   * of its last positions are read from the returned step (prefill chunks may leave them unread).
   */
  forward(ids: Int32Array, B: number, T: number, opts: { cache: NoInfer<Cache> }): CausalStep;
}

export interface CausalStep {
  /** logits (B,V) of the last position of each row, read back */
  lastLogits(): Promise<Float32Array>;
}
