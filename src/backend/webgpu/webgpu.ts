/// <reference types="@webgpu/types" preserve="true" />
// The WebGPU backend: the Backend interface over GPUBuffers, running the WGSL kernels of src/wgsl/. This
// file holds the ops; the parts they stand on each have a file of their own:
//   device.ts   the device and its pipelines (shared by every backend on one GPUDevice)
//   encoder.ts  command encoding, dispatch, submits and their errors
//   memory.ts   buffers, arenas, tensors split across buffers, scratch, binding ranges, reads
//   kernels.ts  every kernel declared by name: module, entry point, Params struct, bindings
// Op arguments arrive checked (src/backend/checks.ts, applied at the end of this file); what is left here
// are this backend's own limits (head size, grid size, f16 fill).
import type { AdamWParams, Arena, ArenaSpec, Backend, DType, DropoutRng, Tensor } from '../backend.ts';
import { dropThreshold, rngKey } from '../rng.ts';
import { toF16Array } from '../f16.ts';
import { assertAlive, contextOf, lossAfterFailure, DeviceLostError, pipelineFor, type DeviceLoss, type GpuContext } from './device.ts';
import { Encoder } from './encoder.ts';
import { GpuMemory, isSplit, partsOf, store, type GpuStore, type GpuTensor } from './memory.ts';
import { KERNELS, layoutOf, type BindingName, type KernelName, type OperandsOf, type ParamsOf } from './kernels.ts';
import type { ShaderFeatures } from './specialize.ts';
import { DEFAULT_BUDGET, splitRanges, type Budget, type DispatchRecord } from './cost.ts';
import { wgslFeaturesOf } from './adapter.ts';
import { allocQuant, encoderQ, matmulQ, readDequantized, readQuantized, writeQuantized, type QuantHost } from './quant.ts';
import { isQuant, quantizeRows, type QuantizedRows } from '../quant.ts';
import { checkedOps } from '../checks.ts';

export { DeviceLostError, type DeviceLoss } from './device.ts';
export type { Budget, DispatchRecord } from './cost.ts';

const MAX_GROUPS = 65535; // maxComputeWorkgroupsPerDimension (the spec's default and minimum)
const MAX_HEAD = 256; // HS_MAX in attention.wgsl
const CHUNK = 4096; // adamw.wgsl's CHUNK: elements per workgroup of the multi-tensor kernels

export interface WebGPUBackendOptions {
  /** backend name, e.g. 'webgpu-lavapipe' */
  name?: string;
  /**
   * Upper bound on one GPUBuffer in bytes. Defaults to the device's maxStorageBufferBindingSize (and
   * maxBufferSize); a smaller value makes arenas split into more buffers, which tests use.
   */
  maxBufferBytes?: number;
  /**
   * Kernel variants to use; each defaults to whether the device has the feature (`shader-f16`,
   * `subgroups`). Turning one off keeps the f32 / workgroup-memory path, which always exists.
   */
  features?: Partial<ShaderFeatures>;
  /**
   * Bytes this backend may hold in GPU buffers. WebGPU does not tell how much memory a device has, so
   * without a budget only the device's own out-of-memory error (reported by the next read/sync) stops
   * an oversized step; with one, an allocation that would exceed it is refused up front with the estimate.
   */
  memoryBudgetBytes?: number;
  /** Work limits per dispatch and per submit (cost.ts DEFAULT_BUDGET); tests pass small ones to exercise the splits. */
  budget?: Partial<Budget>;
  /** Forces a kernel choice where the backend picks by shape (tests run every kernel on small shapes). */
  kernels?: KernelChoice;
}

interface PendingFill {
  kind: 'fill';
  store: GpuStore;
  /** element range [start, end) of the buffer, and the 32-bit value */
  start: number;
  end: number;
  bits: number;
}
/** AdamW updates sharing every hyper-parameter but weight decay (and the same norm tensor) */
interface PendingAdam {
  kind: 'adam';
  key: string;
  p: AdamWParams;
  updates: { param: GpuTensor; grad: GpuTensor; m: GpuTensor; v: GpuTensor; wd: number }[];
}

type BwdKernel = 'attention_backward_d' | 'attention_backward_dq' | 'attention_backward_dkv' | 'flash_backward_dq' | 'flash_backward_dkv';

/** Kernel choices the backend otherwise makes by shape. */
export interface KernelChoice {
  /** 'matvec' where the output has at most 8 rows and a is not transposed, else the 64-tile kernel */
  matmul?: 'tiled' | 'small' | 'matvec';
  /** 'flash' wherever the head size allows (up to 64), or the row kernels everywhere */
  attention?: 'flash' | 'rows';
}

/** A matmul over blocks of stored matrices (see WebGPUBackend.matmulBlock). */
interface MatmulBlock {
  out: Tensor;
  a: Tensor;
  b: Tensor;
  bias: Tensor | null;
  M: number;
  K: number;
  N: number;
  transA: boolean;
  transB: boolean;
  beta: 0 | 1;
  /** stored row lengths of a, b and out */
  lda: number;
  ldb: number;
  ldo: number;
}

const f32Bits = (() => {
  const fa = new Float32Array(1),
    ua = new Uint32Array(fa.buffer);
  return (v: number) => ((fa[0] = v), ua[0]);
})();

export class WebGPUBackend implements Backend {
  readonly name: string;
  readonly device: GPUDevice;
  /** bytes of the largest GPUBuffer this backend creates */
  readonly maxBufferBytes: number;
  /** the kernel variants in use (f16 weights where the device has shader-f16; subgroup reductions) */
  readonly features: ShaderFeatures;
  get f16Storage(): boolean {
    return this.features.f16;
  }
  /** int8 / int4 weights (src/backend/webgpu/quant.ts): dequantized in the kernels as they are read */
  readonly quantStorage = true;
  /**
   * LM-head logits computed at once: as many as one buffer holds, up to 512 MiB. Each chunk rewrites the
   * whole token-embedding gradient (124 MB for GPT-1), so fewer, larger chunks save that traffic.
   */
  readonly logitChunkElements: number;

