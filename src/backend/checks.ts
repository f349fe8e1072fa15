// One validating wrapper for every backend: the argument checks of each Backend call (lengths, shapes,
// dtypes, bounds), written once. `checkedOps(SomeBackend)`, run once after the class, wraps the class's
// methods so that each checks its arguments and then runs the backend's code — which therefore assumes
// valid arguments. Errors are the same on every backend: RangeError for sizes and bounds, TypeError for a
// tensor of the wrong kind.
//
// A backend whose memory the host reads synchronously (the reference, WASM) also has the indices a kernel
// would follow checked — token ids, targets, gathered rows, cache slots — through HOST_INTS. A GPU
// backend cannot look without stalling its queue; there the model checks what it writes (GPT.transformer).
import type { AdamWParams, ArenaSpec, Backend, DType, DropoutRng, Tensor } from './backend.ts';
import { checkQuantized, codeBytesPerRow, isQuant, type QuantizedRows } from './quant.ts';

/** A backend that can read an i32 tensor synchronously implements this (a view, not a copy). */
export const HOST_INTS: unique symbol = Symbol('gptedge.hostInts');
interface HostInts {
  [HOST_INTS](t: Tensor): Int32Array;
}

// ---- the pieces ---------------------------------------------------------------------------------------
function need(t: Tensor, n: number, what: string): void {
  if (!(t.length >= n)) throw new RangeError(`${what}: tensor of ${t.length} elements, op needs ${n}`);
}
function size(v: number, what: string): void {
  if (!(Number.isInteger(v) && v >= 0)) throw new RangeError(`${what} must be an integer >= 0, got ${v}`);
}
function sizes(o: Record<string, number>, op: string): void {
  for (const [k, v] of Object.entries(o)) size(v, `${op}: ${k}`);
}
/** an operand the op computes with: f32 */
function f32(t: Tensor | null | undefined, what: string): void {
  if (!t || t.dtype === 'f32') return;
  if (isQuant(t.dtype))
    throw new TypeError(`${what}: a ${t.dtype} tensor is weight storage (matmul's b with transB, the token embedding); this operand takes f32`);
  if (t.dtype === 'f16')
    throw new TypeError(`${what}: an f16 tensor is weight storage (matmul's b, the token embedding) or a KV cache; this operand takes f32`);
  throw new TypeError(`${what}: an ${t.dtype} tensor where f32 values are needed`);
}
function i32(t: Tensor, what: string): void {
  if (t.dtype !== 'i32') throw new TypeError(`${what}: a ${t.dtype} tensor where i32 indices are needed`);
}
/** a weight operand (matmul's b, the token embedding): f32, f16, or quantized in rows of K */
function weight(be: Backend, t: Tensor, K: number, what: string): void {
  if (t.dtype === 'f16' && !be.f16Storage)
    throw new TypeError(`${what}: backend ${be.name} has no f16 weight storage (f16 tensors are its KV caches); f16 weights need WebGPU with shader-f16`);
  if (t.dtype === 'i32') throw new TypeError(`${what}: an i32 tensor where weights are needed`);
  if (isQuant(t.dtype) && t.rowLength !== K) throw new RangeError(`${what}: a ${t.dtype} tensor of rows of ${t.rowLength}, the op reads rows of ${K}`);
}
/** a KV cache pair: both f32, or both f16 where the backend keeps half-precision caches */
function kvCaches(be: Backend, k: Tensor, v: Tensor, what: string): void {
  if (k.dtype !== v.dtype || (k.dtype !== 'f32' && k.dtype !== 'f16'))
    throw new TypeError(`${what}: kCache and vCache must both be f32 or both f16, got ${k.dtype} and ${v.dtype}`);
  if (k.dtype === 'f16' && !be.halfKVCache) throw new TypeError(`${what}: backend ${be.name} keeps no f16 KV caches`);
}
function heads(C: number, NH: number): void {
  if (!(NH > 0 && C % NH === 0)) throw new RangeError(`C = ${C} is not a multiple of NH = ${NH}`);
}
function probability(p: number, what: string): void {
  if (!(p >= 0 && p < 1)) throw new RangeError(`${what}: dropout probability must be in [0, 1), got ${p}`);
}
function storage(be: Backend, dtype: DType): void {
  if (dtype === 'f16' && !be.f16Storage && !be.halfKVCache) throw new Error(`backend ${be.name} has no f16 storage (f16 weights need WebGPU with shader-f16)`);
  if (isQuant(dtype) && !be.quantStorage)
    throw new Error(`backend ${be.name} has no ${dtype} storage (quantized weights need the WASM backend, WebGPU or the reference)`);
}
function rowLength(length: number, dtype: DType, rowLength: number | undefined): void {
  if (!isQuant(dtype)) return;
  const K = rowLength ?? 0;
  if (!(Number.isInteger(K) && K > 0 && length % K === 0))
    throw new RangeError(`a ${dtype} tensor needs a row length dividing its ${length} elements, got ${rowLength}`);
}
/** the i32 values of `t` (first n), where the backend can read them synchronously */
function ints(be: Backend, t: Tensor, n: number): Int32Array | null {
  const h = (be as Partial<HostInts>)[HOST_INTS];
  return h ? h.call(be, t).subarray(0, n) : null;
}

