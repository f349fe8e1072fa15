// The Backend interface: buffers and the op set every backend implements (reference, wasm, webgpu).
//
// Rules every implementation follows, so one model file drives a GPU queue and a synchronous CPU alike:
// - Ops only enqueue work and return nothing. `read` is the one asynchronous call.
// - A Tensor is a view (offset + length, in elements) into a backend-owned buffer. Ops address their
//   operands through views, so a backend may pack many views into one allocation (linear memory for
//   WASM) or split an arena over several buffers (WebGPU's max storage binding); the model never knows.
// - Shapes are passed explicitly as numbers; comments give them as (B,T,C). All f32 unless noted.
// - "Accumulate" ops add into their output (gradients accumulate, as in llm.c: zeroed once per step).
// - Outputs never alias inputs unless an op says so.

import type { QuantizedRows } from './quant.ts';

/**
 * 'f16' is storage for weights at inference (half the memory and bandwidth): write takes f32 values and
 * rounds them to half precision (src/backend/f16.ts), read returns f32, and only matmul's `b` operand and
 * encoderForward's `wte` accept it; arithmetic stays f32. Backends that have it say so in `f16Storage`.
 * 'f16' is also the storage of a half-precision KV cache: attentionCached's and attentionRagged's kCache
 * and vCache (both f16, or both f32) on backends with `halfKVCache` (their new k, v are rounded to halves
 * as they are written, the same bits as f16Bits; attention reads them back in f32).
 *
 * 'q8' and 'q4' are quantized weight storage for inference (a quarter and about an eighth of f32): a
 * row-major matrix (rows, rowLength) quantized along its rows — q8 int8 codes with one f32 scale per row,
 * q4 groups of 32 with an f16 scale each (llama.cpp's Q4_0); the layout and the rounding are in
 * src/backend/quant.ts, which every backend quantizes through, so all hold the same codes. `alloc` and
 * `allocArena` need the rowLength; `write` takes f32 values and quantizes them, `read` returns the
 * dequantized values, `writeQuantized`/`readQuantized` move codes and scales as they are (files); such a
 * tensor is never sliced. Only matmul's `b` operand with transB (b stored (N,K): one row per output
 * column, K quantized) and encoderForward's `wte` accept them. Backends that have them say so in
 * `quantStorage`; the reference stores the dequantized values (the oracle).
 */
export type DType = 'f32' | 'i32' | 'f16' | 'q8' | 'q4';

export interface Tensor {
  /** backend-specific storage handle */
  readonly buffer: unknown;
  /** offset into the buffer, in elements */
  readonly offset: number;
  /** number of elements */
  readonly length: number;
  readonly dtype: DType;
  /** quantized tensors: elements per row (the quantized axis) */
  readonly rowLength?: number;
}

/** One allocation described as named views (llm.c's ParameterTensors). */
export interface ArenaSpec {
  name: string;
  length: number;
  dtype?: DType;
  /**
   * Row length when the view holds a row-major matrix (C for the (V,C) token embedding). A backend that
   * must split a view too large for one of its buffers (WebGPU's max storage binding) cuts it between rows.
   * Required for 'q8'/'q4' views: their rows are what is quantized.
   */
  rowLength?: number;
}

export type Arena = Record<string, Tensor>;

/** Dropout's counter-based RNG stream: the same (seed, stream) draws the same mask on every backend. */
export interface DropoutRng {
  seed: number; // u32
  stream: number; // u32: distinct per (step, op site)
  /** u32: the op's element 0 draws what element `offset` of the stream draws (a micro-batch's place in its batch; default 0) */
  offset?: number;
}

/** AdamW hyper-parameters of one update. */
export interface AdamWParams {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step number, for bias correction */
  step: number;
  /**
   * Global-norm clipping, computed on the device: when both are given, the gradient is multiplied by
   * min(1, maxNorm / (sqrt(normSq[0]) + 1e-6)) before the update. normSq is written by `sumSquares`.
   */
  gradNormSq?: Tensor;
  maxNorm?: number;
}

export interface Backend {
  readonly name: string;
  /** whether tensors of dtype 'f16' exist here (WebGPU with shader-f16; the reference, as the oracle) */
  readonly f16Storage: boolean;
  /** bytes this backend can hold at most, where it has a fixed limit (WASM: its linear memory's maximum) */
  readonly memoryLimit?: number;
  /** whether tensors of dtype 'q8' and 'q4' exist here (WASM; the reference, as the oracle) */
  readonly quantStorage?: boolean;
  /**
   * whether attentionCached/attentionRagged take f16 KV caches (WASM, where f16 tensors exist for that
   * alone — its f16Storage is false; the reference, as the oracle)
   */
  readonly halfKVCache?: boolean;
  /**
   * Elements of (rows, V) logits the LM head computes at once, where the backend knows better than the
   * model's default of 4M (WebGPU: sized from the device's buffer limits, since each chunk rewrites the
   * whole token-embedding gradient).
   */
  readonly logitChunkElements?: number;