  /** the work limits the ops split to (see cost.ts) */
  readonly budget: Budget;
  /** forced kernel choices (WebGPUBackendOptions.kernels) */
  readonly kernels: KernelChoice;
  private readonly ctx: GpuContext;
  private readonly enc: Encoder;
  /** @internal (QuantHost) */
  private readonly mem: GpuMemory;

  constructor(device: GPUDevice, opts: WebGPUBackendOptions = {}) {
    this.device = device;
    this.name = opts.name ?? 'webgpu';
    this.ctx = contextOf(device);
    const lim = device.limits;
    const deviceMax = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
    this.maxBufferBytes = Math.floor(Math.min(opts.maxBufferBytes ?? deviceMax, deviceMax) / 4) * 4;
    this.logitChunkElements = Math.floor(Math.min(this.maxBufferBytes, 512 * 1024 ** 2) / 4);
    const has = (f: string) => device.features.has(f);
    this.features = {
      f16: (opts.features?.f16 ?? true) && has('shader-f16'),
      subgroups: (opts.features?.subgroups ?? true) && has('subgroups'),
      packed: (opts.features?.packed ?? true) && wgslFeaturesOf(device).has('packed_4x8_integer_dot_product'),
    };
    if (opts.features?.f16 && !this.features.f16) throw new Error('WebGPU device lacks shader-f16: f16 weights are not available');
    if (opts.features?.subgroups && !this.features.subgroups) throw new Error('WebGPU device lacks subgroups');
    this.budget = { ...DEFAULT_BUDGET, ...opts.budget };
    this.kernels = opts.kernels ?? {};
    this.enc = new Encoder(this.ctx, this.budget.submitFlops);
    this.enc.beforeFlush = () => this.emitPending();
    this.mem = new GpuMemory(device, this.enc, this.maxBufferBytes, lim.minStorageBufferOffsetAlignment, this.features.f16, this.name, opts.memoryBudgetBytes);
  }

  // ---- device health ---------------------------------------------------------------------------------
  /**
   * Resolves when the device is lost (Windows TDR, the macOS watchdog, a GPU process crash, sleep/resume,
   * device.destroy()). From then on every call but free() and destroy() throws DeviceLostError; a server
   * re-acquires a device (adapters/*: requestDevice), creates a new backend on it and reloads its models.
   */
  get lost(): Promise<DeviceLoss> {
    return this.ctx.lost;
  }
  /** the loss, once the device is lost (else null) */
  get loss(): DeviceLoss | null {
    return this.ctx.loss;
  }
  /** bytes this backend holds in GPU buffers */
  get heldBytes(): number {
    return this.mem.held;
  }
  /**
   * Records every dispatch from now on (kernel, grid, FLOPs, serial depth: see cost.ts) into the array
   * returned; `stopRecording` ends it. For budget tests and profiling the shape of a step.
   */
  record(): DispatchRecord[] {
    return (this.enc.records = []);
  }
  stopRecording(): void {
    this.enc.records = null;
  }

  // ---- memory ------------------------------------------------------------------------------------
  allocArena(specs: ArenaSpec[]): Arena {
    assertAlive(this.ctx);
    const q = specs.filter((sp) => isQuant(sp.dtype ?? 'f32'));
    const arena = this.mem.allocArena(q.length ? specs.filter((sp) => !isQuant(sp.dtype ?? 'f32')) : specs);
    for (const sp of q) arena[sp.name] = this.alloc(sp.length, sp.dtype, sp.rowLength); // a buffer each
    return arena;
  }
  alloc(length: number, dtype: DType = 'f32', rowLength?: number): Tensor {
    assertAlive(this.ctx);
    if (isQuant(dtype)) return allocQuant(this.quantHost, length, dtype, rowLength);
    return this.mem.alloc(length, dtype);
  }
  free(...tensors: Tensor[]): void {
    this.mem.free(tensors);
  }
  /** Frees every buffer of this backend (the device and its pipelines stay). */
  destroy(): void {
    this.mem.destroy();
    this.enc.destroy();
  }
  slice(t: Tensor, offset: number, length: number): Tensor {
    if (isQuant(t.dtype)) return t; // whole (checks.ts)
    return this.mem.slice(t, offset, length);
  }

  write(t: Tensor, data: Float32Array | Int32Array, dstOffset = 0): void {
    assertAlive(this.ctx);
    if (data.length === 0) return;
    if (isQuant(t.dtype)) {
      const K = t.rowLength!;
      writeQuantized(this.quantHost, t, quantizeRows(t.dtype, Float32Array.from(data), data.length / K, K), dstOffset / K);
      return;
    }
    if (isSplit(t)) {
      let at = 0;
      for (const p of partsOf(this.slice(t, dstOffset, data.length))) {
        this.write(p, data.subarray(at, at + p.length));
        at += p.length;
      }
      return;
    }
    if (t.dtype === 'f16') {
      // half bits rounded on the host go to a scratch buffer in whole words; copy_f16 places them
      const bits = toF16Array(data as Float32Array);
      const up = this.mem.scratchView('f16 upload', bits.length, 'f16');
      this.mem.upload(up, bits);
      const dst = this.slice(t, dstOffset, data.length);
      this.run('copy_f16', { dst, src: this.slice(up, 0, data.length) }, { n: data.length }, this.grid(data.length, 256), { f16: true });
      return;
    }
    this.mem.upload(t, data, dstOffset);
  }

