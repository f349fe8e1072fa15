/// <reference types="@webgpu/types" preserve="true" />
// The WebGPU backend: the Backend interface over GPUBuffers, running the WGSL kernels of src/wgsl/.
//
// - A Tensor is a view (element offset + length) into a GpuStore (one GPUBuffer). Kernels bind whole
//   buffers and receive element offsets in a uniform Params slot, because storage-binding offsets would
//   have to be 256-byte aligned and views are not. Every storage binding is read_write (see common.wgsl),
//   so views of one arena buffer can be bound side by side in one dispatch.
// - An arena is packed into as few GPUBuffers as the device allows: a new buffer is started whenever the
//   next view would cross maxStorageBufferBindingSize (128 MiB on lavapipe). A view larger than that alone
//   (GPT-2's 154 MB token embedding) is split between rows into parts of one buffer each; the ops that meet
//   such a tensor (memory, elementwise, AdamW, sums of squares, embedding gather/scatter, matmul in any
//   operand) run once per part, and every other op refuses it with a clear error.
// - Ops only encode: dispatches go into one open compute pass of one command encoder; each dispatch's
//   Params go into its own 256-byte slot of a CPU staging array, uploaded to the uniform buffer with one
//   writeBuffer right before the batch is submitted (queue order keeps a later batch from overwriting the
//   slots of an earlier one). The batch is submitted by write(), read(), sync(), free(), or when the slots
//   run out. read() copies into a mapped staging buffer: the only await.
// - Pipelines (one per entry point) are compiled once per GPUDevice and shared by every backend on it.
// - Validation and out-of-memory errors of each submit are caught with error scopes and rethrown by the
//   next read() or sync(), so a broken kernel fails a test instead of returning zeros.
import type { AdamWParams, Arena, ArenaSpec, Backend, DType, DropoutRng, Tensor } from '../backend.ts';
import { dropThreshold, streamKey } from '../rng.ts';
import * as wgsl from '../../wgsl/index.ts';
import { specialize, type ShaderFeatures } from './specialize.ts';
import { toF16Array } from '../f16.ts';

// WebGPU enum values, spelled out so this module needs no GPUBufferUsage/GPUMapMode globals (Dawn's npm
// package only installs them on request).
const USAGE_MAP_READ = 0x0001, USAGE_COPY_SRC = 0x0004, USAGE_COPY_DST = 0x0008, USAGE_UNIFORM = 0x0040, USAGE_STORAGE = 0x0080;
const MAP_READ = 0x0001;
const STAGE_COMPUTE = 0x4;

const SLOT_BYTES = 256; // one dispatch's Params (minUniformBufferOffsetAlignment is at most 256)
const SLOT_WORDS = SLOT_BYTES / 4;
const SLOTS = 4096; // dispatches per batch before an automatic submit
const VIEW_ALIGN = 64; // arena views start on 256-byte boundaries (room for vec4 kernels later)
const MAX_GROUPS = 65535; // maxComputeWorkgroupsPerDimension (the spec's default and minimum)
const MAX_HEAD = 256; // HS_MAX in attention.wgsl

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
}

/** One GPUBuffer; Tensor.buffer of this backend. */
interface GpuStore {
  readonly gpu: GPUBuffer;
  readonly id: number;
  readonly bytes: number;
  /** the buffers of one arena, freed together */
  group: GpuStore[];
  destroyed: boolean;
}

interface GpuTensor extends Tensor {
  readonly buffer: GpuStore;
}

/** Tensor.buffer of a tensor too large for one GPUBuffer: consecutive parts (plain views) in order. */
interface SplitStore {
  readonly parts: GpuTensor[];
}
const isSplit = (t: Tensor): boolean => typeof t.buffer === 'object' && t.buffer !== null && 'parts' in t.buffer;
const partsOf = (t: Tensor): GpuTensor[] => (isSplit(t) ? (t.buffer as SplitStore).parts : [t as GpuTensor]);
const NO_ROW_LIMIT = 0xffffffff;

/** A Params value: a bare number is written as u32 (negative numbers as two's complement), F as f32. */
class F {
  constructor(readonly v: number) {}
}
const f = (v: number) => new F(v);
type Param = number | F;

// ---- kernels: module (a src/wgsl file), entry point, and the role of each storage binding 1..n ---------
// 'r' = only read, 'w' = written (or read-modify-written). Roles decide which operand is copied aside when
// two operands' binding ranges overlap (Dawn rejects overlapping read_write bindings).
type Module = Exclude<keyof typeof wgsl, 'common' | 'reduce'>;
const KERNELS = {
  fill: ['memory', 'fill', 'w'],
  copy: ['memory', 'copy', 'wr'],
  copy_f16: ['memory', 'copy_f16', 'wr'],
  widen_f16: ['memory', 'widen_f16', 'wr'],
  gelu_forward: ['elementwise', 'gelu_forward', 'wr'],
  gelu_backward: ['elementwise', 'gelu_backward', 'wrr'],
  residual_forward: ['elementwise', 'residual_forward', 'wrr'],
  accumulate: ['elementwise', 'accumulate', 'wr'],
  scale: ['elementwise', 'scale', 'wr'],
  dropout: ['elementwise', 'dropout', 'wr'],
  matmul: ['matmul', 'matmul', 'wrrr'],
  bias_backward: ['matmul', 'bias_backward', 'wr'],
  layernorm_forward: ['layernorm', 'layernorm_forward', 'wwwrrr'],
  layernorm_backward_dx: ['layernorm', 'layernorm_backward_dx', 'wrrrrr'],
  layernorm_backward_dwdb: ['layernorm', 'layernorm_backward_dwdb', 'wrrrwr'],
  attention_forward: ['attention', 'attention_forward', 'wwrrr'],
  kv_cache_write: ['attention', 'kv_cache_write', 'wwr'],
  kv_cache_write_ragged: ['attention', 'kv_cache_write_ragged', 'wwrr'],
  attention_ragged: ['attention', 'attention_ragged', 'wrrrr'],
  attention_backward_d: ['attention', 'attention_backward_d', 'rrrrwr'],
  attention_backward_dq: ['attention', 'attention_backward_dq', 'wrrrrr'],
  attention_backward_dkv: ['attention', 'attention_backward_dkv', 'wrrrrr'],
  crossentropy_forward: ['crossentropy', 'crossentropy_forward', 'wrr'],
  crossentropy_sum: ['crossentropy', 'crossentropy_sum', 'wrr'],
  crossentropy_backward: ['crossentropy', 'crossentropy_backward', 'wrrr'],
  softmax_forward: ['crossentropy', 'softmax_forward', 'wr'],
  encoder_forward: ['rows', 'encoder_forward', 'wrrr'],
  encoder_backward_wpe: ['rows', 'encoder_backward_wpe', 'wr'],
  rows_link: ['rows', 'rows_link', 'wr'],
  rows_scatter_add: ['rows', 'rows_scatter_add', 'wrrr'],
  gather_rows: ['rows', 'gather_rows', 'wrr'],
  adamw: ['adamw', 'adamw', 'wrwwr'],
  sumsq_partial: ['adamw', 'sumsq_partial', 'wr'],
  sumsq_final: ['adamw', 'sumsq_final', 'wr'],
} as const satisfies Record<string, readonly [Module, string, string]>;
type KernelName = keyof typeof KERNELS;