  // ---- memory ------------------------------------------------------------------------------------
  /** Allocate one arena of named, zero-filled views. */
  allocArena(specs: ArenaSpec[]): Arena;
  /** Allocate a single zero-filled tensor (rowLength: required for quantized dtypes). */
  alloc(length: number, dtype?: DType, rowLength?: number): Tensor;
  /** Release every buffer this backend owns behind these tensors (arenas free as a whole). */
  free(...tensors: Tensor[]): void;
  /** A sub-view of a tensor (offset and length in elements, relative to `t`). */
  slice(t: Tensor, offset: number, length: number): Tensor;
  /** Copy host data into a tensor (enqueued; the source may be reused at once). */
  write(t: Tensor, data: Float32Array | Int32Array, dstOffset?: number): void;
  /** Read a tensor back. The only asynchronous call. */
  read(t: Tensor): Promise<Float32Array | Int32Array>;
  /** Quantized tensors: store codes and scales as they are, for `rows` rows from row `firstRow` (default all, from 0). */
  writeQuantized?(t: Tensor, q: QuantizedRows, firstRow?: number): void;
  /** Quantized tensors: their codes and scales. */
  readQuantized?(t: Tensor): Promise<QuantizedRows>;
  /** Wait for all enqueued work. */
  sync(): Promise<void>;
  fill(t: Tensor, value: number): void;
  copy(dst: Tensor, src: Tensor): void;

  // ---- embedding (token + position) ---------------------------------------------------------------
  /** out(B,T,C) = wte[ids[b,t]] + wpe[posOffset + t]; ids (B,T) i32 */
  encoderForward(out: Tensor, ids: Tensor, wte: Tensor, wpe: Tensor, B: number, T: number, C: number, posOffset: number): void;
  /** dwte[ids[b,t]] += dout[b,t]; dwpe[t] += dout[b,t] (accumulate) */
  encoderBackward(dwte: Tensor, dwpe: Tensor, dout: Tensor, ids: Tensor, B: number, T: number, C: number): void;

  // ---- layernorm ----------------------------------------------------------------------------------
  /** out(N,C) = (x - mean) * rstd * w + b; saves mean(N), rstd(N) */
  layernormForward(out: Tensor, mean: Tensor, rstd: Tensor, inp: Tensor, w: Tensor, b: Tensor, N: number, C: number, eps: number): void;
  /** dinp += ..., dw += ..., db += ... (accumulate) */
  layernormBackward(dinp: Tensor, dw: Tensor, db: Tensor, dout: Tensor, inp: Tensor, w: Tensor, mean: Tensor, rstd: Tensor, N: number, C: number): void;

  // ---- matmul -------------------------------------------------------------------------------------
  /**
   * out(M,N) = beta*out + op(a)·op(b) [+ bias(N) broadcast over rows]
   * op(a) is (M,K): a stored (M,K), or (K,M) when transA. op(b) is (K,N): b stored (K,N), or (N,K) when transB.
   * beta is 0 (overwrite) or 1 (accumulate). Covers forward (X·W), dX = dY·Wᵀ and dW += Xᵀ·dY.
   * With b quantized ('q8'/'q4', transB only), a backend may quantize a's rows for integer dot products,
   * per row and per block of at most 256 elements along K, to a step s(m,k) no coarser than: against q8,
   * 7-bit codes over the block's range with zero included, s = (max(block, 0) − min(block, 0))/127 (WASM;
   * WebGPU's packed path keeps 16 bits); against q4, 8-bit integers, s = max|block|/127. An element of
   * out then differs from op(a)·dequant(b) by at most ½·Σ_k |b[n,k]|·s(m,k) beyond f32 rounding.
   */
  matmul(out: Tensor, a: Tensor, b: Tensor, bias: Tensor | null, M: number, K: number, N: number, transA: boolean, transB: boolean, beta: 0 | 1): void;
  /** dbias(N) += column sums of dout(M,N) */
  biasBackward(dbias: Tensor, dout: Tensor, M: number, N: number): void;