  writeQuantized(t: Tensor, q: QuantizedRows, firstRow = 0): void {
    assertAlive(this.ctx);
    writeQuantized(this.quantHost, t, q, firstRow);
  }
  readQuantized(t: Tensor): Promise<QuantizedRows> {
    assertAlive(this.ctx);
    return readQuantized(this.quantHost, t);
  }

  async read(t: Tensor): Promise<Float32Array | Int32Array> {
    assertAlive(this.ctx);
    if (isQuant(t.dtype)) return readDequantized(this.quantHost, t);
    if (isSplit(t)) {
      const out = t.dtype === 'i32' ? new Int32Array(t.length) : new Float32Array(t.length);
      let at = 0;
      for (const p of partsOf(t)) {
        out.set(await this.read(p), at);
        at += p.length;
      }
      return out;
    }
    if (t.dtype === 'f16') {
      const wide = this.mem.scratchView('f16 read', t.length);
      this.run('widen_f16', { dst: wide, src: t }, { n: t.length }, this.grid(t.length, 256), { f16: true });
      return this.read(wide);
    }
    const bytes = await this.mem.readBytes(t);
    return t.dtype === 'i32' ? new Int32Array(bytes) : new Float32Array(bytes);
  }

  async sync(): Promise<void> {
    assertAlive(this.ctx);
    this.enc.flush();
    try {
      await this.device.queue.onSubmittedWorkDone();
    } catch (err) {
      const loss = await lossAfterFailure(this.ctx);
      if (loss) throw new DeviceLostError(loss);
      throw err;
    }
    // onSubmittedWorkDone resolves on a lost device too, possibly before `lost` does: let it settle
    await new Promise((ok) => setTimeout(ok, 0));
    await this.enc.checkErrors();
  }

  /** Submits everything encoded so far. */
  flush(): void {
    this.enc.flush();
  }

  /**
   * Held back, and merged with the fills that follow it when they continue it in the same buffer (across
   * the padding between arena views): zeroing a model's gradients, one fill per view, becomes one
   * dispatch per arena buffer.
   */
  fill(t: Tensor, value: number): void {
    assertAlive(this.ctx);
    if (this.mem.piecewise(t.length, [t], (_, v) => this.fill(v[0]!, value))) return;
    if (t.dtype === 'f16') throw new TypeError(`fill: f16 tensors are weight storage, written with write()`);
    const bits = t.dtype === 'f32' ? f32Bits(value) : value | 0;
    const s = store(t),
      start = t.offset,
      end = t.offset + t.length;
    const p = this.pending;
    if (p?.kind === 'fill' && p.store === s && p.bits === bits && (p.end === start || (p.end < start && this.mem.isPadding(s, p.end, start)))) {
      p.end = end;
      return;
    }
    this.emitPending();
    this.pending = { kind: 'fill', store: s, start, end, bits };
  }

  copy(dst: Tensor, src: Tensor): void {
    if (this.mem.piecewise(src.length, [dst, src], (_, v) => this.copy(v[0]!, v[1]!))) return;
    this.run('copy', { dst, src }, { n: src.length }, this.grid(src.length, 256));
  }

  // ---- ops held back to be merged ----------------------------------------------------------------------
  /**
   * A fill or a batch of AdamW updates, encoded when an op of another kind comes, or before any submit
   * (the encoder's beforeFlush): so merging never reorders work.
   */
  private pending: PendingFill | PendingAdam | null = null;
  private emitting = false;

  private emitPending(): void {
    const p = this.pending;
    if (!p || this.emitting) return;
    this.pending = null;
    if (this.ctx.loss) return; // work for a lost device is moot (and free/destroy must not throw)
    this.emitting = true;
    try {
      if (p.kind === 'fill') {
        const n = p.end - p.start;
        this.run('fill', { dst: { buffer: p.store, offset: p.start, length: n, dtype: 'f32' } as Tensor }, { n, bits: p.bits }, this.grid(n, 256));
      } else {
        this.emitAdam(p);
      }
    } finally {
      this.emitting = false;
    }
  }

  // ---- dispatch ------------------------------------------------------------------------------------
  /** workgroups for n items at `per` items per workgroup, as a 2-D grid when over 65535 */
  private grid(n: number, per: number): [number, number] {
    const g = Math.ceil(n / per);
    if (g <= MAX_GROUPS) return [g, 1];
    const y = Math.ceil(g / MAX_GROUPS);
    if (y > MAX_GROUPS) throw new RangeError(`${n} items is too large a grid`);
    return [Math.ceil(g / y), y];
  }

  /** what the quantized-weight dispatch (quant.ts) needs of this backend, kept out of its public surface */
  private get quantHost(): QuantHost {
    return (this.qHost ??= {
      mem: this.mem,
      maxBufferBytes: this.maxBufferBytes,
      features: this.features,
      run: this.run.bind(this) as QuantHost['run'],
      grid: this.grid.bind(this),
      matmulF32: this.matmulF32.bind(this),
      slice: this.slice.bind(this),
    });
  }
  private qHost: QuantHost | null = null;

