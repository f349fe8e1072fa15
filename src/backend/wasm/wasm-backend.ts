// The WebAssembly backend: tensors are views into one linear memory (Heap), ops pass byte addresses to
// the kernels built from wasm/assembly (no copies), and a Pool of workers over a shared memory splits
// each kernel's work when there is more than one thread. Argument checks mirror the reference backend's.
import type { AdamWParams, Arena, ArenaSpec, Backend, DType, DropoutRng, Tensor } from '../backend.ts';
import { dropThreshold, rngKey } from '../rng.ts';
import { type Block, Heap } from './heap.ts';
import { PARTIALS_OFFSET, type Pool } from './pool.ts';

type Kernel = (...args: number[]) => number | void;

interface WasmTensor extends Tensor {
  readonly buffer: Block;
}

/** below this much work (≈ flops) a kernel runs on the calling thread alone: waking workers costs more */
const PARALLEL_MIN_WORK = 1 << 15;

function need(t: Tensor, n: number, what: string): void {
  if (t.length < n) throw new RangeError(`${what}: tensor of ${t.length} elements, op needs ${n}`);
}

function noF16(name: string): never {
  throw new Error(`backend ${name} has no f16 storage (f16 weights need WebGPU with shader-f16)`);
}

export class WasmBackend implements Backend {
  /** no f16 kernels yet: weights stay f32 here */
  readonly f16Storage = false;
  /**
   * LM-head logits at once: 32M floats (128 MiB; 829 rows of GPT-1's vocabulary). The head's three
   * matmuls have the chunk's rows as M or K, and measured at GPT-1's 512 positions the whole head runs
   * 9% faster in one chunk of 512 rows than in five of 103 (the default's).
   */
  readonly logitChunkElements = 1 << 25;
  private readonly heap: Heap;
  private readonly k: Record<string, Kernel>;
  private scratch: Block | null = null;
  private scratchStride = 0;
  private u8: Uint8Array;

  constructor(
    readonly name: string,
    private readonly memory: WebAssembly.Memory,
    exports: Record<string, unknown>,
    private readonly pool: Pool | null,
    readonly ctrl: number,
    readonly memoryLimit: number,
  ) {
    this.k = exports as Record<string, Kernel>;
    this.heap = new Heap(memory, ctrl + 4096, memoryLimit);
    this.u8 = new Uint8Array(memory.buffer);
  }

  /** bytes of linear memory held by live tensors and kernel scratch (diagnostics, leak tests) */
  get bytesInUse(): number {
    return this.heap.used;
  }
  get threads(): number {
    return this.pool ? this.pool.threads : 1;
  }

  /** Terminates the worker pool (the backend must not be used afterwards). */
  dispose(): void {
    this.pool?.close();
  }

  // ---- plumbing -----------------------------------------------------------------------------------
  private addr(t: Tensor): number {
    const b = (t as WasmTensor).buffer;
    if (b.freed) throw new Error('wasm backend: tensor used after free');
    return b.addr + t.offset * 4;
  }
  /** the memory's bytes; a grown memory has a new buffer (the old one is detached or too short) */
  private bytes(): Uint8Array {
    if (this.u8.byteLength !== this.memory.buffer.byteLength) this.u8 = new Uint8Array(this.memory.buffer);
    return this.u8;
  }
  private f32(t: Tensor): Float32Array {
    return new Float32Array(this.bytes().buffer, this.addr(t), t.length);
  }
  private i32(t: Tensor): Int32Array {
    return new Int32Array(this.bytes().buffer, this.addr(t), t.length);
  }
  private view(t: Tensor): Float32Array | Int32Array {
    return t.dtype === 'f32' ? this.f32(t) : this.i32(t);
  }
  /** Runs a kernel over all threads (when the work pays for waking them) or on this one. */
  private run(name: string, work: number, ...args: number[]): void {
    if (this.pool && work >= PARALLEL_MIN_WORK) this.pool.run(name, args);
    else this.k[name](...args, 0, 1);
  }
  /** per-thread scratch of at least `bytes`; returns [base, stride] */
  private scratchFor(bytes: number): [number, number] {
    // + a page so that threads' regions never share cache lines or 4K aliasing sets
    const stride = Math.ceil(bytes / 64) * 64 + 4096;
    if (!this.scratch || stride > this.scratchStride) {
      if (this.scratch) this.heap.release(this.scratch);
      this.scratch = this.heap.alloc(stride * this.threads);
      this.scratchStride = stride;
    }
    return [this.scratch.addr, this.scratchStride];
  }

