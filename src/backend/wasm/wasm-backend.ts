// The WebAssembly backend: tensors are views into one linear memory (Heap), ops pass byte addresses to
// the kernels built from wasm/assembly (no copies), and a Pool of workers over a shared memory splits
// each kernel's work when there is more than one thread. Kernels are called through their declarations in
// kernels.ts, arguments by name. Op arguments arrive checked (src/backend/checks.ts, applied at the end of
// this file), token ids and row indices included, so no kernel reads or writes outside its tensors.
import type { AdamWParams, Arena, ArenaSpec, Backend, DType, DropoutRng, Tensor } from '../backend.ts';
import { dropThreshold, rngKey } from '../rng.ts';
import { f16Bits, f16Value } from '../f16.ts';
import { codeBytesPerRow, dequantizeRows, isQuant, quantizeRows, scalesPerRow, type QuantDType, type QuantizedRows } from '../quant.ts';
import { checkedOps, HOST_INTS } from '../checks.ts';
import { type Block, Heap } from './heap.ts';
import { PARTIALS_OFFSET, type Pool } from './pool.ts';
import { argList, bindKernels, paramNames, type ArgsOf, type DirectKernel, type Kernels, type SplitKernel } from './kernels.ts';

interface WasmTensor extends Tensor {
  readonly buffer: Block;
}

/** new queries up to which attention on an f16 KV cache reads the halves directly (more: a prompt, widened to f32 for the tiles) */
const HALF_ROWS_MAX = 12;

/** below this much work (≈ flops) a kernel runs on the calling thread alone: waking workers costs more */
const PARALLEL_MIN_WORK = 1 << 15;

/** q8's code sums per row: one per block of 256 along K, the activations' quantization block (wasm/assembly/quant.ts QK) */
const q8SumsPerRow = (K: number): number => Math.ceil(K / 256);

/**
 * Where a quantized (rows, K) tensor keeps its parts inside its block: the codes (as the file holds them),
 * then at `scales` (16-byte aligned) q8's f32 scales or q4's f16 scales, row-major; for q8 then at `wsums`
 * (16-byte aligned) each row's code sums per block of 256 along K (i32, (rows, ceil(K/256)); derived from
 * the codes by writeQuantized, for the activations' zero points in wasm/assembly/quant.ts); plus 16 bytes
 * of slack that kernels reading whole vectors past a row's end may touch (they multiply it by zero).
 */