  /**
   * Encodes one dispatch of a kernel over its operands (by binding name). `params` gives the kernel's
   * Params by field name; each binding X's element offset fills field o_X unless given (see GpuMemory.bind
   * for offsets). A function receives the offsets first. With `f16`, the kernel's f16-weights variant
   * (operand WT is f16).
   */
  private run<K extends KernelName>(
    name: K,
    operands: OperandsOf<K>,
    params: ParamsOf<K> | ((offsets: Record<BindingName<K>, number>) => ParamsOf<K>),
    groups: [number, number],
    { f16 = false, constants }: { f16?: boolean; constants?: Record<string, number> } = {},
  ): void {
    assertAlive(this.ctx);
    this.emitPending();
    const ops = operands as Record<string, Tensor | null | undefined>;
    if (!f16 && Object.values(ops).some((t) => t?.dtype === 'f16'))
      throw new TypeError(`${name}: f16 tensors are weight storage (matmul's b, the token embedding); this op takes f32`);
    if (Object.values(ops).some((t) => t && isQuant(t.dtype)))
      throw new TypeError(`${name}: a quantized tensor is weight storage (matmul's b with transB, the token embedding); this operand takes f32`);
    if (groups[0] === 0 || groups[1] === 0) return;
    const { bound, offsets } = this.mem.bind(name, ops, (dst, src) => this.copy(dst, src));
    const values: Record<string, number> = {};
    for (const [b, o] of Object.entries(offsets)) values[`o_${b}`] = o;
    Object.assign(values, typeof params === 'function' ? params(offsets as Record<BindingName<K>, number>) : params);
    const pipeline = pipelineFor(this.ctx, name, { f16, subgroups: this.features.subgroups, packed: this.features.packed }, constants);
    this.enc.dispatch(name, pipeline, bound, layoutOf(KERNELS[name].params), values, groups);
  }

  // ---- embedding ----------------------------------------------------------------------------------
  encoderForward(out: Tensor, ids: Tensor, wte: Tensor, wpe: Tensor, B: number, T: number, C: number, posOffset: number): void {
    const n = B * T * C;
    if (isQuant(wte.dtype)) {
      encoderQ(this.quantHost, out, ids, wte, wpe, B, T, C, posOffset);
      return;
    }
    // every output row takes its token's row from the one part of wte that holds it
    const half = wte.dtype === 'f16';
    for (const { view, lo, hi } of this.mem.rowParts(wte, C)) {
      this.run('encoder_forward', { out, ids, wte: view, wpe }, { n, C, T, pos0: posOffset, lo, hi }, this.grid(n, 256), { f16: half });
    }
  }
  encoderBackward(dwte: Tensor, dwpe: Tensor, dout: Tensor, ids: Tensor, B: number, T: number, C: number): void {
    // dwpe(T,C) += Σ_b dout(b,t,C)
    this.run('encoder_backward_wpe', { dwpe, dout }, { n: T * C, C, T, B }, this.grid(T * C, 256));
    // dwte[ids[b,t]] += dout(b,t,C): a row scatter-add with repeated ids
    this.scatterAdd(dwte, dout, ids, B * T, C);
  }

  // ---- layernorm ----------------------------------------------------------------------------------
  layernormForward(out: Tensor, mean: Tensor, rstd: Tensor, inp: Tensor, w: Tensor, b: Tensor, N: number, C: number, eps: number): void {
    this.run('layernorm_forward', { out, mean, rstd, inp, w, bias: b }, { N, C, eps }, this.grid(N, 1));
  }
  layernormBackward(dinp: Tensor, dw: Tensor, db: Tensor, dout: Tensor, inp: Tensor, w: Tensor, mean: Tensor, rstd: Tensor, N: number, C: number): void {
    // dinp (N,C), a workgroup per row
    this.run('layernorm_backward_dx', { dinp, mean, rstd, inp, w, dout }, { N, C }, this.grid(N, 1));
    // db (C) += Σ_n dout, dw (C) += Σ_n norm * dout: column sums in one pass over dout
    this.columnSums(db, dout, N, C, { dw, inp, mean, rstd });
  }

  // ---- matmul -------------------------------------------------------------------------------------
  matmul(out: Tensor, a: Tensor, b: Tensor, bias: Tensor | null, M: number, K: number, N: number, transA: boolean, transB: boolean, beta: 0 | 1): void {
    if (isQuant(b.dtype)) {
      matmulQ(this.quantHost, out, a, b, bias, M, K, N, beta);
      return;
    }
    this.matmulBlock({ out, a, b, bias, M, K, N, transA, transB, beta, lda: transA ? M : K, ldb: transB ? K : N, ldo: N });
  }

  /** @internal (QuantHost) an f32 block matmul with b transposed: out(M,N) = beta·out + a·bᵀ [+ bias] */
  private matmulF32(
    out: Tensor,
    a: Tensor,
    b: Tensor,
    bias: Tensor | null,
    M: number,
    K: number,
    N: number,
    beta: 0 | 1,
    lda: number,
    ldb: number,
    ldo: number,
  ): void {
    this.matmulBlock({ out, a, b, bias, M, K, N, transA: false, transB: true, beta, lda, ldb, ldo });
  }