  // ---- memory -------------------------------------------------------------------------------------
  allocArena(specs: ArenaSpec[]): Arena {
    const offsets: number[] = [];
    let total = 0;
    for (const s of specs) {
      if (s.dtype === 'f16') noF16(this.name);
      offsets.push(total);
      total += Math.ceil(s.length / 16) * 16; // each view on its own 64-byte line
    }
    const block = this.heap.alloc(total * 4);
    const arena: Arena = {};
    specs.forEach((s, i) => {
      arena[s.name] = { buffer: block, offset: offsets[i], length: s.length, dtype: s.dtype ?? 'f32' } as WasmTensor;
    });
    return arena;
  }
  alloc(length: number, dtype: DType = 'f32'): Tensor {
    if (dtype === 'f16') noF16(this.name);
    return { buffer: this.heap.alloc(length * 4), offset: 0, length, dtype } as WasmTensor;
  }
  free(...tensors: Tensor[]): void {
    for (const t of tensors) this.heap.release((t as WasmTensor).buffer);
  }
  slice(t: Tensor, offset: number, length: number): Tensor {
    if (offset < 0 || length < 0 || offset + length > t.length) throw new RangeError(`slice [${offset}, +${length}) outside a tensor of ${t.length}`);
    return { buffer: t.buffer, offset: t.offset + offset, length, dtype: t.dtype } as WasmTensor;
  }
  write(t: Tensor, data: Float32Array | Int32Array, dstOffset = 0): void {
    if (dstOffset + data.length > t.length) throw new RangeError(`write of ${data.length} at ${dstOffset} into a tensor of ${t.length}`);
    if ((t.dtype === 'f32') === data instanceof Float32Array) {
      this.bytes().set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), this.addr(t) + dstOffset * 4);
    } else {
      this.view(t).set(data, dstOffset); // converting f32 <-> i32 values
    }
  }
  read(t: Tensor): Promise<Float32Array | Int32Array> {
    return Promise.resolve(this.view(t).slice());
  }
  sync(): Promise<void> {
    return Promise.resolve();
  }
  fill(t: Tensor, value: number): void {
    this.view(t).fill(value);
  }
  copy(dst: Tensor, src: Tensor): void {
    need(dst, src.length, 'copy');
    if (dst.dtype === src.dtype) this.bytes().copyWithin(this.addr(dst), this.addr(src), this.addr(src) + src.length * 4);
    else this.view(dst).set(this.view(src));
  }

  // ---- embedding ----------------------------------------------------------------------------------
  encoderForward(out: Tensor, ids: Tensor, wte: Tensor, wpe: Tensor, B: number, T: number, C: number, posOffset: number): void {
    need(ids, B * T, 'encoderForward ids');
    need(out, B * T * C, 'encoderForward out');
    const V = wte.length / C;
    const id = this.i32(ids);
    for (let i = 0; i < B * T; i++) if (id[i] < 0 || id[i] >= V) throw new RangeError(`token id ${id[i]} outside the vocabulary of ${V}`);
    if ((posOffset + T) * C > wpe.length) throw new RangeError(`position ${posOffset + T - 1} beyond the context of ${wpe.length / C}`);
    this.run('encoderForward', B * T * C, this.addr(out), this.addr(ids), this.addr(wte), this.addr(wpe), B, T, C, posOffset);
  }
  encoderBackward(dwte: Tensor, dwpe: Tensor, dout: Tensor, ids: Tensor, B: number, T: number, C: number): void {
    need(dout, B * T * C, 'encoderBackward dout');
    need(dwpe, T * C, 'encoderBackward dwpe');
    const V = dwte.length / C, id = this.i32(ids);
    for (let i = 0; i < B * T; i++) if (id[i] < 0 || id[i] >= V) throw new RangeError(`token id ${id[i]} outside the vocabulary of ${V}`);
    this.run('encoderBackward', B * T * C, this.addr(dwte), this.addr(dwpe), this.addr(dout), this.addr(ids), B, T, C);
  }

  // ---- layernorm ----------------------------------------------------------------------------------
  layernormForward(out: Tensor, mean: Tensor, rstd: Tensor, inp: Tensor, w: Tensor, b: Tensor, N: number, C: number, eps: number): void {
    need(inp, N * C, 'layernormForward');
    need(out, N * C, 'layernormForward out');
    need(mean, N, 'layernormForward mean');
    need(rstd, N, 'layernormForward rstd');
    this.run('layernormForward', N * C * 4, this.addr(out), this.addr(mean), this.addr(rstd), this.addr(inp), this.addr(w), this.addr(b), N, C, eps);
  }
  layernormBackward(dinp: Tensor, dw: Tensor, db: Tensor, dout: Tensor, inp: Tensor, w: Tensor, mean: Tensor, rstd: Tensor, N: number, C: number): void {
    need(dinp, N * C, 'layernormBackward dinp');
    need(dout, N * C, 'layernormBackward dout');
    this.run('layernormBackwardInput', N * C * 6, this.addr(dinp), this.addr(dout), this.addr(inp), this.addr(w), this.addr(mean), this.addr(rstd), N, C);
    this.run('layernormBackwardParams', N * C * 4, this.addr(dw), this.addr(db), this.addr(dout), this.addr(inp), this.addr(mean), this.addr(rstd), N, C);
  }

  // ---- matmul -------------------------------------------------------------------------------------
  matmul(out: Tensor, a: Tensor, b: Tensor, bias: Tensor | null, M: number, K: number, N: number, transA: boolean, transB: boolean, beta: 0 | 1): void {
    need(a, M * K, 'matmul a');
    need(b, K * N, 'matmul b');
    need(out, M * N, 'matmul out');
    if (bias) need(bias, N, 'matmul bias');
    const [s, stride] = this.scratchFor(this.k.matmulScratchBytes() as number);
    this.run('matmul', 2 * M * K * N, this.addr(out), this.addr(a), this.addr(b), bias ? this.addr(bias) : 0, M, K, N, +transA, +transB, beta, s, stride);
  }
  biasBackward(dbias: Tensor, dout: Tensor, M: number, N: number): void {
    need(dout, M * N, 'biasBackward dout');
    need(dbias, N, 'biasBackward dbias');
    this.run('biasBackward', M * N, this.addr(dbias), this.addr(dout), M, N);
  }

  // ---- attention ----------------------------------------------------------------------------------
  private dropArgs(pDrop: number, rng: DropoutRng | null): [number, number, number, number] {
    if (!(pDrop > 0 && rng)) return [0, 0, 0, 1];
    return [1, rngKey(rng), dropThreshold(pDrop), 1 / (1 - pDrop)];
  }
  private heads(C: number, NH: number): void {
    if (C % NH !== 0) throw new RangeError(`C = ${C} is not a multiple of NH = ${NH}`);
  }
  attentionForward(out: Tensor, lse: Tensor, qkv: Tensor, B: number, T: number, C: number, NH: number, pDrop: number, rng: DropoutRng | null): void {
    this.heads(C, NH);
    need(qkv, B * T * 3 * C, 'attentionForward qkv');
    need(out, B * T * C, 'attentionForward out');
    need(lse, B * NH * T, 'attentionForward lse');
    const [s, stride] = this.scratchFor(this.k.attentionScratchBytes(T, C / NH, 0) as number);
    this.run('attentionForward', 2 * B * T * T * C, this.addr(out), this.addr(lse), this.addr(qkv), B, T, C, NH, ...this.dropArgs(pDrop, rng), s, stride);
  }
  attentionBackward(dqkv: Tensor, dout: Tensor, qkv: Tensor, out: Tensor, lse: Tensor, B: number, T: number, C: number, NH: number, pDrop: number, rng: DropoutRng | null): void {
    this.heads(C, NH);
    need(dqkv, B * T * 3 * C, 'attentionBackward dqkv');
    need(qkv, B * T * 3 * C, 'attentionBackward qkv');
    need(dout, B * T * C, 'attentionBackward dout');
    const [s, stride] = this.scratchFor(this.k.attentionScratchBytes(T, C / NH, 1) as number);
    this.run('attentionBackward', 4 * B * T * T * C, this.addr(dqkv), this.addr(dout), this.addr(qkv), this.addr(out), this.addr(lse), B, T, C, NH, ...this.dropArgs(pDrop, rng), s, stride);
  }
  attentionCached(out: Tensor, qkv: Tensor, kCache: Tensor, vCache: Tensor, B: number, Tn: number, C: number, NH: number, pos0: number, Tmax: number): void {
    this.heads(C, NH);
    if (pos0 + Tn > Tmax) throw new RangeError(`KV cache of ${Tmax} positions cannot hold ${pos0 + Tn}`);
    need(qkv, B * Tn * 3 * C, 'attentionCached qkv');
    need(out, B * Tn * C, 'attentionCached out');
    need(kCache, B * Tmax * C, 'attentionCached kCache');
    need(vCache, B * Tmax * C, 'attentionCached vCache');
    this.run('kvCacheWrite', B * Tn * C * 2, this.addr(qkv), this.addr(kCache), this.addr(vCache), B, Tn, C, pos0, Tmax);
    const [s, stride] = this.scratchFor(this.k.attentionScratchBytes(pos0 + Tn, C / NH, 0) as number);
    this.run('attentionCached', 4 * B * Tn * (pos0 + Tn) * C, this.addr(out), this.addr(qkv), this.addr(kCache), this.addr(vCache), B, Tn, C, NH, pos0, Tmax, s, stride);
  }

  attentionRagged(out: Tensor, qkv: Tensor, kCache: Tensor, vCache: Tensor, slotPos: Tensor, N: number, C: number, NH: number, Tmax: number): void {
    this.heads(C, NH);
    need(qkv, N * 3 * C, 'attentionRagged qkv');
    need(out, N * C, 'attentionRagged out');
    need(slotPos, 2 * N, 'attentionRagged slotPos');
    if (kCache.length % (Tmax * C) !== 0 || vCache.length !== kCache.length) throw new RangeError(`attentionRagged: caches of ${kCache.length} and ${vCache.length} elements are not slots of ${Tmax} × ${C}`);
    const S = kCache.length / (Tmax * C), sp = this.i32(slotPos);
    let work = 0;
    for (let n = 0; n < N; n++) {
      const slot = sp[2 * n], pos = sp[2 * n + 1];
      if (!(slot >= 0 && slot < S && pos >= 0 && pos < Tmax)) throw new RangeError(`attentionRagged: token ${n} at slot ${slot}, position ${pos}: the caches hold ${S} slots of ${Tmax}`);
      work += 4 * (pos + 1) * C;
    }
    // every token's k, v first: a prefill chunk's tokens attend to rows its earlier tokens write here
    this.run('kvCacheWriteRagged', N * C * 2, this.addr(qkv), this.addr(kCache), this.addr(vCache), this.addr(slotPos), N, C, Tmax);
    const [s, stride] = this.scratchFor((Tmax + 4) * 4);
    this.run('attentionRagged', work, this.addr(out), this.addr(qkv), this.addr(kCache), this.addr(vCache), this.addr(slotPos), N, C, NH, Tmax, s, stride);
  }

  // ---- elementwise --------------------------------------------------------------------------------
  geluForward(out: Tensor, inp: Tensor, N: number): void {
    need(inp, N, 'geluForward');
    need(out, N, 'geluForward out');
    this.run('geluForward', N * 16, this.addr(out), this.addr(inp), N);
  }
  geluBackward(dinp: Tensor, inp: Tensor, dout: Tensor, N: number): void {
    need(dinp, N, 'geluBackward');
    this.run('geluBackward', N * 24, this.addr(dinp), this.addr(inp), this.addr(dout), N);
  }
  residualForward(out: Tensor, a: Tensor, b: Tensor, N: number): void {
    need(out, N, 'residualForward');
    this.run('residualForward', N, this.addr(out), this.addr(a), this.addr(b), N);
  }
  accumulate(dst: Tensor, src: Tensor, N: number): void {
    need(dst, N, 'accumulate');
    this.run('accumulate', N, this.addr(dst), this.addr(src), N);
  }
  scale(out: Tensor, inp: Tensor, s: number, N: number): void {
    need(out, N, 'scale');
    this.run('scale', N, this.addr(out), this.addr(inp), s, N);
  }
  dropoutForward(out: Tensor, inp: Tensor, N: number, p: number, rng: DropoutRng): void {
    need(out, N, 'dropout');
    need(inp, N, 'dropout');
    const thr = dropThreshold(p);
    this.run('dropout', N * 8, this.addr(out), this.addr(inp), N, rngKey(rng), thr, 1 / (1 - p));
  }
  dropoutBackward(dinp: Tensor, dout: Tensor, N: number, p: number, rng: DropoutRng): void {
    this.dropoutForward(dinp, dout, N, p, rng);
  }

  // ---- loss ---------------------------------------------------------------------------------------
  private checkTargets(targets: Tensor, N: number, V: number): void {
    need(targets, N, 'targets');
    const y = this.i32(targets);
    for (let n = 0; n < N; n++) if (y[n] >= V) throw new RangeError(`target ${y[n]} outside the vocabulary of ${V}`);
  }
  crossEntropyForward(losses: Tensor, loss: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, N: number, V: number): void {
    need(logits, N * V, 'crossEntropyForward logits');
    need(losses, N, 'crossEntropyForward losses');
    this.checkTargets(targets, N, V);
    this.run('crossEntropyForward', N * V * 8, this.addr(losses), this.addr(logits), this.addr(targets), N, V);
    this.k.crossEntropyReduce(this.addr(loss), this.addr(losses), this.addr(targets), this.addr(weights), N);
  }
  crossEntropyBackward(dlogits: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, N: number, V: number, dscale: number): void {
    need(logits, N * V, 'crossEntropyBackward logits');
    need(dlogits, N * V, 'crossEntropyBackward dlogits');
    this.checkTargets(targets, N, V);
    this.run('crossEntropyBackward', N * V * 12, this.addr(dlogits), this.addr(logits), this.addr(targets), this.addr(weights), N, V, dscale);
  }
  softmaxForward(probs: Tensor, logits: Tensor, N: number, V: number, temperature: number): void {
    need(logits, N * V, 'softmaxForward logits');
    need(probs, N * V, 'softmaxForward probs');
    if (!(temperature > 0)) throw new RangeError(`temperature must be > 0, got ${temperature}`);
    this.run('softmaxForward', N * V * 8, this.addr(probs), this.addr(logits), N, V, temperature);
  }

  // ---- rows ---------------------------------------------------------------------------------------
  private checkRows(idx: Tensor, R: number, rows: number): void {
    need(idx, R, 'row indices');
    const id = this.i32(idx);
    for (let r = 0; r < R; r++) if (id[r] < 0 || id[r] >= rows) throw new RangeError(`row ${id[r]} outside a tensor of ${rows} rows`);
  }
  gatherRows(out: Tensor, inp: Tensor, idx: Tensor, R: number, C: number): void {
    need(out, R * C, 'gatherRows out');
    this.checkRows(idx, R, Math.floor(inp.length / C));
    this.run('gatherRows', R * C, this.addr(out), this.addr(inp), this.addr(idx), R, C);
  }
  scatterAddRows(dinp: Tensor, dout: Tensor, idx: Tensor, R: number, C: number): void {
    need(dout, R * C, 'scatterAddRows dout');
    this.checkRows(idx, R, Math.floor(dinp.length / C));
    this.run('scatterAddRows', R * C, this.addr(dinp), this.addr(dout), this.addr(idx), R, C);
  }

  // ---- optimizer ----------------------------------------------------------------------------------
  sumSquares(out: Tensor, tensors: Tensor[]): void {
    const partials = this.ctrl + PARTIALS_OFFSET;
    new Float64Array(this.bytes().buffer, partials, this.threads).fill(0);
    for (const t of tensors) this.run('sumSquaresPartial', t.length * 2, partials, this.addr(t), t.length);
    this.k.sumSquaresFinish(this.addr(out), partials, this.threads);
  }
  adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, p: AdamWParams): void {
    const N = param.length;
    need(grad, N, 'adamw grad');
    need(m, N, 'adamw m');
    need(v, N, 'adamw v');
    const clip = p.gradNormSq && p.maxNorm !== undefined;
    this.run('adamw', N * 16, this.addr(param), this.addr(grad), this.addr(m), this.addr(v), N, p.lr, p.beta1, p.beta2, p.eps, p.weightDecay,
      1 - p.beta1 ** p.step, 1 - p.beta2 ** p.step, clip ? this.addr(p.gradNormSq!) : 0, clip ? p.maxNorm! : 0);
  }
}