// ---- every call's checks, by name --------------------------------------------------------------------------
type Checks = { [K in keyof Backend]?: NonNullable<Backend[K]> extends (...args: infer A) => unknown ? (be: Backend, ...args: A) => void : never };

const CHECKS: Checks = {
  // ---- memory
  allocArena(be, specs: ArenaSpec[]) {
    for (const s of specs) {
      size(s.length, `allocArena: ${s.name}.length`);
      storage(be, s.dtype ?? 'f32');
      rowLength(s.length, s.dtype ?? 'f32', s.rowLength);
    }
  },
  alloc(be, length, dtype = 'f32', rowLen) {
    size(length, 'alloc: length');
    storage(be, dtype);
    rowLength(length, dtype, rowLen);
  },
  slice(_, t, offset, length) {
    if (isQuant(t.dtype) && !(offset === 0 && length === t.length)) throw new RangeError(`a ${t.dtype} tensor is not sliced (weight storage)`);
    if (!(Number.isInteger(offset) && Number.isInteger(length) && offset >= 0 && length >= 0 && offset + length <= t.length)) {
      throw new RangeError(`slice [${offset}, +${length}) outside a tensor of ${t.length}`);
    }
  },
  write(_, t, data, dstOffset = 0) {
    if (!(Number.isInteger(dstOffset) && dstOffset >= 0 && dstOffset + data.length <= t.length))
      throw new RangeError(`write of ${data.length} at ${dstOffset} into a tensor of ${t.length}`);
    if (isQuant(t.dtype) && (dstOffset % t.rowLength! || data.length % t.rowLength!))
      throw new RangeError(`a ${t.dtype} tensor is written in whole rows of ${t.rowLength}`);
  },
  writeQuantized(_, t, q: QuantizedRows, firstRow = 0) {
    if (!isQuant(t.dtype)) throw new TypeError(`writeQuantized: a ${t.dtype} tensor is not quantized`);
    const K = t.rowLength!,
      rows = t.length / K,
      n = q.codes.length / codeBytesPerRow(t.dtype, K);
    if (!(Number.isInteger(n) && Number.isInteger(firstRow) && firstRow >= 0 && firstRow + n <= rows)) {
      throw new RangeError(`writeQuantized: ${q.codes.length} code bytes at row ${firstRow} into ${rows} rows of ${K} (${t.dtype})`);
    }
    checkQuantized(t.dtype, q, n, K, 'writeQuantized');
  },
  readQuantized(_, t) {
    if (!isQuant(t.dtype)) throw new TypeError(`readQuantized: a ${t.dtype} tensor is not quantized`);
  },
  fill(_, t) {
    if (isQuant(t.dtype)) throw new TypeError(`fill: a ${t.dtype} tensor is written with write or writeQuantized`);
  },
  copy(_, dst, src) {
    need(dst, src.length, 'copy');
    if (isQuant(dst.dtype) || isQuant(src.dtype)) throw new TypeError('copy: quantized tensors are written with write or writeQuantized');
    if ((dst.dtype === 'f16') !== (src.dtype === 'f16')) throw new TypeError(`copy: ${src.dtype} into ${dst.dtype} (f16 tensors copy into f16 ones)`);
  },

  // ---- embedding
  encoderForward(be, out, ids, wte, wpe, B, T, C, posOffset) {
    sizes({ B, T, C, posOffset }, 'encoderForward');
    need(out, B * T * C, 'encoderForward out');
    need(ids, B * T, 'encoderForward ids');
    i32(ids, 'encoderForward ids');
    f32(out, 'encoderForward out');
    f32(wpe, 'encoderForward wpe');
    weight(be, wte, C, 'encoderForward wte');
    if ((posOffset + T) * C > wpe.length) throw new RangeError(`position ${posOffset + T - 1} beyond the context of ${wpe.length / C}`);
    const id = ints(be, ids, B * T);
    if (id) tokenIds(id, wte.length / C);
  },
  encoderBackward(be, dwte, dwpe, dout, ids, B, T, C) {
    sizes({ B, T, C }, 'encoderBackward');
    need(dout, B * T * C, 'encoderBackward dout');
    need(dwpe, T * C, 'encoderBackward dwpe');
    need(ids, B * T, 'encoderBackward ids');
    i32(ids, 'encoderBackward ids');
    for (const [t, w] of [
      [dwte, 'dwte'],
      [dwpe, 'dwpe'],
      [dout, 'dout'],
    ] as const)
      f32(t, `encoderBackward ${w}`);
    const id = ints(be, ids, B * T);
    if (id) tokenIds(id, dwte.length / C);
  },

  // ---- layernorm
  layernormForward(_, out, mean, rstd, inp, w, b, N, C) {
    sizes({ N, C }, 'layernormForward');
    need(inp, N * C, 'layernormForward');
    need(out, N * C, 'layernormForward out');
    need(mean, N, 'layernormForward mean');
    need(rstd, N, 'layernormForward rstd');
    need(w, C, 'layernormForward w');
    need(b, C, 'layernormForward b');
    for (const [t, n] of [
      [out, 'out'],
      [mean, 'mean'],
      [rstd, 'rstd'],
      [inp, 'inp'],
      [w, 'w'],
      [b, 'b'],
    ] as const)
      f32(t, `layernormForward ${n}`);
  },
  layernormBackward(_, dinp, dw, db, dout, inp, w, mean, rstd, N, C) {
    sizes({ N, C }, 'layernormBackward');
    need(inp, N * C, 'layernormBackward');
    need(dinp, N * C, 'layernormBackward dinp');
    need(dout, N * C, 'layernormBackward dout');
    need(mean, N, 'layernormBackward mean');
    need(rstd, N, 'layernormBackward rstd');
    for (const [t, n] of [
      [dw, 'dw'],
      [db, 'db'],
      [w, 'w'],
    ] as const)
      need(t, C, `layernormBackward ${n}`);
    for (const [t, n] of [
      [dinp, 'dinp'],
      [dw, 'dw'],
      [db, 'db'],
      [dout, 'dout'],
      [inp, 'inp'],
      [w, 'w'],
      [mean, 'mean'],
      [rstd, 'rstd'],
    ] as const)
      f32(t, `layernormBackward ${n}`);
  },

  // ---- matmul
  matmul(be, out, a, b, bias, M, K, N, transA, transB, beta) {
    sizes({ M, K, N }, 'matmul');
    need(a, M * K, 'matmul a');
    need(b, K * N, 'matmul b');
    need(out, M * N, 'matmul out');
    if (bias) need(bias, N, 'matmul bias');
    if (beta !== 0 && beta !== 1) throw new RangeError(`matmul: beta must be 0 or 1, got ${beta}`);
    f32(out, 'matmul out');
    f32(a, 'matmul a');
    f32(bias, 'matmul bias');
    if (isQuant(b.dtype) && (transA || !transB))
      throw new TypeError(`matmul: a ${b.dtype} b operand is stored (N,K), quantized along K: pass transB (and a not transposed)`);
    weight(be, b, K, 'matmul b');
  },
  biasBackward(_, dbias, dout, M, N) {
    sizes({ M, N }, 'biasBackward');
    need(dout, M * N, 'biasBackward dout');
    need(dbias, N, 'biasBackward dbias');
    f32(dout, 'biasBackward dout');
    f32(dbias, 'biasBackward dbias');
  },

  // ---- attention
  attentionForward(_, out, lse, qkv, B, T, C, NH, pDrop, rng) {
    sizes({ B, T, C, NH }, 'attentionForward');
    heads(C, NH);
    need(qkv, B * T * 3 * C, 'attentionForward qkv');
    need(out, B * T * C, 'attentionForward out');
    need(lse, B * NH * T, 'attentionForward lse');
    for (const [t, n] of [
      [out, 'out'],
      [lse, 'lse'],
      [qkv, 'qkv'],
    ] as const)
      f32(t, `attentionForward ${n}`);
    dropout(pDrop, rng, 'attentionForward');
  },
  attentionBackward(_, dqkv, dout, qkv, out, lse, B, T, C, NH, pDrop, rng) {
    sizes({ B, T, C, NH }, 'attentionBackward');
    heads(C, NH);
    need(dqkv, B * T * 3 * C, 'attentionBackward dqkv');
    need(qkv, B * T * 3 * C, 'attentionBackward qkv');
    need(dout, B * T * C, 'attentionBackward dout');
    need(out, B * T * C, 'attentionBackward out');
    need(lse, B * NH * T, 'attentionBackward lse');
    for (const [t, n] of [
      [dqkv, 'dqkv'],
      [dout, 'dout'],
      [qkv, 'qkv'],
      [out, 'out'],
      [lse, 'lse'],
    ] as const)
      f32(t, `attentionBackward ${n}`);
    dropout(pDrop, rng, 'attentionBackward');
  },
  attentionCached(be, out, qkv, kCache, vCache, B, Tn, C, NH, pos0, Tmax) {
    sizes({ B, Tn, C, NH, pos0, Tmax }, 'attentionCached');
    heads(C, NH);
    if (pos0 + Tn > Tmax) throw new RangeError(`KV cache of ${Tmax} positions cannot hold ${pos0 + Tn}`);
    need(qkv, B * Tn * 3 * C, 'attentionCached qkv');
    need(out, B * Tn * C, 'attentionCached out');
    need(kCache, B * Tmax * C, 'attentionCached kCache');
    need(vCache, B * Tmax * C, 'attentionCached vCache');
    for (const [t, n] of [
      [out, 'out'],
      [qkv, 'qkv'],
    ] as const)
      f32(t, `attentionCached ${n}`);
    kvCaches(be, kCache, vCache, 'attentionCached');
  },
  attentionRagged(be, out, qkv, kCache, vCache, slotPos, N, C, NH, Tmax) {
    sizes({ N, C, NH, Tmax }, 'attentionRagged');
    heads(C, NH);
    need(qkv, N * 3 * C, 'attentionRagged qkv');
    need(out, N * C, 'attentionRagged out');
    need(slotPos, 2 * N, 'attentionRagged slotPos');
    i32(slotPos, 'attentionRagged slotPos');
    for (const [t, n] of [
      [out, 'out'],
      [qkv, 'qkv'],
    ] as const)
      f32(t, `attentionRagged ${n}`);
    kvCaches(be, kCache, vCache, 'attentionRagged');
    if (Tmax === 0 || kCache.length % (Tmax * C) !== 0 || vCache.length !== kCache.length) {
      throw new RangeError(`attentionRagged: caches of ${kCache.length} and ${vCache.length} elements are not slots of ${Tmax} × ${C}`);
    }
    const sp = ints(be, slotPos, 2 * N),
      S = kCache.length / (Tmax * C);
    for (let n = 0; sp && n < N; n++) {
      const slot = sp[2 * n],
        pos = sp[2 * n + 1];
      if (!(slot >= 0 && slot < S && pos >= 0 && pos < Tmax))
        throw new RangeError(`attentionRagged: token ${n} at slot ${slot}, position ${pos}: the caches hold ${S} slots of ${Tmax}`);
    }
  },

  // ---- elementwise
  geluForward: (_, out, inp, N) => elementwise('geluForward', N, { out, inp }),
  geluBackward: (_, dinp, inp, dout, N) => elementwise('geluBackward', N, { dinp, inp, dout }),
  residualForward: (_, out, a, b, N) => elementwise('residualForward', N, { out, a, b }),
  accumulate: (_, dst, src, N) => elementwise('accumulate', N, { dst, src }),
  dropoutForward(_, out, inp, N, p) {
    elementwise('dropoutForward', N, { out, inp });
    probability(p, 'dropoutForward');
  },
  dropoutBackward(_, dinp, dout, N, p) {
    elementwise('dropoutBackward', N, { dinp, dout });
    probability(p, 'dropoutBackward');
  },

  // ---- loss
  crossEntropyForward(be, losses, loss, logits, targets, weights, N, V) {
    sizes({ N, V }, 'crossEntropyForward');
    need(logits, N * V, 'crossEntropyForward logits');
    need(losses, N, 'crossEntropyForward losses');
    need(loss, 1, 'crossEntropyForward loss');
    need(weights, N, 'crossEntropyForward weights');
    for (const [t, n] of [
      [losses, 'losses'],
      [loss, 'loss'],
      [logits, 'logits'],
      [weights, 'weights'],
    ] as const)
      f32(t, `crossEntropyForward ${n}`);
    crossEntropyTargets(be, targets, N, V, 'crossEntropyForward');
  },
  crossEntropyBackward(be, dlogits, logits, targets, weights, N, V) {
    sizes({ N, V }, 'crossEntropyBackward');
    need(logits, N * V, 'crossEntropyBackward logits');
    need(dlogits, N * V, 'crossEntropyBackward dlogits');
    need(weights, N, 'crossEntropyBackward weights');
    for (const [t, n] of [
      [dlogits, 'dlogits'],
      [logits, 'logits'],
      [weights, 'weights'],
    ] as const)
      f32(t, `crossEntropyBackward ${n}`);
    crossEntropyTargets(be, targets, N, V, 'crossEntropyBackward');
  },

  // ---- rows
  gatherRows(be, out, inp, idx, R, C) {
    sizes({ R, C }, 'gatherRows');
    need(out, R * C, 'gatherRows out');
    f32(out, 'gatherRows out');
    f32(inp, 'gatherRows inp');
    rowIndices(be, idx, R, C > 0 ? Math.floor(inp.length / C) : 0, 'gatherRows');
  },
  scatterAddRows(be, dinp, dout, idx, R, C) {
    sizes({ R, C }, 'scatterAddRows');
    need(dout, R * C, 'scatterAddRows dout');
    f32(dinp, 'scatterAddRows dinp');
    f32(dout, 'scatterAddRows dout');
    rowIndices(be, idx, R, C > 0 ? Math.floor(dinp.length / C) : 0, 'scatterAddRows');
  },

  // ---- optimizer
  sumSquares(_, out, tensors) {
    need(out, 1, 'sumSquares out');
    f32(out, 'sumSquares out');
    tensors.forEach((t, i) => f32(t, `sumSquares tensor ${i}`));
  },
  adamw(_, param, grad, m, v, p: AdamWParams) {
    const N = param.length;
    need(grad, N, 'adamw grad');
    need(m, N, 'adamw m');
    need(v, N, 'adamw v');
    for (const [t, n] of [
      [param, 'param'],
      [grad, 'grad'],
      [m, 'm'],
      [v, 'v'],
    ] as const)
      f32(t, `adamw ${n}`);
    if (!(Number.isInteger(p.step) && p.step >= 1)) throw new RangeError(`adamw: step must be an integer >= 1 (Adam's bias correction), got ${p.step}`);
    if (p.gradNormSq) {
      need(p.gradNormSq, 1, 'adamw gradNormSq');
      f32(p.gradNormSq, 'adamw gradNormSq');
    }
  },
};