  /**
   * One matmul over blocks of stored matrices (leading dimensions lda, ldb, ldo). An operand split across
   * buffers is split between its stored rows, which restricts one of M, K, N: the block is run once per
   * part, K-parts accumulating into out after the first.
   */
  private matmulBlock(m: MatmulBlock): void {
    const { out, a, b, bias, M, K, N, transA, transB, beta, lda, ldb, ldo } = m;
    // which dimension each operand's stored rows run along
    const split = [
      [out, 'M', ldo],
      [a, transA ? 'K' : 'M', lda],
      [b, transB ? 'N' : 'K', ldb],
    ].find(([t]) => isSplit(t as Tensor));
    if (split) {
      const [t, dim, ld] = split as [Tensor, 'M' | 'N' | 'K', number];
      let at = 0,
        first = true;
      for (const p of partsOf(t)) {
        const r0 = at / ld,
          r1 = Math.min(Math.ceil((at + p.length) / ld), dim === 'M' ? M : dim === 'N' ? N : K);
        if (at % ld !== 0) throw new RangeError(`matmul: an operand split across GPU buffers at element ${at} is not split between rows of ${ld}`);
        at += p.length;
        if (r1 <= r0) continue;
        this.matmulBlock(this.restrict(m, dim, r0, r1, first));
        first = false;
      }
      return;
    }
    // within the budget (cost.ts): K in parts of at most `depth` (accumulating after the first), then the
    // longer of M and N in parts of whole tiles until a dispatch is at most `dispatchFlops`
    const { depth, dispatchFlops } = this.budget;
    if (K > depth || (2 * M * N * K > dispatchFlops && Math.max(M, N) > 64)) {
      const dim = K > depth ? 'K' : M >= N ? 'M' : 'N';
      const len = dim === 'K' ? K : dim === 'M' ? M : N;
      const parts = dim === 'K' ? Math.ceil(K / depth) : Math.ceil((2 * M * N * K) / dispatchFlops);
      const step = dim === 'K' ? Math.ceil(K / parts) : Math.ceil(len / parts / 64) * 64;
      for (let r0 = 0; r0 < len; r0 += step) this.matmulBlock(this.restrict(m, dim, r0, Math.min(len, r0 + step), r0 === 0));
      return;
    }
    const half = b.dtype === 'f16';
    const kernel = this.matmulKernel(M, N, transA);
    const tile = kernel === 'matmul_tiled' ? 128 : 64;
    const groups: [number, number] = kernel === 'matvec' ? this.grid(N, transB ? 8 : 64) : [Math.ceil(N / tile), Math.ceil(M / tile)];
    if (groups[0] > MAX_GROUPS || groups[1] > MAX_GROUPS) throw new RangeError(`matmul ${M}x${N} is too large a grid`);
    // vec4 loads along an operand's contiguous axis where its offset and row length allow (matmul_tiled)
    this.run(
      kernel,
      { out, a, b, bias },
      (o) => ({ M, K, N, beta, has_bias: +!!bias, lda, ldb, ldo, vec_a: +(o.a % 4 === 0 && lda % 4 === 0), vec_b: +(o.b % 4 === 0 && ldb % 4 === 0) }),
      groups,
      { f16: half, constants: { TRANS_A: +transA, TRANS_B: +transB } },
    );
  }

  /**
   * The matmul kernel for an (M,N) output: matvec for up to 8 rows (decoding); the 128×128 tiles where
   * they make at least 48 workgroups; else 64×64 tiles, 4× as many workgroups (a guess at keeping a GPU's
   * cores busy: no GPU has measured the crossover). `kernels.matmul` forces one (tests).
   */
  private matmulKernel(M: number, N: number, transA: boolean): 'matmul_tiled' | 'matmul_small' | 'matvec' {
    const forced = this.kernels.matmul;
    if (M <= 8 && !transA && (forced ?? 'matvec') === 'matvec') return 'matvec';
    if (forced === 'tiled' || (!forced && Math.ceil(M / 128) * Math.ceil(N / 128) >= 48)) return 'matmul_tiled';
    return 'matmul_small';
  }

  /** The block of `m` with dimension `dim` restricted to [r0, r1): operand views start later and shrink. */
  private restrict(m: MatmulBlock, dim: 'M' | 'N' | 'K', r0: number, r1: number, first: boolean): MatmulBlock {
    const M = dim === 'M' ? r1 - r0 : m.M,
      N = dim === 'N' ? r1 - r0 : m.N,
      K = dim === 'K' ? r1 - r0 : m.K;
    // element offset of the restriction in an operand whose stored rows run along `rows` and columns along `cols`
    const shift = (rows: string, cols: string, ld: number) => (rows === dim ? r0 * ld : cols === dim ? r0 : 0);
    // a stored block of `rows` rows of `cols` used columns, ld apart
    const view = (t: Tensor, off: number, rows: number, cols: number, ld: number) => this.slice(t, off, rows === 0 || cols === 0 ? 0 : (rows - 1) * ld + cols);
    const out = view(m.out, shift('M', 'N', m.ldo), M, N, m.ldo);
    const a = m.transA ? view(m.a, shift('K', 'M', m.lda), K, M, m.lda) : view(m.a, shift('M', 'K', m.lda), M, K, m.lda);
    const b = m.transB ? view(m.b, shift('N', 'K', m.ldb), N, K, m.ldb) : view(m.b, shift('K', 'N', m.ldb), K, N, m.ldb);
    // K-parts after the first add to what the first wrote; the bias is added once, by the first
    const beta = dim === 'K' && !first ? 1 : m.beta;
    const bias = m.bias === null || (dim === 'K' && !first) ? null : dim === 'N' ? this.slice(m.bias, r0, N) : m.bias;
    return { ...m, out, a, b, bias, M, N, K, beta };
  }
  biasBackward(dbias: Tensor, dout: Tensor, M: number, N: number): void {
    this.columnSums(dbias, dout, M, N, null);
  }

  /**
   * out(N) += column sums of x(M,N), and with `norm` also norm.dw(N) += column sums of x times LayerNorm's
   * normalised input: partial sums over chunks of 256 rows, then the chunks in order (deterministic).
   */
  private columnSums(out: Tensor, x: Tensor, M: number, N: number, norm: { dw: Tensor; inp: Tensor; mean: Tensor; rstd: Tensor } | null): void {
    const chunks = Math.ceil(M / 256),
      stride = norm ? 2 * N : N;
    const part = this.mem.scratchView('column partials', chunks * stride);
    this.run('column_partials', { part, x, inp: norm?.inp, mean: norm?.mean, rstd: norm?.rstd }, { M, N, stride, normed: +!!norm }, [
      Math.ceil(N / 64),
      chunks,
    ]);
    this.run('partial_sums', { out, part }, { N, chunks, stride }, this.grid(N, 64));
    if (norm) this.run('partial_sums', { out: norm.dw, part }, (o) => ({ N, chunks, stride, o_part: o.part + N }), this.grid(N, 64));
  }