/** A matmul over blocks of stored matrices (see WebGPUBackend.matmulBlock). */
interface MatmulBlock {
  out: Tensor; a: Tensor; b: Tensor; bias: Tensor | null;
  M: number; K: number; N: number;
  transA: boolean; transB: boolean; beta: 0 | 1;
  /** stored row lengths of a, b and out */
  lda: number; ldb: number; ldo: number;
}

/** An operand: a tensor view, or null where the kernel declares a binding this call does not use. */
type Operand = Tensor | null;

interface Pipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

/** Compiled pipelines of one device, shared by all backends created on it. */
interface DeviceCache {
  /** keyed by module and variant */
  modules: Map<string, GPUShaderModule>;
  pipelines: Map<string, Pipeline>;
  /** errors of pipeline creation, reported by the next read()/sync() of any backend */
  compileErrors: Promise<GPUError | null>[];
}
const deviceCaches = new WeakMap<GPUDevice, DeviceCache>();

let nextStoreId = 1;

/** bytes per element */
const bytesOf = (d: DType): number => (d === 'f16' ? 2 : 4);

function need(t: Tensor, n: number, what: string): void {
  if (t.length < n) throw new RangeError(`${what}: tensor of ${t.length} elements, op needs ${n}`);
}
function store(t: Tensor): GpuStore {
  if (isSplit(t)) throw new RangeError(`a tensor of ${t.length} elements is split across GPU buffers (larger than one storage binding); this op cannot take it`);
  const s = (t as GpuTensor).buffer;
  if (!s || typeof s !== 'object' || !('gpu' in s)) throw new TypeError('tensor does not belong to a WebGPU backend');
  if (s.destroyed) throw new Error('tensor was freed');
  return s;
}
const f32Bits = (() => {
  const fa = new Float32Array(1), ua = new Uint32Array(fa.buffer);
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

  private readonly cache: DeviceCache;
  private readonly stores = new Set<GpuStore>();
  private readonly uniform: GPUBuffer;
  private readonly params = new Uint32Array(SLOTS * SLOT_WORDS);
  private readonly paramsF = new Float32Array(this.params.buffer);
  private slot = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly bindGroupKeysOf = new Map<number, string[]>();
  private readonly scratch = new Map<string, GpuStore>();
  private pendingErrors: Promise<GPUError | null>[] = [];
  /** tiny buffers bound where a kernel declares a binding that a call does not use (one per binding slot,
   *  since one range may not be bound twice writable) */
  private readonly dummies: GpuStore[];
  /** minStorageBufferOffsetAlignment: binding ranges start on multiples of it */
  private readonly offsetAlign: number;

  constructor(device: GPUDevice, opts: WebGPUBackendOptions = {}) {
    this.device = device;
    this.name = opts.name ?? 'webgpu';
    const lim = device.limits;
    if (lim.maxComputeInvocationsPerWorkgroup < 256) throw new Error(`WebGPU device allows ${lim.maxComputeInvocationsPerWorkgroup} invocations per workgroup; gptedge's kernels need 256`);
    if (lim.maxStorageBuffersPerShaderStage < 6) throw new Error(`WebGPU device allows ${lim.maxStorageBuffersPerShaderStage} storage buffers per stage; gptedge needs 6`);
    if (lim.maxComputeWorkgroupStorageSize < 8192) throw new Error(`WebGPU device allows ${lim.maxComputeWorkgroupStorageSize} bytes of workgroup storage; gptedge needs 8192`);
    const deviceMax = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
    this.maxBufferBytes = Math.floor(Math.min(opts.maxBufferBytes ?? deviceMax, deviceMax) / 4) * 4;
    let c = deviceCaches.get(device);
    if (!c) deviceCaches.set(device, (c = { modules: new Map(), pipelines: new Map(), compileErrors: [] }));
    this.cache = c;
    this.uniform = device.createBuffer({ size: SLOTS * SLOT_BYTES, usage: USAGE_UNIFORM | USAGE_COPY_DST, label: 'gptedge params' });
    this.offsetAlign = lim.minStorageBufferOffsetAlignment;
    const has = (f: string) => device.features.has(f);
    this.features = { f16: (opts.features?.f16 ?? true) && has('shader-f16'), subgroups: (opts.features?.subgroups ?? true) && has('subgroups') };
    if (opts.features?.f16 && !this.features.f16) throw new Error('WebGPU device lacks shader-f16: f16 weights are not available');
    if (opts.features?.subgroups && !this.features.subgroups) throw new Error('WebGPU device lacks subgroups');
    this.dummies = Array.from({ length: 8 }, (_, i) => this.newStore(16, `dummy ${i}`));
  }

  // ---- memory ------------------------------------------------------------------------------------
  private newStore(bytes: number, label: string): GpuStore {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    if (size > this.maxBufferBytes && bytes > 0) {
      throw new RangeError(`${label}: ${bytes} bytes exceed this WebGPU device's largest storage binding (${this.maxBufferBytes} bytes); tensors that large must be split by the caller`);
    }
    const gpu = this.device.createBuffer({ size, usage: USAGE_STORAGE | USAGE_COPY_SRC | USAGE_COPY_DST, label });
    const s: GpuStore = { gpu, id: nextStoreId++, bytes: size, group: [], destroyed: false };
    s.group.push(s);
    this.stores.add(s);
    return s;
  }

  allocArena(specs: ArenaSpec[]): Arena {
    const arena: Arena = {};
    for (const dtype of ['f32', 'i32', 'f16'] as DType[]) {
      const group = specs.filter((s) => (s.dtype ?? 'f32') === dtype);
      if (group.length === 0) continue;
      if (dtype === 'f16') this.needF16();
      const bpe = bytesOf(dtype), maxElems = Math.floor(this.maxBufferBytes / bpe);
      // First fit in order: start a new buffer when the next view would cross the binding limit.
      const buffers: { views: { name: string; offset: number; length: number }[]; size: number }[] = [];
      const oversized: ArenaSpec[] = [];
      let cur: (typeof buffers)[number] | null = null;
      for (const s of group) {
        if (s.length > maxElems) {
          oversized.push(s);
          continue;
        }
        const start: number = cur ? Math.ceil(cur.size / VIEW_ALIGN) * VIEW_ALIGN : 0;
        if (!cur || start + s.length > maxElems) {
          cur = { views: [], size: 0 };
          buffers.push(cur);
        }
        const off = Math.ceil(cur.size / VIEW_ALIGN) * VIEW_ALIGN;
        cur.views.push({ name: s.name, offset: off, length: s.length });
        cur.size = off + s.length;
      }
      const siblings: GpuStore[] = [];
      for (const [i, b] of buffers.entries()) {
        const st = this.newStore(b.size * bpe, `arena ${dtype} ${i}`);
        siblings.push(st);
        for (const v of b.views) arena[v.name] = { buffer: st, offset: v.offset, length: v.length, dtype } as GpuTensor;
      }
      for (const s of oversized) {
        // whole rows per part, so row ops find each row in one buffer
        const partRows = s.rowLength ? Math.floor(maxElems / s.rowLength) : 0;
        if (partRows < 1) {
          throw new RangeError(`arena view ${s.name}: ${s.length * bpe} bytes exceed this WebGPU device's largest storage binding (${this.maxBufferBytes} bytes)` +
            (s.rowLength ? `, and one row of ${s.rowLength} does not fit either` : ' and no rowLength says where it may be split'));
        }
        const parts: GpuTensor[] = [];
        for (let at = 0; at < s.length; at += partRows * s.rowLength!) {
          const n = Math.min(partRows * s.rowLength!, s.length - at);
          const st = this.newStore(n * bpe, `${s.name} part ${parts.length}`);
          siblings.push(st);
          parts.push({ buffer: st, offset: 0, length: n, dtype } as GpuTensor);
        }
        arena[s.name] = { buffer: { parts } satisfies SplitStore, offset: 0, length: s.length, dtype };
      }
      for (const st of siblings) st.group = siblings;
    }
    return arena;
  }

  alloc(length: number, dtype: DType = 'f32'): Tensor {
    if (dtype === 'f16') this.needF16();
    return { buffer: this.newStore(length * bytesOf(dtype), `tensor ${dtype} ${length}`), offset: 0, length, dtype } as GpuTensor;
  }

  private needF16(): void {
    if (!this.features.f16) throw new Error(`${this.name}: f16 tensors need a WebGPU device with shader-f16 (and the f16 feature not turned off)`);
  }

  free(...tensors: Tensor[]): void {
    const doomed = new Set<GpuStore>();
    for (const t of tensors) for (const p of partsOf(t)) for (const s of store(p).group) doomed.add(s);
    if (doomed.size === 0) return;
    this.flush(); // commands already encoded may still use them
    for (const s of doomed) this.destroyStore(s);
  }

  private destroyStore(s: GpuStore): void {
    if (s.destroyed) return;
    s.destroyed = true;
    s.gpu.destroy();
    this.stores.delete(s);
    for (const k of this.bindGroupKeysOf.get(s.id) ?? []) this.bindGroups.delete(k);
    this.bindGroupKeysOf.delete(s.id);
  }

  /** Frees every buffer of this backend (the device and its pipelines stay). */
  destroy(): void {
    this.flush();
    for (const s of [...this.stores]) this.destroyStore(s);
    this.scratch.clear();
    this.uniform.destroy();
  }

  slice(t: Tensor, offset: number, length: number): Tensor {
    if (offset < 0 || length < 0 || offset + length > t.length) throw new RangeError(`slice [${offset}, +${length}) outside a tensor of ${t.length}`);
    if (isSplit(t)) {
      const parts: GpuTensor[] = [];
      let at = 0;
      for (const p of partsOf(t)) {
        const lo = Math.max(offset, at), hi = Math.min(offset + length, at + p.length);
        if (hi > lo) parts.push(this.slice(p, lo - at, hi - lo) as GpuTensor);
        at += p.length;
      }
      if (parts.length === 0) return this.slice(partsOf(t)[0], 0, 0);
      return parts.length === 1 ? parts[0] : ({ buffer: { parts } satisfies SplitStore, offset: 0, length, dtype: t.dtype } as Tensor);
    }
    return { buffer: store(t), offset: t.offset + offset, length, dtype: t.dtype } as GpuTensor;
  }

  write(t: Tensor, data: Float32Array | Int32Array, dstOffset = 0): void {
    if (dstOffset < 0 || dstOffset + data.length > t.length) throw new RangeError(`write of ${data.length} at ${dstOffset} into a tensor of ${t.length}`);
    if (data.length === 0) return;
    if (isSplit(t)) {
      let at = 0;
      for (const p of partsOf(this.slice(t, dstOffset, data.length))) {
        this.write(p, data.subarray(at, at + p.length));
        at += p.length;
      }
      return;
    }
    // queue.writeBuffer runs ahead of anything not yet submitted: submit what was encoded before it first.
    this.flush();
    if (t.dtype === 'f16') {
      // half bits rounded on the host go to a scratch buffer in whole words; copy_f16 places them
      const bits = toF16Array(data as Float32Array);
      const up = this.scratchView('f16 upload', bits.length, 'f16');
      this.device.queue.writeBuffer(store(up).gpu, 0, bits as Uint16Array<ArrayBuffer>);
      const dst = this.slice(t, dstOffset, data.length);
      this.run('copy_f16', [dst, this.slice(up, 0, data.length)], (o) => [data.length, o[0], o[1]], this.grid(data.length, 256), true);
      return;
    }
    // (typed as ArrayBuffer-backed: Deno's lib.dom rejects a possibly-shared buffer; a copy is made either way)
    this.device.queue.writeBuffer(store(t).gpu, (t.offset + dstOffset) * 4, data as unknown as Float32Array<ArrayBuffer>);
  }

  async read(t: Tensor): Promise<Float32Array | Int32Array> {
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
      const wide = this.scratchView('f16 read', t.length);
      this.run('widen_f16', [wide, t], (o) => [t.length, o[0], o[1]], this.grid(t.length, 256), true);
      return this.read(wide);
    }
    const s = store(t);
    const bytes = t.length * 4;
    this.flush();
    if (bytes === 0) {
      await this.checkErrors();
      return t.dtype === 'f32' ? new Float32Array(0) : new Int32Array(0);
    }
    const staging = this.device.createBuffer({ size: bytes, usage: USAGE_MAP_READ | USAGE_COPY_DST, label: 'read staging' });
    try {
      const enc = this.device.createCommandEncoder();
      enc.copyBufferToBuffer(s.gpu, t.offset * 4, staging, 0, bytes);
      this.submit(enc.finish());
      await staging.mapAsync(MAP_READ);
      const copy = staging.getMappedRange().slice(0);
      staging.unmap();
      await this.checkErrors();
      return t.dtype === 'f32' ? new Float32Array(copy) : new Int32Array(copy);
    } finally {
      staging.destroy();
    }
  }

  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.checkErrors();
  }

  fill(t: Tensor, value: number): void {
    if (this.piecewise(t.length, [t], (_, v) => this.fill(v[0]!, value))) return;
    const bits = t.dtype === 'f32' ? f32Bits(value) : value | 0;
    this.run('fill', [t], (o) => [t.length, o[0], 0, bits], this.grid(t.length, 256));
  }

  copy(dst: Tensor, src: Tensor): void {
    need(dst, src.length, 'copy');
    if (this.piecewise(src.length, [dst, src], (_, v) => this.copy(v[0]!, v[1]!))) return;
    this.run('copy', [dst, src], (o) => [src.length, o[0], o[1]], this.grid(src.length, 256));
  }

  // ---- tensors split across buffers ---------------------------------------------------------------
  /**
   * For element-aligned ops over n elements: when an operand is split, calls `op` once per range
   * [start, start+len) in which every operand lies in one buffer, with the operands' sub-views, and
   * returns true; returns false (doing nothing) when no operand is split.
   */
  private piecewise(n: number, ts: (Tensor | null)[], op: (start: number, views: (Tensor | null)[]) => void): boolean {
    if (!ts.some((t) => t && isSplit(t))) return false;
    const cuts = new Set([0, n]);
    for (const t of ts) {
      if (!t || !isSplit(t)) continue;
      let at = 0;
      for (const p of partsOf(t)) if ((at += p.length) < n) cuts.add(at);
    }
    const at = [...cuts].sort((x, y) => x - y);
    for (let i = 0; i + 1 < at.length; i++) op(at[i], ts.map((t) => t && this.slice(t, at[i], at[i + 1] - at[i])));
    return true;
  }

  /** The parts of a row-major (rows, C) tensor as row ranges [lo, hi): rows.wgsl skips rows outside them. */
  private rowParts(t: Tensor, C: number): { view: Tensor; lo: number; hi: number }[] {
    if (!isSplit(t)) return [{ view: t, lo: 0, hi: NO_ROW_LIMIT }];
    let at = 0;
    return partsOf(t).map((p) => {
      if (at % C !== 0) throw new RangeError(`a tensor split across GPU buffers at element ${at} is not split between rows of ${C}`);
      const lo = at / C;
      at += p.length;
      return { view: p, lo, hi: lo + Math.ceil(p.length / C) };
    });
  }

  // ---- encoding ------------------------------------------------------------------------------------
  /** The pipeline of a kernel, in its f16-weights variant when `f16` (operand WT is f16). */
  private pipelineFor(name: KernelName, f16 = false): Pipeline {
    const variant: ShaderFeatures = { f16, subgroups: this.features.subgroups };
    const suffix = `${f16 ? '@f16' : ''}${variant.subgroups ? '@subgroups' : ''}`;
    const key = name + suffix;
    let p = this.cache.pipelines.get(key);
    if (p) return p;
    const [mod, entry, roles] = KERNELS[name];
    const dev = this.device;
    dev.pushErrorScope('validation');
    const modKey = mod + suffix;
    let module = this.cache.modules.get(modKey);
    if (!module) {
      const src = wgsl[mod];
      const reduce = /\bwg_(sum|max)|\bred\[/.test(src) ? wgsl.reduce + '\n' : '';
      module = dev.createShaderModule({ code: specialize(wgsl.common + '\n' + reduce + src, variant), label: modKey });
      this.cache.modules.set(modKey, module);
    }
    const entries: GPUBindGroupLayoutEntry[] = [{ binding: 0, visibility: STAGE_COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: SLOT_BYTES } }];
    for (let i = 1; i <= roles.length; i++) entries.push({ binding: i, visibility: STAGE_COMPUTE, buffer: { type: 'storage' } });
    const layout = dev.createBindGroupLayout({ entries, label: key });
    const pipeline = dev.createComputePipeline({ layout: dev.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module, entryPoint: entry }, label: key });
    this.cache.compileErrors.push(dev.popErrorScope());
    p = { pipeline, layout };
    this.cache.pipelines.set(key, p);
    return p;
  }

  /** workgroups for n items at `per` items per workgroup, as a 2-D grid when over 65535 */
  private grid(n: number, per: number): [number, number] {
    const g = Math.ceil(n / per);
    if (g <= MAX_GROUPS) return [g, 1];
    const y = Math.ceil(g / MAX_GROUPS);
    if (y > MAX_GROUPS) throw new RangeError(`${n} items is too large a grid`);
    return [Math.ceil(g / y), y];
  }

  /** The byte range a view is bound with: its start rounded down to the storage offset alignment. */
  private range(t: Tensor): { s: GpuStore; start: number; size: number } {
    const s = store(t), bpe = bytesOf(t.dtype);
    const start = Math.floor((t.offset * bpe) / this.offsetAlign) * this.offsetAlign;
    // binding sizes are whole words
    const end = Math.min(s.bytes, Math.ceil(Math.max((t.offset + t.length) * bpe, start + 4) / 4) * 4);
    return { s, start, size: end - start };
  }

  /** A temporary copy of `t` in a buffer of its own: the k-th operand copied aside in one dispatch. */
  private aside(t: Tensor, k: number): Tensor {
    const tmp = this.scratchBuf(`aside ${k}`, t.length);
    const view = { buffer: tmp, offset: 0, length: t.length, dtype: t.dtype } as GpuTensor;
    this.copy(view, t);
    return view;
  }

  /**
   * Encodes one dispatch. Operands are bound as byte ranges of their buffers (start aligned down to
   * 256 bytes) and `params` receives each operand's element offset relative to its binding. Two operands
   * whose ranges overlap would be rejected by Dawn, so the read-only one is first copied aside.
   */
  private run(name: KernelName, operands: Operand[], params: (offsets: number[]) => Param[], groups: [number, number], f16 = false): void {
    if (!f16 && operands.some((t) => t?.dtype === 'f16')) throw new TypeError(`${name}: f16 tensors are weight storage (matmul's b, the token embedding); this op takes f32`);
    if (groups[0] === 0 || groups[1] === 0) return;
    const roles = KERNELS[name][2];
    const ops = operands.slice();
    let asides = 0;
    for (let i = 0; i < ops.length; i++) {
      for (let j = i + 1; j < ops.length; j++) {
        const a = ops[i], b = ops[j];
        if (!a || !b || store(a) !== store(b)) continue;
        const ra = this.range(a), rb = this.range(b);
        if (ra.start >= rb.start + rb.size || rb.start >= ra.start + ra.size) continue;
        const k = roles[j] === 'r' ? j : roles[i] === 'r' ? i : -1;
        if (k < 0) throw new Error(`${name}: two outputs overlap in one buffer`);
        ops[k] = this.aside(ops[k]!, asides++);
      }
    }
    const { pipeline, layout } = this.pipelineFor(name, f16);
    const bound = ops.map((t, i) => (t ? this.range(t) : { s: this.dummies[i], start: 0, size: this.dummies[i].bytes }));
    const offsets = ops.map((t, i) => (t ? t.offset - bound[i].start / bytesOf(t.dtype) : 0));
    const values = params(offsets);
    if (this.slot === SLOTS) this.flush();
    if (!this.pass) {
      this.encoder = this.device.createCommandEncoder();
      this.pass = this.encoder.beginComputePass();
    }
    const base = this.slot * SLOT_WORDS;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v instanceof F) this.paramsF[base + i] = v.v;
      else this.params[base + i] = v >>> 0;
    }
    const key = name + ':' + bound.map((b) => `${b.s.id}@${b.start}+${b.size}`).join(',');
    let bg = this.bindGroups.get(key);
    if (!bg) {
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.uniform, offset: 0, size: SLOT_BYTES } }];
      bound.forEach((b, i) => entries.push({ binding: i + 1, resource: { buffer: b.s.gpu, offset: b.start, size: b.size } }));
      bg = this.device.createBindGroup({ layout, entries });
      if (this.bindGroups.size >= 8192) {
        this.bindGroups.clear();
        this.bindGroupKeysOf.clear();
      }
      this.bindGroups.set(key, bg);
      for (const b of new Set(bound.map((x) => x.s))) {
        let ks = this.bindGroupKeysOf.get(b.id);
        if (!ks) this.bindGroupKeysOf.set(b.id, (ks = []));
        ks.push(key);
      }
    }
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, bg, [this.slot * SLOT_BYTES]);
    this.pass.dispatchWorkgroups(groups[0], groups[1]);
    this.slot++;
  }

  /** Submits everything encoded so far, after uploading its Params. */
  flush(): void {
    if (!this.pass || !this.encoder) return;
    this.pass.end();
    this.device.queue.writeBuffer(this.uniform, 0, this.params.subarray(0, this.slot * SLOT_WORDS));
    const cb = this.encoder.finish();
    this.pass = null;
    this.encoder = null;
    this.slot = 0;
    this.submit(cb);
  }

  private submit(cb: GPUCommandBuffer): void {
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    this.device.queue.submit([cb]);
    this.pendingErrors.push(this.device.popErrorScope(), this.device.popErrorScope());
  }

  private async checkErrors(): Promise<void> {
    const pending = [...this.cache.compileErrors, ...this.pendingErrors];
    this.cache.compileErrors.length = 0;
    this.pendingErrors = [];
    const errors = (await Promise.all(pending)).filter((e): e is GPUError => e !== null);
    if (errors.length) throw new Error(`WebGPU error: ${errors.map((e) => e.message).join('; ')}`);
  }

  /** A backend-owned scratch buffer of at least `elements` 32-bit words, reused across calls. */
  private scratchBuf(name: string, elements: number): GpuStore {
    const cur = this.scratch.get(name);
    if (cur && cur.bytes >= elements * 4) return cur;
    if (cur) {
      this.flush(); // encoded commands may still use the old one
      this.destroyStore(cur);
    }
    const s = this.newStore(Math.max(elements, 256) * 4, `scratch ${name}`);
    this.scratch.set(name, s);
    return s;
  }
  private scratchView(name: string, elements: number, dtype: DType = 'f32'): Tensor {
    return { buffer: this.scratchBuf(name, Math.ceil((elements * bytesOf(dtype)) / 4)), offset: 0, length: elements, dtype } as GpuTensor;
  }

  // ---- embedding ----------------------------------------------------------------------------------
  // rows.wgsl Params: { n, R, C, T, o_out, o_a, o_b, o_c, pos0, B }
  encoderForward(out: Tensor, ids: Tensor, wte: Tensor, wpe: Tensor, B: number, T: number, C: number, posOffset: number): void {
    need(out, B * T * C, 'encoderForward out');
    need(ids, B * T, 'encoderForward ids');
    need(wpe, (posOffset + T) * C, 'encoderForward wpe');
    const n = B * T * C;
    // every output row takes its token's row from the one part of wte that holds it
    const half = wte.dtype === 'f16';
    if (half && (out.dtype === 'f16' || wpe.dtype === 'f16')) throw new TypeError('encoderForward: only wte may be f16');
    for (const { view, lo, hi } of this.rowParts(wte, C)) {
      this.run('encoder_forward', [out, ids, view, wpe], (o) => [n, 0, C, T, o[0], o[1], o[2], o[3], posOffset, B, lo, hi], this.grid(n, 256), half);
    }
  }
  encoderBackward(dwte: Tensor, dwpe: Tensor, dout: Tensor, ids: Tensor, B: number, T: number, C: number): void {
    need(dout, B * T * C, 'encoderBackward dout');
    need(dwpe, T * C, 'encoderBackward dwpe');
    // dwpe(T,C) += Σ_b dout(b,t,C)
    this.run('encoder_backward_wpe', [dwpe, dout], (o) => [T * C, 0, C, T, o[0], o[1], 0, 0, 0, B], this.grid(T * C, 256));
    // dwte[ids[b,t]] += dout(b,t,C): a row scatter-add with repeated ids
    this.scatterAdd(dwte, dout, ids, B * T, C);
  }

  // ---- layernorm ----------------------------------------------------------------------------------
  // layernorm.wgsl Params: { N, C, o_out, o_mean, o_rstd, o_inp, o_w, o_b, o_dout, eps }
  layernormForward(out: Tensor, mean: Tensor, rstd: Tensor, inp: Tensor, w: Tensor, b: Tensor, N: number, C: number, eps: number): void {
    need(inp, N * C, 'layernormForward');
    need(out, N * C, 'layernormForward out');
    this.run('layernorm_forward', [out, mean, rstd, inp, w, b], (o) => [N, C, o[0], o[1], o[2], o[3], o[4], o[5], 0, f(eps)], this.grid(N, 1));
  }
  layernormBackward(dinp: Tensor, dw: Tensor, db: Tensor, dout: Tensor, inp: Tensor, w: Tensor, mean: Tensor, rstd: Tensor, N: number, C: number): void {
    need(inp, N * C, 'layernormBackward');
    // dinp (N,C), a workgroup per row
    this.run('layernorm_backward_dx', [dinp, mean, rstd, inp, w, dout], (o) => [N, C, o[0], o[1], o[2], o[3], o[4], 0, o[5], f(0)], this.grid(N, 1));
    // dw, db (C), an invocation per column (o_out addresses dw, o_w addresses db)
    this.run('layernorm_backward_dwdb', [dw, mean, rstd, inp, db, dout], (o) => [N, C, o[0], o[1], o[2], o[3], o[4], 0, o[5], f(0)], this.grid(C, 64));
  }

  // ---- matmul -------------------------------------------------------------------------------------
  // matmul.wgsl Params: { M, K, N, o_out, o_a, o_b, o_bias, trans_a, trans_b, beta, has_bias, lda, ldb, ldo }
  matmul(out: Tensor, a: Tensor, b: Tensor, bias: Tensor | null, M: number, K: number, N: number, transA: boolean, transB: boolean, beta: 0 | 1): void {
    need(a, M * K, 'matmul a');
    need(b, K * N, 'matmul b');
    need(out, M * N, 'matmul out');
    if (bias) need(bias, N, 'matmul bias');
    this.matmulBlock({ out, a, b, bias, M, K, N, transA, transB, beta, lda: transA ? M : K, ldb: transB ? K : N, ldo: N });
  }

  /**
   * One matmul over blocks of stored matrices (leading dimensions lda, ldb, ldo). An operand split across
   * buffers is split between its stored rows, which restricts one of M, K, N: the block is run once per
   * part, K-parts accumulating into out after the first.
   */
  private matmulBlock(m: MatmulBlock): void {
    const { out, a, b, bias, M, K, N, transA, transB, beta, lda, ldb, ldo } = m;
    // which dimension each operand's stored rows run along
    const split = [[out, 'M', ldo], [a, transA ? 'K' : 'M', lda], [b, transB ? 'N' : 'K', ldb]].find(([t]) => isSplit(t as Tensor));
    if (split) {
      const [t, dim, ld] = split as [Tensor, 'M' | 'N' | 'K', number];
      let at = 0, first = true;
      for (const p of partsOf(t)) {
        const r0 = at / ld, r1 = Math.min(Math.ceil((at + p.length) / ld), dim === 'M' ? M : dim === 'N' ? N : K);
        if (at % ld !== 0) throw new RangeError(`matmul: an operand split across GPU buffers at element ${at} is not split between rows of ${ld}`);
        at += p.length;
        if (r1 <= r0) continue;
        this.matmulBlock(this.restrict(m, dim, r0, r1, first));
        first = false;
      }
      return;
    }
    const gx = Math.ceil(N / 64), gy = Math.ceil(M / 64);
    if (gx > MAX_GROUPS || gy > MAX_GROUPS) throw new RangeError(`matmul ${M}x${N} is too large a grid`);
    const half = b.dtype === 'f16';
    if (half && [out, a, bias].some((t) => t?.dtype === 'f16')) throw new TypeError('matmul: only the b operand may be f16');
    this.run('matmul', [out, a, b, bias], (o) => [M, K, N, o[0], o[1], o[2], o[3], transA ? 1 : 0, transB ? 1 : 0, beta, bias ? 1 : 0, lda, ldb, ldo], [gx, gy], half);
  }

  /** The block of `m` with dimension `dim` restricted to [r0, r1): operand views start later and shrink. */
  private restrict(m: MatmulBlock, dim: 'M' | 'N' | 'K', r0: number, r1: number, first: boolean): MatmulBlock {
    const M = dim === 'M' ? r1 - r0 : m.M, N = dim === 'N' ? r1 - r0 : m.N, K = dim === 'K' ? r1 - r0 : m.K;
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
    need(dout, M * N, 'biasBackward dout');
    this.run('bias_backward', [dbias, dout], (o) => [M, 0, N, o[0], o[1]], this.grid(N, 64));
  }

  // ---- attention ----------------------------------------------------------------------------------
  private headSize(C: number, NH: number): number {
    const hs = C / NH;
    if (!Number.isInteger(hs)) throw new RangeError(`C=${C} is not a multiple of NH=${NH}`);
    if (hs > MAX_HEAD) throw new RangeError(`head size ${hs} exceeds the WebGPU kernels' ${MAX_HEAD}`);
    return hs;
  }
  private dropParams(pDrop: number, rng: DropoutRng | null): [number, number, number, F] {
    if (pDrop > 0 && rng) return [1, streamKey(rng.seed, rng.stream), dropThreshold(pDrop), f(1 / (1 - pDrop))];
    return [0, 0, 0, f(1)];
  }

  // attention.wgsl FwdParams: { rows, Tq, NH, hs, o_q, q_bs, q_rs, o_k, k_bs, k_rs, o_v, v_bs, v_rs,
  //   o_out, o_lse, pos0, write_lse, drop, key, thr, inv_keep, scale, kv_in_q }
  attentionForward(out: Tensor, lse: Tensor, qkv: Tensor, B: number, T: number, C: number, NH: number, pDrop: number, rng: DropoutRng | null): void {
    const hs = this.headSize(C, NH);
    need(qkv, B * T * 3 * C, 'attentionForward qkv');
    need(out, B * T * C, 'attentionForward out');
    need(lse, B * NH * T, 'attentionForward lse');
    const rows = B * NH * T, bs = T * 3 * C, rs = 3 * C;
    // q, k and v are all read through the qkv binding (kv_in_q = 1)
    this.run('attention_forward', [out, lse, qkv, null, null], (o) =>
      [rows, T, NH, hs, o[2], bs, rs, o[2] + C, bs, rs, o[2] + 2 * C, bs, rs, o[0], o[1], 0, 1, ...this.dropParams(pDrop, rng), f(1 / Math.sqrt(hs)), 1],
      this.grid(rows, 1));
  }

  // attention.wgsl BwdParams: { rows, T, NH, hs, o_dqkv, o_lse, o_qkv, o_dout, o_out, o_D, drop, key, thr, inv_keep, scale }
  attentionBackward(dqkv: Tensor, dout: Tensor, qkv: Tensor, out: Tensor, lse: Tensor, B: number, T: number, C: number, NH: number, pDrop: number, rng: DropoutRng | null): void {
    const hs = this.headSize(C, NH);
    need(dqkv, B * T * 3 * C, 'attentionBackward dqkv');
    need(qkv, B * T * 3 * C, 'attentionBackward qkv');
    need(dout, B * T * C, 'attentionBackward dout');
    const rows = B * NH * T;
    const D = this.scratchView('attention D', rows);
    const ops = [dqkv, lse, qkv, dout, D, out];
    const params = (o: number[]) => [rows, T, NH, hs, o[0], o[1], o[2], o[3], o[5], o[4], ...this.dropParams(pDrop, rng), f(1 / Math.sqrt(hs))];
    this.run('attention_backward_d', ops, params, this.grid(rows, 64)); // D = dout·out per query row
    this.run('attention_backward_dq', ops, params, this.grid(rows, 1)); // dq, a workgroup per query
    this.run('attention_backward_dkv', ops, params, this.grid(rows, 1)); // dk, dv, a workgroup per key
  }

  attentionCached(out: Tensor, qkv: Tensor, kCache: Tensor, vCache: Tensor, B: number, Tn: number, C: number, NH: number, pos0: number, Tmax: number): void {
    if (pos0 + Tn > Tmax) throw new RangeError(`KV cache of ${Tmax} positions cannot hold ${pos0 + Tn}`);
    const hs = this.headSize(C, NH);
    need(qkv, B * Tn * 3 * C, 'attentionCached qkv');
    need(kCache, B * Tmax * C, 'attentionCached kCache');
    need(vCache, B * Tmax * C, 'attentionCached vCache');
    need(out, B * Tn * C, 'attentionCached out');
    // kCache, vCache (B,Tmax,C) at pos0.. = the new k, v. CacheParams: { n, Tn, C, Tmax, pos0, o_qkv, o_k, o_v }
    const n = B * Tn * C;
    this.run('kv_cache_write', [kCache, vCache, qkv], (o) => [n, Tn, C, Tmax, pos0, o[2], o[0], o[1]], this.grid(n, 256));
    const rows = B * NH * Tn;
    this.run('attention_forward', [out, null, qkv, kCache, vCache], (o) =>
      [rows, Tn, NH, hs, o[2], Tn * 3 * C, 3 * C, o[3], Tmax * C, C, o[4], Tmax * C, C, o[0], 0, pos0, 0, 0, 0, 0, f(1), f(1 / Math.sqrt(hs)), 0],
      this.grid(rows, 1));
  }

  // attention.wgsl RaggedParams: { N, C, NH, hs, Tmax, o_qkv, o_k, o_v, o_sp, o_out, scale }
  attentionRagged(out: Tensor, qkv: Tensor, kCache: Tensor, vCache: Tensor, slotPos: Tensor, N: number, C: number, NH: number, Tmax: number): void {
    const hs = this.headSize(C, NH);
    need(qkv, N * 3 * C, 'attentionRagged qkv');
    need(out, N * C, 'attentionRagged out');
    need(slotPos, 2 * N, 'attentionRagged slotPos');
    if (kCache.length % (Tmax * C) !== 0 || vCache.length !== kCache.length) throw new RangeError(`attentionRagged: caches of ${kCache.length} and ${vCache.length} elements are not slots of ${Tmax} × ${C}`);
    // slots and positions are checked by the caller (GPT.transformer): reading them back here would stall the queue
    const params = (qkvO: number, kO: number, vO: number, spO: number, outO: number) => [N, C, NH, hs, Tmax, qkvO, kO, vO, spO, outO, f(1 / Math.sqrt(hs)), 0];
    this.run('kv_cache_write_ragged', [kCache, vCache, qkv, slotPos], (o) => params(o[2], o[0], o[1], o[3], 0), this.grid(N * C, 256));
    this.run('attention_ragged', [out, qkv, kCache, vCache, slotPos], (o) => params(o[1], o[2], o[3], o[4], o[0]), this.grid(N * NH, 1));
  }

  // ---- elementwise --------------------------------------------------------------------------------
  // elementwise.wgsl Params: { n, o_out, o_a, o_b, s, key, thr, inplace }
  private elementwise(name: KernelName, N: number, out: Tensor, a: Tensor, b: Tensor | null, s = 0, key = 0, thr = 0, mayAlias = false): void {
    need(out, N, name);
    need(a, N, name);
    if (b) need(b, N, name);
    // dropout's mask is keyed by element index: a range starting at `start` continues the key from there
    if (this.piecewise(N, [out, a, b], (start, v) => this.elementwise(name, v[0]!.length, v[0]!, v[1]!, v[2], s, name === 'dropout' ? (key + start) >>> 0 : key, thr, mayAlias))) return;
    const inplace = mayAlias && store(out) === store(a) && out.offset === a.offset;
    this.run(name, b ? [out, a, b] : [out, inplace ? null : a], (o) => [N, o[0], inplace ? o[0] : o[1], b ? o[2] : 0, f(s), key, thr, inplace ? 1 : 0], this.grid(N, 256));
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
  scale(out: Tensor, inp: Tensor, s: number, N: number): void {
    this.elementwise('scale', N, out, inp, null, s, 0, 0, true);
  }
  dropoutForward(out: Tensor, inp: Tensor, N: number, p: number, rng: DropoutRng): void {
    this.elementwise('dropout', N, out, inp, null, 1 / (1 - p), streamKey(rng.seed, rng.stream), dropThreshold(p), true);
  }
  dropoutBackward(dinp: Tensor, dout: Tensor, N: number, p: number, rng: DropoutRng): void {
    this.dropoutForward(dinp, dout, N, p, rng);
  }

  // ---- loss ---------------------------------------------------------------------------------------
  // crossentropy.wgsl Params: { N, V, o_a, o_b, o_c, o_d, s, inplace }
  crossEntropyForward(losses: Tensor, loss: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, N: number, V: number): void {
    need(logits, N * V, 'crossEntropyForward logits');
    need(losses, N, 'crossEntropyForward losses');
    need(targets, N, 'crossEntropyForward targets');
    need(weights, N, 'crossEntropyForward weights');
    this.run('crossentropy_forward', [losses, logits, targets], (o) => [N, V, o[0], o[1], o[2], 0, f(0), 0], this.grid(N, 1));
    this.run('crossentropy_sum', [loss, losses, weights], (o) => [N, V, o[0], o[1], o[2], 0, f(0), 0], [1, 1]);
  }
  crossEntropyBackward(dlogits: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, N: number, V: number, dscale: number): void {
    need(logits, N * V, 'crossEntropyBackward logits');
    need(dlogits, N * V, 'crossEntropyBackward dlogits');
    const inplace = store(dlogits) === store(logits) && dlogits.offset === logits.offset;
    this.run('crossentropy_backward', [dlogits, inplace ? null : logits, targets, weights],
      (o) => [N, V, o[0], inplace ? o[0] : o[1], o[2], o[3], f(dscale), inplace ? 1 : 0], this.grid(N, 1));
  }
  softmaxForward(probs: Tensor, logits: Tensor, N: number, V: number, temperature: number): void {
    need(logits, N * V, 'softmaxForward logits');
    need(probs, N * V, 'softmaxForward probs');
    const inplace = store(probs) === store(logits) && probs.offset === logits.offset;
    this.run('softmax_forward', [probs, inplace ? null : logits], (o) => [N, V, o[0], inplace ? o[0] : o[1], 0, 0, f(1 / temperature), inplace ? 1 : 0], this.grid(N, 1));
  }

  // ---- rows ---------------------------------------------------------------------------------------
  gatherRows(out: Tensor, inp: Tensor, idx: Tensor, R: number, C: number): void {
    need(out, R * C, 'gatherRows out');
    need(idx, R, 'gatherRows idx');
    for (const { view, lo, hi } of this.rowParts(inp, C)) {
      this.run('gather_rows', [out, view, idx], (o) => [R * C, R, C, 0, o[0], o[1], o[2], 0, 0, 0, lo, hi], this.grid(R * C, 256));
    }
  }
  scatterAddRows(dinp: Tensor, dout: Tensor, idx: Tensor, R: number, C: number): void {
    this.scatterAdd(dinp, dout, idx, R, C);
  }
  /** dst[idx[r]] += src[r] for R rows of C, deterministic (see rows.wgsl). */
  private scatterAdd(dst: Tensor, src: Tensor, idx: Tensor, R: number, C: number): void {
    need(src, R * C, 'scatterAdd src');
    need(idx, R, 'scatterAdd idx');
    const link = this.scratchView('rows link', 2 * R, 'i32');
    this.run('rows_link', [link, idx], (o) => [0, R, C, 0, o[0], o[1]], this.grid(R, 64));
    for (const { view, lo, hi } of this.rowParts(dst, C)) {
      this.run('rows_scatter_add', [view, src, idx, link], (o) => [R * C, R, C, 0, o[0], o[1], o[2], o[3], 0, 0, lo, hi], this.grid(R * C, 256));
    }
  }

  // ---- optimizer ----------------------------------------------------------------------------------
  sumSquares(out: Tensor, all: Tensor[]): void {
    const tensors = all.flatMap(partsOf);
    const CHUNK = 4096; // adamw.wgsl's CHUNK: elements per partial sum
    const counts = tensors.map((t) => Math.ceil(t.length / CHUNK));
    const total = counts.reduce((a, b) => a + b, 0);
    const part = this.scratchView('sumsq partials', Math.max(total, 1));
    let at = 0;
    tensors.forEach((t, i) => {
      // SumParams: { n, o_x, o_part, count }; partial slots [at, at + counts[i])
      const first = at;
      this.run('sumsq_partial', [part, t], (o) => [t.length, o[1], o[0] + first, 0], this.grid(t.length, CHUNK));
      at += counts[i];
    });
    this.run('sumsq_final', [out, part], (o) => [0, o[0], o[1], total], [1, 1]);
  }
  // adamw.wgsl AdamParams: { n, o_param, o_grad, o_m, o_v, o_norm, clip, pad, lr, beta1, beta2, eps, wd, bc1, bc2, max_norm }
  adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, p: AdamWParams): void {
    const n = param.length;
    need(grad, n, 'adamw grad');
    need(m, n, 'adamw m');
    need(v, n, 'adamw v');
    if (this.piecewise(n, [param, grad, m, v], (_, t) => this.adamw(t[0]!, t[1]!, t[2]!, t[3]!, p))) return;
    const clip = p.gradNormSq !== undefined && p.maxNorm !== undefined;
    this.run('adamw', [param, grad, m, v, clip ? p.gradNormSq! : null], (o) =>
      [n, o[0], o[1], o[2], o[3], o[4], clip ? 1 : 0, 0, f(p.lr), f(p.beta1), f(p.beta2), f(p.eps), f(p.weightDecay), f(1 - p.beta1 ** p.step), f(1 - p.beta2 ** p.step), f(p.maxNorm ?? 0)],
      this.grid(n, 256));
  }
}

/** A WebGPU backend on a device obtained from adapters/webgpu-*.ts (or any GPUDevice). */
export function createWebGPUBackend(device: GPUDevice, opts?: WebGPUBackendOptions): WebGPUBackend {
  return new WebGPUBackend(device, opts);
}