function elementwise(op: string, N: number, operands: Record<string, Tensor>): void {
  size(N, `${op}: N`);
  for (const [name, t] of Object.entries(operands)) {
    need(t, N, `${op} ${name}`);
    f32(t, `${op} ${name}`);
  }
}
function dropout(pDrop: number, rng: DropoutRng | null, op: string): void {
  if (pDrop !== 0 || rng) probability(pDrop, op);
}
function tokenIds(id: Int32Array, V: number): void {
  for (let i = 0; i < id.length; i++) if (!(id[i] >= 0 && id[i] < V)) throw new RangeError(`token id ${id[i]} outside the vocabulary of ${V}`);
}
function crossEntropyTargets(be: Backend, targets: Tensor, N: number, V: number, op: string): void {
  need(targets, N, `${op} targets`);
  i32(targets, `${op} targets`);
  const y = ints(be, targets, N);
  for (let n = 0; y && n < N; n++) if (y[n] >= V) throw new RangeError(`target ${y[n]} outside the vocabulary of ${V}`);
}
function rowIndices(be: Backend, idx: Tensor, R: number, rows: number, op: string): void {
  need(idx, R, `${op} idx`);
  i32(idx, `${op} idx`);
  const id = ints(be, idx, R);
  for (let r = 0; id && r < R; r++) if (!(id[r] >= 0 && id[r] < rows)) throw new RangeError(`row ${id[r]} outside a tensor of ${rows} rows`);
}

const wrapped = new WeakSet<object>();

/**
 * Wraps the Backend methods of a backend class so that each checks its arguments (CHECKS) before the
 * backend's own code runs. Called once per class, right after it (the class's file says so at its top).
 */
export function checkedOps(cls: abstract new (...args: never[]) => Backend): void {
  const proto = cls.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  if (wrapped.has(proto)) return;
  wrapped.add(proto);
  for (const [name, check] of Object.entries(CHECKS) as [string, (be: Backend, ...args: unknown[]) => void][]) {
    const impl = proto[name];
    if (typeof impl !== 'function') continue; // an optional method the backend does not have
    proto[name] = function (this: Backend, ...args: unknown[]) {
      check(this, ...args);
      return impl.apply(this, args);
    };
  }
}