  // ---- attention ----------------------------------------------------------------------------------
  private headSize(C: number, NH: number): number {
    const hs = C / NH;
    if (hs > MAX_HEAD) throw new RangeError(`head size ${hs} exceeds the WebGPU kernels' ${MAX_HEAD}`);
    return hs;
  }
  private dropParams(pDrop: number, rng: DropoutRng | null): { drop: number; key: number; thr: number; inv_keep: number } {
    if (pDrop > 0 && rng) return { drop: 1, key: rngKey(rng), thr: dropThreshold(pDrop), inv_keep: 1 / (1 - pDrop) };
    return { drop: 0, key: 0, thr: 0, inv_keep: 1 };
  }

  /**
   * Flash kernels (blocks of 16 rows, K/V tiles in workgroup memory) for head sizes up to 64 and at least
   * 16 query rows; the row kernels otherwise (decoding, larger heads). `kernels.attention` forces one.
   */
  private flash(hs: number, Tq: number): boolean {
    if (hs > 64) return false;
    return this.kernels.attention ? this.kernels.attention === 'flash' : Tq >= 16;
  }

  /** qkv views of (b, h): q, k and v all read through the q binding (kv_in_q) of a (B,T,3C) tensor */
  attentionForward(out: Tensor, lse: Tensor, qkv: Tensor, B: number, T: number, C: number, NH: number, pDrop: number, rng: DropoutRng | null): void {
    const hs = this.headSize(C, NH);
    const bs = T * 3 * C,
      rs = 3 * C;
    this.attend({ out, lse, q: qkv }, B, T, NH, hs, (o) => ({
      Tq: T,
      NH,
      hs,
      q_bs: bs,
      q_rs: rs,
      o_k: o.q + C,
      k_bs: bs,
      k_rs: rs,
      o_v: o.q + 2 * C,
      v_bs: bs,
      v_rs: rs,
      pos0: 0,
      write_lse: 1,
      ...this.dropParams(pDrop, rng),
      scale: 1 / Math.sqrt(hs),
      kv_in_q: 1,
    }));
  }

  /** The forward over every query row of (B, NH, Tq), in dispatches within the budget. */
  private attend(
    operands: OperandsOf<'attention_forward'>,
    B: number,
    Tq: number,
    NH: number,
    hs: number,
    params: (o: Record<BindingName<'attention_forward'>, number>) => Omit<ParamsOf<'attention_forward'>, 'first' | 'count'>,
  ): void {
    const name = this.flash(hs, Tq) ? 'flash_forward' : 'attention_forward';
    const units = name === 'flash_forward' ? B * NH * Math.ceil(Tq / 16) : B * NH * Tq;
    // the split only depends on the shape: offsets do not matter to it
    const shape = params({ out: 0, lse: 0, q: 0, k: 0, v: 0 }) as Record<string, number>;
    for (const [first, count] of splitRanges(name, shape, units, this.budget.dispatchFlops)) {
      this.run(name, operands, (o) => ({ ...params(o), first, count }), this.grid(count, 1));
    }
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
    const hs = this.headSize(C, NH);
    const rows = B * NH * T;
    const D = this.mem.scratchView('attention D', rows);
    const ops = { dqkv, lse, qkv, dout, D, out };
    const shape = { T, NH, hs, ...this.dropParams(pDrop, rng), scale: 1 / Math.sqrt(hs) };
    const flash = this.flash(hs, T);
    // D = dout·out per query row; then dq per query (block), dk and dv per key (block)
    const blocks = B * NH * Math.ceil(T / 16);
    const passes: [BwdKernel, number, number][] = [
      ['attention_backward_d', rows, 64],
      flash ? ['flash_backward_dq', blocks, 1] : ['attention_backward_dq', rows, 1],
      flash ? ['flash_backward_dkv', blocks, 1] : ['attention_backward_dkv', rows, 1],
    ];
    for (const [name, units, per] of passes) {
      for (const [first, count] of splitRanges(name, { ...shape, first: 0, count: 0 }, units, this.budget.dispatchFlops)) {
        this.run(name, ops, { ...shape, first, count }, this.grid(count, per));
      }
    }
  }

  attentionCached(out: Tensor, qkv: Tensor, kCache: Tensor, vCache: Tensor, B: number, Tn: number, C: number, NH: number, pos0: number, Tmax: number): void {
    const hs = this.headSize(C, NH);
    // kCache, vCache (B,Tmax,C) at pos0.. = the new k, v
    const n = B * Tn * C;
    this.run('kv_cache_write', { k: kCache, v: vCache, qkv }, { n, Tn, C, Tmax, pos0 }, this.grid(n, 256));
    this.attend({ out, q: qkv, k: kCache, v: vCache }, B, Tn, NH, hs, () => ({
      Tq: Tn,
      NH,
      hs,
      q_bs: Tn * 3 * C,
      q_rs: 3 * C,
      k_bs: Tmax * C,
      k_rs: C,
      v_bs: Tmax * C,
      v_rs: C,
      pos0,
      write_lse: 0,
      ...this.dropParams(0, null),
      scale: 1 / Math.sqrt(hs),
      kv_in_q: 0,
    }));
  }