  // ---- causal multi-head attention (fused softmax, flash-style: saves only the logsumexp) ---------
  /**
   * qkv (B,T,3C) packs q, k, v along the last axis; out (B,T,C); lse (B,NH,T) saved for backward.
   * Attention-probability dropout with probability pDrop uses `rng` (mask regenerated in backward).
   */
  attentionForward(out: Tensor, lse: Tensor, qkv: Tensor, B: number, T: number, C: number, NH: number, pDrop: number, rng: DropoutRng | null): void;
  /** dqkv (B,T,3C) is overwritten. */
  attentionBackward(
    dqkv: Tensor,
    dout: Tensor,
    qkv: Tensor,
    out: Tensor,
    lse: Tensor,
    B: number,
    T: number,
    C: number,
    NH: number,
    pDrop: number,
    rng: DropoutRng | null,
  ): void;
  /**
   * Inference with a KV cache. qkv (B,Tn,3C) holds Tn new positions starting at absolute position pos0.
   * Their k, v are written to kCache/vCache (B,Tmax,C) at pos0.., then each new query attends causally
   * to cache positions [0, pos0 + i]. out (B,Tn,C). The caches may be f16 where `halfKVCache`.
   */
  attentionCached(out: Tensor, qkv: Tensor, kCache: Tensor, vCache: Tensor, B: number, Tn: number, C: number, NH: number, pos0: number, Tmax: number): void;
  /**
   * Continuous batching: N new tokens of several sequences in one call, each sequence in its own slot
   * of the caches. Token i belongs to slot slotPos[2i] at absolute position slotPos[2i+1] (slotPos (N,2)
   * i32). First the k, v of every token (qkv (N,3C)) are written to kCache/vCache (S,Tmax,C) at its
   * (slot, position); then each token attends causally to its slot's positions [0, position] — so a
   * prefill chunk attends to itself. Positions before a token's own must already be in its slot.
   * out (N,C). (The single-sequence attentionCached is the oracle: the same numbers for each sequence.)
   */
  attentionRagged(out: Tensor, qkv: Tensor, kCache: Tensor, vCache: Tensor, slotPos: Tensor, N: number, C: number, NH: number, Tmax: number): void;

  // ---- elementwise --------------------------------------------------------------------------------
  /** out(N) = gelu_tanh(inp) */
  geluForward(out: Tensor, inp: Tensor, N: number): void;
  /** dinp(N) += gelu'(inp) * dout (accumulate) */
  geluBackward(dinp: Tensor, inp: Tensor, dout: Tensor, N: number): void;
  /** out(N) = a + b */
  residualForward(out: Tensor, a: Tensor, b: Tensor, N: number): void;
  /** dst(N) += src (the residual's backward, and gradient accumulation) */
  accumulate(dst: Tensor, src: Tensor, N: number): void;
  /** out(N) = inp * keep / (1-p), keep drawn from rng; out may alias inp */
  dropoutForward(out: Tensor, inp: Tensor, N: number, p: number, rng: DropoutRng): void;
  /** dinp(N) = dout * keep / (1-p), the same keep mask; dinp may alias dout */
  dropoutBackward(dinp: Tensor, dout: Tensor, N: number, p: number, rng: DropoutRng): void;

  // ---- loss ---------------------------------------------------------------------------------------
  /**
   * Fused softmax + cross-entropy. logits (N,V), targets (N) i32 (-1 = ignore). Writes
   * losses(N) = -log softmax(logits)[target] (0 where ignored) and ACCUMULATES loss[0] += Σ losses·weights,
   * weights (N) being e.g. 1/count for a mean over real tokens (so a loss can be summed over row chunks).
   */
  crossEntropyForward(losses: Tensor, loss: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, N: number, V: number): void;
  /** dlogits(N,V) = (softmax(logits) - onehot(target)) * weights[n] * dscale; dlogits may alias logits */
  crossEntropyBackward(dlogits: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, N: number, V: number, dscale: number): void;

  // ---- rows: task-head gather at the extract token ------------------------------------------------
  /** out(R,C) = inp[idx[r]] for idx (R) i32 of row numbers into inp (rows of C) */
  gatherRows(out: Tensor, inp: Tensor, idx: Tensor, R: number, C: number): void;
  /** dinp[idx[r]] += dout[r] (accumulate) */
  scatterAddRows(dinp: Tensor, dout: Tensor, idx: Tensor, R: number, C: number): void;

  // ---- optimizer ----------------------------------------------------------------------------------
  /** out[0] = Σ over tensors of Σ x² (on the device; feeds AdamW's clipping without a readback) */
  sumSquares(out: Tensor, tensors: Tensor[]): void;
  /** Decoupled-weight-decay Adam on one tensor: param, grad, m, v all of the same length. */
  adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, p: AdamWParams): void;
}