function quantLayout(dtype: QuantDType, rows: number, K: number): { scales: number; wsums: number; bytes: number } {
  const codes = rows * codeBytesPerRow(dtype, K),
    scales = Math.ceil(codes / 16) * 16,
    wsums = Math.ceil((scales + rows * scalesPerRow(dtype, K) * (dtype === 'q8' ? 4 : 2)) / 16) * 16;
  return { scales, wsums, bytes: wsums + (dtype === 'q8' ? rows * q8SumsPerRow(K) * 4 : 0) + 16 };
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
  /** int8 / int4 weights on integer dot products (wasm/assembly/quant.ts) */
  readonly quantStorage = true;
  /** f16 tensors (alloc) are half-precision KV caches (wasm/assembly/halfkv.ts) */
  readonly halfKVCache = true;
  private readonly heap: Heap;
  private readonly k: Kernels;
  private scratch: Block | null = null;
  private scratchStride = 0;
  /** an operand packed whole for matmul's shares (b for row shares, a for column shares; at most 32 MiB), kept for the next call like the scratch */
  private packed: Block | null = null;
  private u8: Uint8Array;

  constructor(
    readonly name: string,
    private readonly memory: WebAssembly.Memory,
    /** the kernel module instance's exports (checked against kernels.ts) */
    exports: Record<string, unknown>,
    private readonly pool: Pool | null,
    readonly ctrl: number,
    readonly memoryLimit: number,
  ) {
    this.k = bindKernels(exports);
    this.heap = new Heap(memory, ctrl + 4096, memoryLimit, (dst, n) => this.fillWords(dst, n, 0));
    this.u8 = new Uint8Array(memory.buffer);
  }

  /** bytes of linear memory held by live tensors and kernel scratch (diagnostics, leak tests) */
  get bytesInUse(): number {
    return this.heap.used;
  }
  /** bytes of linear memory (what an isolate's memory limit counts, used or not) */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
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
  /** a KV cache's address: f32, or f16 (2 bytes an element) */
  private kvAddr(t: Tensor): number {
    if (t.dtype !== 'f16') return this.addr(t);
    const b = (t as WasmTensor).buffer;
    if (b.freed) throw new Error('wasm backend: tensor used after free');
    return b.addr + t.offset * 2;
  }
  private halves(t: Tensor): Uint16Array {
    return new Uint16Array(this.bytes().buffer, this.kvAddr(t), t.length);
  }
  /** a quantized tensor's codes, scales and (q8) code sums addresses, its rows and row length */
  private quant(t: Tensor): { codes: number; scales: number; wsums: number; rows: number; K: number; dtype: QuantDType; bits: number } {
    const b = (t as WasmTensor).buffer;
    if (b.freed) throw new Error('wasm backend: tensor used after free');
    const K = t.rowLength!,
      rows = t.length / K,
      dtype = t.dtype as QuantDType,
      at = quantLayout(dtype, rows, K);
    return { codes: b.addr, scales: b.addr + at.scales, wsums: b.addr + at.wsums, rows, K, dtype, bits: dtype === 'q8' ? 8 : 4 };
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
  private run<K extends SplitKernel>(name: K, work: number, args: ArgsOf<K>, shares = 0): void {
    const a = argList(name, args);
    if (this.pool && work >= PARALLEL_MIN_WORK)
      this.pool.run(name, a, shares > 0 ? { count: shares, scratchArg: paramNames(name).indexOf('scratch') } : undefined);
    else this.k[name](...a, 0, 1);
  }
  /** Runs a kernel that answers a value on this thread. */
  private call<K extends DirectKernel>(name: K, args: ArgsOf<K>): number {
    return this.k[name](...argList(name, args));
  }
  /** bytes [dst, dst + n) = the 32-bit word repeated (a kernel: JS's fill on a shared memory is slow) */
  private fillWords(dst: number, n: number, word: number): void {
    this.run('fillWords', n / 4, { dst, n, word });
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

  private packedFor(bytes: number): number {
    if (!this.packed || this.packed.bytes < bytes) {
      if (this.packed) this.heap.release(this.packed);
      this.packed = this.heap.alloc(bytes);
    }
    return this.packed.addr;
  }

  // ---- memory -------------------------------------------------------------------------------------
  allocArena(specs: ArenaSpec[]): Arena {
    const offsets: number[] = [];
    let total = 0;
    const arena: Arena = {};
    for (const s of specs) {
      offsets.push(total);
      if (isQuant(s.dtype ?? 'f32'))
        arena[s.name] = this.alloc(s.length, s.dtype, s.rowLength); // a block of its own
      else total += Math.ceil(s.length / 16) * 16; // each view on its own 64-byte line
    }
    const block = this.heap.alloc(total * 4);
    specs.forEach((s, i) => {
      if (!arena[s.name]) arena[s.name] = { buffer: block, offset: offsets[i], length: s.length, dtype: s.dtype ?? 'f32' } as WasmTensor;
    });
    return arena;
  }
  alloc(length: number, dtype: DType = 'f32', rowLength?: number): Tensor {
    if (dtype === 'f16') return { buffer: this.heap.alloc(Math.ceil(length / 2) * 4), offset: 0, length, dtype } as WasmTensor;
    if (isQuant(dtype)) {
      const K = rowLength!;
      const t = { buffer: this.heap.alloc(quantLayout(dtype, length / K, K).bytes), offset: 0, length, dtype, rowLength: K } as WasmTensor;
      if (dtype === 'q4') this.fillWords(this.quant(t).codes, (length / K) * codeBytesPerRow(dtype, K), 0x88888888); // zeros are code 8
      return t;
    }
    return { buffer: this.heap.alloc(length * 4), offset: 0, length, dtype } as WasmTensor;
  }
  free(...tensors: Tensor[]): void {
    for (const t of tensors) this.heap.release((t as WasmTensor).buffer);
  }
  slice(t: Tensor, offset: number, length: number): Tensor {
    if (isQuant(t.dtype)) return t; // whole (checks.ts)
    return { buffer: t.buffer, offset: t.offset + offset, length, dtype: t.dtype } as WasmTensor;
  }
  write(t: Tensor, data: Float32Array | Int32Array, dstOffset = 0): void {
    if (isQuant(t.dtype)) {
      const K = t.rowLength!;
      this.writeQuantized(t, quantizeRows(t.dtype, Float32Array.from(data), data.length / K, K), dstOffset / K);
      return;
    }
    if (t.dtype === 'f16') {
      const h = this.halves(t);
      for (let i = 0; i < data.length; i++) h[dstOffset + i] = f16Bits(data[i]);
      return;
    }
    if ((t.dtype === 'f32') === data instanceof Float32Array) {
      this.bytes().set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), this.addr(t) + dstOffset * 4);
    } else {
      this.view(t).set(data, dstOffset); // converting f32 <-> i32 values
    }
  }
  read(t: Tensor): Promise<Float32Array | Int32Array> {
    if (isQuant(t.dtype)) return this.readQuantized(t).then((q) => dequantizeRows(t.dtype as QuantDType, q, t.length / t.rowLength!, t.rowLength!));
    if (t.dtype === 'f16') return Promise.resolve(Float32Array.from(this.halves(t), f16Value));
    return Promise.resolve(this.view(t).slice());
  }
  writeQuantized(t: Tensor, q: QuantizedRows, firstRow = 0): void {
    const { codes, scales, wsums, K, dtype } = this.quant(t);
    const cb = codeBytesPerRow(dtype, K),
      sc = scalesPerRow(dtype, K),
      n = q.codes.length / cb;
    const mem = this.bytes();
    mem.set(new Uint8Array(q.codes.buffer, q.codes.byteOffset, q.codes.byteLength), codes + firstRow * cb);
    if (dtype === 'q8') {
      new Float32Array(mem.buffer, scales + firstRow * sc * 4, n * sc).set(q.scales);
      this.run('q8BlockSums', n * K, { codes: codes + firstRow * K, wsums: wsums + firstRow * q8SumsPerRow(K) * 4, rows: n, K });
    } else {
      const h = new Uint16Array(mem.buffer, scales + firstRow * sc * 2, n * sc);
      for (let i = 0; i < h.length; i++) h[i] = f16Bits(q.scales[i]);
    }
  }
  readQuantized(t: Tensor): Promise<QuantizedRows> {
    const { codes, scales, rows, K, dtype } = this.quant(t);
    const mem = this.bytes(),
      n = rows * scalesPerRow(dtype, K),
      cb = rows * codeBytesPerRow(dtype, K);
    if (dtype === 'q8')
      return Promise.resolve({ codes: new Int8Array(mem.buffer, codes, cb).slice(), scales: new Float32Array(mem.buffer, scales, n).slice() });
    return Promise.resolve({
      codes: new Uint8Array(mem.buffer, codes, cb).slice(),
      scales: Float32Array.from(new Uint16Array(mem.buffer, scales, n), f16Value),
    });
  }
  sync(): Promise<void> {
    return Promise.resolve();
  }
  fill(t: Tensor, value: number): void {
    if (t.dtype === 'f16') {
      const h = f16Bits(value);
      this.fillWords(this.kvAddr(t), t.length * 2, (h | (h << 16)) >>> 0);
      return;
    }
    const word = new (t.dtype === 'f32' ? Float32Array : Int32Array)([value]);
    this.fillWords(this.addr(t), t.length * 4, new Uint32Array(word.buffer)[0]);
  }
  copy(dst: Tensor, src: Tensor): void {
    if (dst.dtype === 'f16') {
      this.halves(dst).set(this.halves(src));
      return;
    }
    if (dst.dtype === src.dtype) this.bytes().copyWithin(this.addr(dst), this.addr(src), this.addr(src) + src.length * 4);
    else this.view(dst).set(this.view(src));
  }

  // ---- embedding ----------------------------------------------------------------------------------
  encoderForward(out: Tensor, ids: Tensor, wte: Tensor, wpe: Tensor, B: number, T: number, C: number, posOffset: number): void {
    if (isQuant(wte.dtype)) {
      const q = this.quant(wte);
      this.run('encoderForwardQ', B * T * C * 4, {
        out: this.addr(out),
        ids: this.addr(ids),
        codes: q.codes,
        scales: q.scales,
        wpe: this.addr(wpe),
        B,
        T,
        C,
        posOffset,
        bits: q.bits,
      });
      return;
    }
    this.run('encoderForward', B * T * C, { out: this.addr(out), ids: this.addr(ids), wte: this.addr(wte), wpe: this.addr(wpe), B, T, C, posOffset });
  }
  encoderBackward(dwte: Tensor, dwpe: Tensor, dout: Tensor, ids: Tensor, B: number, T: number, C: number): void {
    this.run('encoderBackward', B * T * C, { dwte: this.addr(dwte), dwpe: this.addr(dwpe), dout: this.addr(dout), ids: this.addr(ids), B, T, C });
  }

  // ---- layernorm ----------------------------------------------------------------------------------
  layernormForward(out: Tensor, mean: Tensor, rstd: Tensor, inp: Tensor, w: Tensor, b: Tensor, N: number, C: number, eps: number): void {
    this.run('layernormForward', N * C * 4, {
      out: this.addr(out),
      mean: this.addr(mean),
      rstd: this.addr(rstd),
      inp: this.addr(inp),
      w: this.addr(w),
      b: this.addr(b),
      N,
      C,
      eps,
    });
  }
  layernormBackward(dinp: Tensor, dw: Tensor, db: Tensor, dout: Tensor, inp: Tensor, w: Tensor, mean: Tensor, rstd: Tensor, N: number, C: number): void {
    const saved = { dout: this.addr(dout), inp: this.addr(inp), mean: this.addr(mean), rstd: this.addr(rstd), N, C };
    this.run('layernormBackwardInput', N * C * 6, { dinp: this.addr(dinp), w: this.addr(w), ...saved });
    this.run('layernormBackwardParams', N * C * 4, { dw: this.addr(dw), db: this.addr(db), ...saved });
  }

  // ---- matmul -------------------------------------------------------------------------------------
  matmul(out: Tensor, a: Tensor, b: Tensor, bias: Tensor | null, M: number, K: number, N: number, transA: boolean, transB: boolean, beta: 0 | 1): void {
    if (isQuant(b.dtype)) {
      const q = this.quant(b);
      const [scratch, scratchStride] = this.scratchFor(this.call('matmulQScratchBytes', { K }));
      this.run('matmulQ', 2 * M * K * N, {
        out: this.addr(out),
        a: this.addr(a),
        codes: q.codes,
        scales: q.scales,
        wsums: q.wsums,
        bias: bias ? this.addr(bias) : 0,
        M,
        K,
        N,
        beta,
        bits: q.bits,
        scratch,
        scratchStride,
      });
      return;
    }
    // one row of a against b (K,N): threads split K (each streams its own rows of b) when that pays
    const slabBytes = this.pool && M === 1 && !transA && !transB ? this.call('gemvSlabBytes', { K, N, nth: this.threads }) : 0;
    if (slabBytes > 0) {
      const [sums] = this.scratchFor(Math.ceil(slabBytes / this.threads));
      this.run('gemvSlabs', 2 * K * N, { sums, a: this.addr(a), b: this.addr(b), K, N });
      this.run('gemvFold', slabBytes / 4, { out: this.addr(out), sums, bias: bias ? this.addr(bias) : 0, K, N, beta });
      return;
    }
    const [scratch, scratchStride] = this.scratchFor(this.call('matmulScratchBytes', {}));
    // at 2+ threads, work in shares that threads take one at a time (Pool.run): columns of out where it is
    // wide, else rows against b packed once by all threads
    const shape = { M, K, N, transA: +transA, nth: this.threads };
    const shares = this.pool ? this.call('matmulShares', shape) : 0;
    const rowShares = this.pool && !shares ? this.call('matmulRowShares', shape) : 0;
    if (rowShares > 0) {
      const bp = this.packedFor(this.call('matmulPackedBytes', { K, N }));
      this.run('matmulPackB', K * N, { bp, b: this.addr(b), K, N, transB: +transB });
      this.run(
        'matmulRows',
        2 * M * K * N,
        { out: this.addr(out), a: this.addr(a), bp, bias: bias ? this.addr(bias) : 0, M, K, N, transA: +transA, beta, scratch, scratchStride },
        rowShares,
      );
      return;
    }
    // column shares against a packed once by all threads (each share packing a for itself: 4 packs per thread)
    const packedABytes = shares > 0 ? this.call('matmulPackedABytes', { M, K }) : 0;
    if (packedABytes > 0) {
      const ap = this.packedFor(packedABytes);
      this.run('matmulPackA', M * K, { ap, a: this.addr(a), M, K, transA: +transA });
      this.run(
        'matmulCols',
        2 * M * K * N,
        { out: this.addr(out), ap, b: this.addr(b), bias: bias ? this.addr(bias) : 0, M, K, N, transB: +transB, beta, scratch, scratchStride },
        shares,
      );
      return;
    }
    this.run(
      'matmul',
      2 * M * K * N,
      {
        out: this.addr(out),
        a: this.addr(a),
        b: this.addr(b),
        bias: bias ? this.addr(bias) : 0,
        M,
        K,
        N,
        transA: +transA,
        transB: +transB,
        beta,
        scratch,
        scratchStride,
      },
      shares,
    );
  }
  biasBackward(dbias: Tensor, dout: Tensor, M: number, N: number): void {
    this.run('biasBackward', M * N, { dbias: this.addr(dbias), dout: this.addr(dout), M, N });
  }

  // ---- attention ----------------------------------------------------------------------------------
  private dropArgs(pDrop: number, rng: DropoutRng | null): { drop: number; key: number; thr: number; inv: number } {
    if (!(pDrop > 0 && rng)) return { drop: 0, key: 0, thr: 0, inv: 1 };
    return { drop: 1, key: rngKey(rng), thr: dropThreshold(pDrop), inv: 1 / (1 - pDrop) };
  }
  attentionForward(out: Tensor, lse: Tensor, qkv: Tensor, B: number, T: number, C: number, NH: number, pDrop: number, rng: DropoutRng | null): void {
    const [scratch, scratchStride] = this.scratchFor(this.call('attentionScratchBytes', { nKeys: T, hs: C / NH, backward: 0 }));
    this.run(
      'attentionForward',
      2 * B * T * T * C,
      { out: this.addr(out), lse: this.addr(lse), qkv: this.addr(qkv), B, T, C, NH, ...this.dropArgs(pDrop, rng), scratch, scratchStride },
      this.attentionShares(B, NH, T, 0, 0),
    );
  }
  /** shares for the attention kernels at this backend's threads (the kernel's attentionShares; 0 without a pool) */
  private attentionShares(B: number, NH: number, Tq: number, backward: number, cached: number): number {
    return this.pool ? this.call('attentionShares', { B, NH, Tq, backward, cached, nth: this.threads }) : 0;
  }
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
  ): void {
    const [scratch, scratchStride] = this.scratchFor(this.call('attentionScratchBytes', { nKeys: T, hs: C / NH, backward: 1 }));
    this.run(
      'attentionBackward',
      4 * B * T * T * C,
      {
        dqkv: this.addr(dqkv),
        dout: this.addr(dout),
        qkv: this.addr(qkv),
        out: this.addr(out),
        lse: this.addr(lse),
        B,
        T,
        C,
        NH,
        ...this.dropArgs(pDrop, rng),
        scratch,
        scratchStride,
      },
      this.attentionShares(B, NH, T, 1, 0),
    );
  }
  attentionCached(out: Tensor, qkv: Tensor, kCache: Tensor, vCache: Tensor, B: number, Tn: number, C: number, NH: number, pos0: number, Tmax: number): void {
    const caches = { qkv: this.addr(qkv), kCache: this.kvAddr(kCache), vCache: this.kvAddr(vCache), B, Tn, C, pos0, Tmax };
    if (kCache.dtype === 'f16') {
      this.run('kvCacheWriteHalf', B * Tn * C * 8, caches);
      if (Tn > HALF_ROWS_MAX) {
        // a prompt: the cached rows widened to f32 for the call (2·B·n·C floats), attended on the f32 tiles
        const n = pos0 + Tn,
          k32 = this.alloc(B * n * C),
          v32 = this.alloc(B * n * C);
        try {
          this.run('widenCache', B * n * C * 4, { dst: this.addr(k32), src: caches.kCache, B, n, C, Tmax });
          this.run('widenCache', B * n * C * 4, { dst: this.addr(v32), src: caches.vCache, B, n, C, Tmax });
          const [scratch, scratchStride] = this.scratchFor(this.call('attentionScratchBytes', { nKeys: n, hs: C / NH, backward: 0 }));
          this.run(
            'attentionCached',
            4 * B * Tn * n * C,
            { out: this.addr(out), ...caches, kCache: this.addr(k32), vCache: this.addr(v32), Tmax: n, NH, scratch, scratchStride },
            this.attentionShares(B, NH, Tn, 0, 1),
          );
        } finally {
          this.free(k32, v32);
        }
        return;
      }
      const [scratch, scratchStride] = this.scratchFor(this.call('halfAttentionScratchBytes', { n: pos0 + Tn, hs: C / NH, NH }));
      this.run('attentionCachedHalf', 4 * B * Tn * (pos0 + Tn) * C, { out: this.addr(out), ...caches, NH, scratch, scratchStride });
      return;
    }
    this.run('kvCacheWrite', B * Tn * C * 2, caches);
    // the tiles (a prompt) or the decode rows (a few new tokens), whichever the kernel takes
    const [scratch, scratchStride] = this.scratchFor(
      Math.max(this.call('attentionScratchBytes', { nKeys: pos0 + Tn, hs: C / NH, backward: 0 }), this.call('decodeScratchBytes', { nKeys: pos0 + Tn, NH })),
    );
    this.run(
      'attentionCached',
      4 * B * Tn * (pos0 + Tn) * C,
      { out: this.addr(out), ...caches, NH, scratch, scratchStride },
      this.attentionShares(B, NH, Tn, 0, 1),
    );
  }

  attentionRagged(out: Tensor, qkv: Tensor, kCache: Tensor, vCache: Tensor, slotPos: Tensor, N: number, C: number, NH: number, Tmax: number): void {
    const sp = this.i32(slotPos);
    let work = 0;
    for (let n = 0; n < N; n++) work += 4 * (sp[2 * n + 1] + 1) * C;
    // every token's k, v first: a prefill chunk's tokens attend to rows its earlier tokens write here
    const caches = { qkv: this.addr(qkv), kCache: this.kvAddr(kCache), vCache: this.kvAddr(vCache), slotPos: this.addr(slotPos), N, C, Tmax };
    if (kCache.dtype === 'f16') {
      this.run('kvCacheWriteRaggedHalf', N * C * 8, caches);
      const [scratch, scratchStride] = this.scratchFor(this.call('halfAttentionScratchBytes', { n: Tmax, hs: C / NH, NH }));
      this.run('attentionRaggedHalf', work, { out: this.addr(out), ...caches, NH, scratch, scratchStride });
      return;
    }
    this.run('kvCacheWriteRagged', N * C * 2, caches);
    const [scratch, scratchStride] = this.scratchFor(this.call('decodeScratchBytes', { nKeys: Tmax, NH }));
    this.run('attentionRagged', work, { out: this.addr(out), ...caches, NH, scratch, scratchStride });
  }

  // ---- elementwise --------------------------------------------------------------------------------
  geluForward(out: Tensor, inp: Tensor, N: number): void {
    this.run('geluForward', N * 16, { out: this.addr(out), inp: this.addr(inp), N });
  }
  geluBackward(dinp: Tensor, inp: Tensor, dout: Tensor, N: number): void {
    this.run('geluBackward', N * 24, { dinp: this.addr(dinp), inp: this.addr(inp), dout: this.addr(dout), N });
  }
  residualForward(out: Tensor, a: Tensor, b: Tensor, N: number): void {
    this.run('residualForward', N, { out: this.addr(out), a: this.addr(a), b: this.addr(b), N });
  }
  accumulate(dst: Tensor, src: Tensor, N: number): void {
    this.run('accumulate', N, { dst: this.addr(dst), src: this.addr(src), N });
  }
  dropoutForward(out: Tensor, inp: Tensor, N: number, p: number, rng: DropoutRng): void {
    this.run('dropout', N * 8, { out: this.addr(out), inp: this.addr(inp), N, key: rngKey(rng), thr: dropThreshold(p), inv: 1 / (1 - p) });
  }
  dropoutBackward(dinp: Tensor, dout: Tensor, N: number, p: number, rng: DropoutRng): void {
    this.dropoutForward(dinp, dout, N, p, rng);
  }

  // ---- loss ---------------------------------------------------------------------------------------
  crossEntropyForward(losses: Tensor, loss: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, N: number, V: number): void {
    this.run('crossEntropyForward', N * V * 8, { losses: this.addr(losses), logits: this.addr(logits), targets: this.addr(targets), N, V });
    this.call('crossEntropyReduce', { loss: this.addr(loss), losses: this.addr(losses), targets: this.addr(targets), weights: this.addr(weights), N });
  }
  crossEntropyBackward(dlogits: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, N: number, V: number, dscale: number): void {
    this.run('crossEntropyBackward', N * V * 12, {
      dlogits: this.addr(dlogits),
      logits: this.addr(logits),
      targets: this.addr(targets),
      weights: this.addr(weights),
      N,
      V,
      dscale,
    });
  }

  // ---- rows ---------------------------------------------------------------------------------------
  gatherRows(out: Tensor, inp: Tensor, idx: Tensor, R: number, C: number): void {
    this.run('gatherRows', R * C, { out: this.addr(out), inp: this.addr(inp), idx: this.addr(idx), R, C });
  }
  scatterAddRows(dinp: Tensor, dout: Tensor, idx: Tensor, R: number, C: number): void {
    this.run('scatterAddRows', R * C, { dinp: this.addr(dinp), dout: this.addr(dout), idx: this.addr(idx), R, C });
  }

  // ---- optimizer ----------------------------------------------------------------------------------
  sumSquares(out: Tensor, tensors: Tensor[]): void {
    const partials = this.ctrl + PARTIALS_OFFSET;
    new Float64Array(this.bytes().buffer, partials, this.threads).fill(0);
    for (const t of tensors) this.run('sumSquaresPartial', t.length * 2, { partials, x: this.addr(t), N: t.length });
    this.call('sumSquaresFinish', { out: this.addr(out), partials, n: this.threads });
  }
  adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, p: AdamWParams): void {
    const N = param.length;
    const clip = p.gradNormSq && p.maxNorm !== undefined;
    this.run('adamw', N * 16, {
      param: this.addr(param),
      grad: this.addr(grad),
      m: this.addr(m),
      v: this.addr(v),
      N,
      lr: p.lr,
      beta1: p.beta1,
      beta2: p.beta2,
      eps: p.eps,
      wd: p.weightDecay,
      bc1: 1 - p.beta1 ** p.step,
      bc2: 1 - p.beta2 ** p.step,
      normSq: clip ? this.addr(p.gradNormSq!) : 0,
      maxNorm: clip ? p.maxNorm! : 0,
    });
  }

  /** checks.ts reads indices (token ids, targets, rows, slots) through this */
  [HOST_INTS](t: Tensor): Int32Array {
    return this.i32(t);
  }
}

checkedOps(WasmBackend);