  attentionRagged(out: Tensor, qkv: Tensor, kCache: Tensor, vCache: Tensor, slotPos: Tensor, N: number, C: number, NH: number, Tmax: number): void {
    const hs = this.headSize(C, NH);
    // slots and positions are checked by the caller (GPT.transformer): reading them back here would stall the queue
    const params = { N, C, NH, hs, Tmax, scale: 1 / Math.sqrt(hs) };
    this.run('kv_cache_write_ragged', { k: kCache, v: vCache, qkv, sp: slotPos }, { ...params, o_out: 0 }, this.grid(N * C, 256));
    this.run('attention_ragged', { out, qkv, k: kCache, v: vCache, sp: slotPos }, params, this.grid(N * NH, 1));
  }

  // ---- elementwise --------------------------------------------------------------------------------
  private elementwise(
    name: 'gelu_forward' | 'gelu_backward' | 'residual_forward' | 'accumulate' | 'dropout',
    N: number,
    out: Tensor,
    a: Tensor,
    b: Tensor | null,
    s = 0,
    key = 0,
    thr = 0,
    mayAlias = false,
  ): void {
    // dropout's mask is keyed by element index: a range starting at `start` continues the key from there
    if (
      this.mem.piecewise(N, [out, a, b], (start, v) =>
        this.elementwise(name, v[0]!.length, v[0]!, v[1]!, v[2], s, name === 'dropout' ? (key + start) >>> 0 : key, thr, mayAlias),
      )
    )
      return;
    const inplace = mayAlias && store(out) === store(a) && out.offset === a.offset;
    this.run(name, { out, a: inplace ? null : a, b }, (o) => ({ n: N, o_a: inplace ? o.out : o.a, s, key, thr, inplace: +inplace }), this.grid(N, 256));
  }
  geluForward(out: Tensor, inp: Tensor, N: number): void {
    this.elementwise('gelu_forward', N, out, inp, null);
  }
  geluBackward(dinp: Tensor, inp: Tensor, dout: Tensor, N: number): void {
    this.elementwise('gelu_backward', N, dinp, inp, dout);
  }
  residualForward(out: Tensor, a: Tensor, b: Tensor, N: number): void {
    this.elementwise('residual_forward', N, out, a, b);
  }
  accumulate(dst: Tensor, src: Tensor, N: number): void {
    this.elementwise('accumulate', N, dst, src, null);
  }
  dropoutForward(out: Tensor, inp: Tensor, N: number, p: number, rng: DropoutRng): void {
    this.elementwise('dropout', N, out, inp, null, 1 / (1 - p), rngKey(rng), dropThreshold(p), true);
  }
  dropoutBackward(dinp: Tensor, dout: Tensor, N: number, p: number, rng: DropoutRng): void {
    this.dropoutForward(dinp, dout, N, p, rng);
  }

  // ---- loss ---------------------------------------------------------------------------------------
  crossEntropyForward(losses: Tensor, loss: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, N: number, V: number): void {
    this.run('crossentropy_forward', { losses, logits, targets }, { N, V }, this.grid(N, 1));
    this.run('crossentropy_sum', { loss, losses, weights }, { N }, [1, 1]);
  }
  crossEntropyBackward(dlogits: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, N: number, V: number, dscale: number): void {
    const inplace = store(dlogits) === store(logits) && dlogits.offset === logits.offset;
    this.run(
      'crossentropy_backward',
      { dlogits, logits: inplace ? null : logits, targets, weights },
      (o) => ({ N, V, o_logits: inplace ? o.dlogits : o.logits, dscale, inplace: +inplace }),
      this.grid(N, 1),
    );
  }

  // ---- rows ---------------------------------------------------------------------------------------
  gatherRows(out: Tensor, inp: Tensor, idx: Tensor, R: number, C: number): void {
    for (const { view, lo, hi } of this.mem.rowParts(inp, C)) {
      this.run('gather_rows', { out, inp: view, idx }, { n: R * C, C, lo, hi }, this.grid(R * C, 256));
    }
  }
  scatterAddRows(dinp: Tensor, dout: Tensor, idx: Tensor, R: number, C: number): void {
    this.scatterAdd(dinp, dout, idx, R, C);
  }
  /** dst[idx[r]] += src[r] for R rows of C, deterministic (see rows.wgsl). */
  private scatterAdd(dst: Tensor, src: Tensor, idx: Tensor, R: number, C: number): void {
    const link = this.mem.scratchView('rows link', 2 * R, 'i32');
    this.run('rows_link', { link, idx }, { R }, this.grid(R, 64));
    for (const { view, lo, hi } of this.mem.rowParts(dst, C)) {
      this.run('rows_scatter_add', { dinp: view, src, idx, link }, { n: R * C, R, C, lo, hi }, this.grid(R * C, 256));
    }
  }

  // ---- optimizer ----------------------------------------------------------------------------------
  /**
   * Σ x² over every tensor: one multi-tensor dispatch of chunk partials per buffer the tensors live in,
   * then one workgroup sums the partials in order.
   */
  sumSquares(out: Tensor, all: Tensor[]): void {
    const parts = all.flatMap(partsOf).filter((t) => t.length > 0);
    const chunksOf = (t: Tensor) => Math.ceil(t.length / CHUNK);
    const total = parts.reduce((n, t) => n + chunksOf(t), 0);
    const part = this.mem.scratchView('sumsq partials', Math.max(total, 1));
    let slot = 0;
    for (const group of groupBy(parts, (t) => [store(t)])) {
      // the group's tensors through one view covering them: [first chunk, length, offset in the view, 0]
      const x = this.cover(group);
      const words = new Uint32Array(4 * group.length);
      let chunks = 0;
      group.forEach((t, i) => (words.set([chunks, t.length, t.offset - x.offset, 0], 4 * i), (chunks += chunksOf(t))));
      const table = this.mem.table(words);
      for (const [first, count] of this.chunkRanges(chunks, 2 * CHUNK)) {
        const at = slot + first;
        this.run('sumsq_partial', { part, x, table }, (o) => ({ tensors: group.length, first, count, o_part: o.part + at }), this.grid(count, 1));
      }
      slot += chunks;
    }
    this.run('sumsq_final', { total: out, part }, { count: total }, [1, 1]);
  }

  /**
   * Held back and batched (see `pending`): consecutive updates with the same hyper-parameters but weight
   * decay become one multi-tensor dispatch per set of buffers (GPT-1's 146 tensors: one per arena buffer).
   */
  adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, p: AdamWParams): void {
    assertAlive(this.ctx);
    const n = param.length;
    if (this.mem.piecewise(n, [param, grad, m, v], (_, t) => this.adamw(t[0]!, t[1]!, t[2]!, t[3]!, p))) return;
    const norm = p.gradNormSq !== undefined && p.maxNorm !== undefined ? p.gradNormSq : null;
    const key = [p.lr, p.beta1, p.beta2, p.eps, p.step, p.maxNorm, norm ? `${store(norm).id}@${norm.offset}` : '-'].join();
    // a tensor updated twice in one batch would race with itself: a new batch then
    const again = (u: { param: GpuTensor }) =>
      store(u.param) === store(param) && u.param.offset < param.offset + n && param.offset < u.param.offset + u.param.length;
    if (this.pending?.kind !== 'adam' || this.pending.key !== key || this.pending.updates.some(again)) {
      this.emitPending();
      this.pending = { kind: 'adam', key, p, updates: [] };
    }
    this.pending.updates.push({ param: param as GpuTensor, grad: grad as GpuTensor, m: m as GpuTensor, v: v as GpuTensor, wd: p.weightDecay });
  }

  private emitAdam({ p, updates }: PendingAdam): void {
    const norm = p.gradNormSq !== undefined && p.maxNorm !== undefined ? p.gradNormSq : null;
    const f32 = new Float32Array(1),
      wdBits = (wd: number) => ((f32[0] = wd), new Uint32Array(f32.buffer)[0]);
    const roles = ['param', 'grad', 'm', 'v'] as const;
    for (const group of groupBy(updates, (u) => roles.map((r) => store(u[r])))) {
      const cover = Object.fromEntries(roles.map((r) => [r, this.cover(group.map((u) => u[r]))])) as Record<(typeof roles)[number], Tensor>;
      // one view per operand over the group's tensors; where two would overlap in one buffer, one by one
      const views = [...Object.values(cover), ...(norm ? [norm] : [])];
      if (
        group.length > 1 &&
        views.some((a, i) => views.some((b, j) => j > i && store(a) === store(b) && a.offset < b.offset + b.length && b.offset < a.offset + a.length))
      ) {
        for (const u of group) this.emitAdam({ kind: 'adam', key: '', p, updates: [u] });
        continue;
      }
      // [first chunk, length, param, grad] [m, v, weight decay bits, 0], offsets within the covering views
      const words = new Uint32Array(8 * group.length);
      let chunks = 0;
      group.forEach((u, i) => {
        words.set(
          [
            chunks,
            u.param.length,
            u.param.offset - cover.param.offset,
            u.grad.offset - cover.grad.offset,
            u.m.offset - cover.m.offset,
            u.v.offset - cover.v.offset,
            wdBits(u.wd),
            0,
          ],
          8 * i,
        );
        chunks += Math.ceil(u.param.length / CHUNK);
      });
      const table = this.mem.table(words);
      for (const [first, count] of this.chunkRanges(chunks, 16 * CHUNK)) {
        this.run(
          'adamw',
          { ...cover, norm, table },
          {
            tensors: group.length,
            first,
            count,
            clip: +!!norm,
            lr: p.lr,
            beta1: p.beta1,
            beta2: p.beta2,
            eps: p.eps,
            bc1: 1 - p.beta1 ** p.step,
            bc2: 1 - p.beta2 ** p.step,
            max_norm: p.maxNorm ?? 0,
          },
          this.grid(count, 1),
        );
      }
    }
  }

  /** One view of a buffer spanning every tensor of `ts` (all in that buffer). */
  private cover(ts: Tensor[]): Tensor {
    const lo = Math.min(...ts.map((t) => t.offset)),
      hi = Math.max(...ts.map((t) => t.offset + t.length));
    return { buffer: store(ts[0]), offset: lo, length: hi - lo, dtype: ts[0].dtype } as GpuTensor;
  }

  /** Ranges [first, count) of `chunks` chunks, each within the dispatch budget at `flopsPerChunk`. */
  private chunkRanges(chunks: number, flopsPerChunk: number): [number, number][] {
    const per = Math.max(1, Math.floor(this.budget.dispatchFlops / flopsPerChunk));
    const out: [number, number][] = [];
    for (let first = 0; first < chunks; first += per) out.push([first, Math.min(per, chunks - first)]);
    return out;
  }
}

/** Items grouped by a key of buffers, in order of first appearance (a group keeps its items' order). */
function groupBy<T>(items: T[], key: (x: T) => GpuStore[]): T[][] {
  const groups = new Map<string, T[]>();
  for (const x of items) {
    const k = key(x)
      .map((s) => s.id)
      .join();
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(x);
  }
  return [...groups.values()];
}

/** A WebGPU backend on a device obtained from adapters/<runtime>/webgpu.ts (or any GPUDevice). */
export function createWebGPUBackend(device: GPUDevice, opts?: WebGPUBackendOptions): WebGPUBackend {
  return new WebGPUBackend(device, opts);
}

checkedOps(WebGPUBackend);
