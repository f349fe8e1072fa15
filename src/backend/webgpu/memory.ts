// GPU memory of one WebGPU backend: buffers, arenas, tensors split across buffers, scratch, binding ranges,
// uploads and reads.
//
// - A Tensor is a view (element offset + length) into a GpuStore (one GPUBuffer). Kernels bind whole
//   buffers and receive element offsets in a uniform Params slot, because storage-binding offsets would
//   have to be 256-byte aligned and views are not. Every storage binding is read_write (see common.wgsl),
//   so views of one arena buffer can be bound side by side in one dispatch.
// - An arena is packed into as few GPUBuffers as the device allows: a new buffer is started whenever the
//   next view would cross maxStorageBufferBindingSize (128 MiB on lavapipe). A view larger than that alone
//   (GPT-2's 154 MB token embedding) is split between rows into parts of one buffer each; the ops that meet
//   such a tensor run once per part (see piecewise, rowParts), and every other op refuses it clearly.
// - Every buffer is created inside error scopes: an allocation the device refuses (out of memory) is
//   reported by the next read()/sync() as that allocation, with the bytes this backend held, rather than as
//   the invalid command buffers that follow. WebGPU exposes no total memory size, so a budget
//   (`memoryBudgetBytes`) is the caller's to give: with one, an allocation that would exceed it is refused
//   before anything is created, with the estimate in the message.
import type { Arena, ArenaSpec, DType, Tensor } from '../backend.ts';
import { DeviceLostError, lossAfterFailure } from './device.ts';
import type { Binding, Encoder } from './encoder.ts';
import type { KernelName } from './kernels.ts';
import { KERNELS } from './kernels.ts';

// WebGPU enum values, spelled out so this module needs no GPUBufferUsage/GPUMapMode globals (Dawn's npm
// package only installs them on request).
const USAGE_MAP_READ = 0x0001,
  USAGE_COPY_SRC = 0x0004,
  USAGE_COPY_DST = 0x0008,
  USAGE_STORAGE = 0x0080;
const MAP_READ = 0x0001;
const VIEW_ALIGN = 64; // arena views start on 256-byte boundaries (room for vec4 kernels)
export const NO_ROW_LIMIT = 0xffffffff;

/** One GPUBuffer; Tensor.buffer of this backend. */
export interface GpuStore {
  readonly gpu: GPUBuffer;
  readonly id: number;
  readonly bytes: number;
  /** the buffers of one arena, freed together */
  group: GpuStore[];
  destroyed: boolean;
}

export interface GpuTensor extends Tensor {
  readonly buffer: GpuStore;
}

/** Tensor.buffer of a tensor too large for one GPUBuffer: consecutive parts (plain views) in order. */
interface SplitStore {
  readonly parts: GpuTensor[];
}
export const isSplit = (t: Tensor): boolean => typeof t.buffer === 'object' && t.buffer !== null && 'parts' in t.buffer;
export const partsOf = (t: Tensor): GpuTensor[] => (isSplit(t) ? (t.buffer as SplitStore).parts : [t as GpuTensor]);

/** bytes per element */
export const bytesOf = (d: DType): number => (d === 'f16' ? 2 : 4);

/** The one buffer of an unsplit tensor of this backend (a clear error for anything else). */
export function store(t: Tensor): GpuStore {
  if (isSplit(t))
    throw new RangeError(`a tensor of ${t.length} elements is split across GPU buffers (larger than one storage binding); this op cannot take it`);
  const s = (t as GpuTensor).buffer;
  if (!s || typeof s !== 'object' || !('gpu' in s)) throw new TypeError('tensor does not belong to a WebGPU backend');
  if (s.destroyed) throw new Error('tensor was freed');
  return s;
}

let nextStoreId = 1;

const GiB = 1024 ** 3;
const gib = (b: number) => `${(b / GiB).toFixed(2)} GiB`;
/** what to do when memory runs short */
const ADVICE = 'use a smaller batch or sequence length (pretrain --batch; finetune --micro-batch)';

export class GpuMemory {
  private readonly stores = new Set<GpuStore>();
  /** bytes held in live buffers */
  held = 0;
  private readonly scratch = new Map<string, GpuStore>();
  /** the views of each arena buffer, [start, end) in elements, in order (what is not in one is padding) */
  private readonly arenaViews = new Map<number, [number, number][]>();
  /** constant tables (multi-tensor kernels' tensor lists) by content, uploaded once */
  private readonly tables = new Map<string, Tensor>();
  /** tiny buffers bound where a kernel declares a binding that a call does not use (one per binding slot,
   *  since one range may not be bound twice writable) */
  private readonly dummies: GpuStore[];

  /**
   * @param maxBufferBytes bytes of the largest GPUBuffer to create
   * @param offsetAlign minStorageBufferOffsetAlignment: binding ranges start on multiples of it
   * @param f16 whether f16 tensors may be created; `name` for the error when not
   */
  constructor(
    private readonly device: GPUDevice,
    private readonly enc: Encoder,
    readonly maxBufferBytes: number,
    private readonly offsetAlign: number,
    private readonly f16: boolean,
    private readonly name: string,
    readonly budgetBytes?: number,
  ) {
    this.dummies = Array.from({ length: 8 }, (_, i) => this.newStore(16, `dummy ${i}`));
  }

  private newStore(bytes: number, label: string): GpuStore {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    if (size > this.maxBufferBytes && bytes > 0) {
      throw new RangeError(
        `${label}: ${bytes} bytes exceed this WebGPU device's largest storage binding (${this.maxBufferBytes} bytes); tensors that large must be split by the caller`,
      );
    }
    const before = this.held;
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    const gpu = this.device.createBuffer({ size, usage: USAGE_STORAGE | USAGE_COPY_SRC | USAGE_COPY_DST, label });
    this.enc.watch(
      label,
      true,
      (e) => `could not allocate ${label} (${size} bytes) with ${gib(before)} already held in this backend's buffers: ${e.message}; ${ADVICE}`,
    );
    const s: GpuStore = { gpu, id: nextStoreId++, bytes: size, group: [], destroyed: false };
    s.group.push(s);
    this.stores.add(s);
    this.held += size;
    return s;
  }

  /** Refuses `bytes` more (for `what`) when they would take this backend past its memory budget. */
  private reserve(bytes: number, what: string): void {
    if (this.budgetBytes === undefined || this.held + bytes <= this.budgetBytes) return;
    throw new RangeError(
      `${this.name}: ${what} need ${gib(bytes)}; with the ${gib(this.held)} already held that is ${gib(this.held + bytes)}, ` +
        `over this backend's memory budget of ${gib(this.budgetBytes)}; ${ADVICE}`,
    );
  }

  /** One buffer of its own, within the budget (a quantized tensor: codes and scales, src/backend/webgpu/quant.ts). */
  allocStore(bytes: number, label: string): GpuStore {
    this.reserve(bytes, label);
    return this.newStore(bytes, label);
  }

  needF16(): void {
    if (!this.f16) throw new Error(`${this.name}: f16 tensors need a WebGPU device with shader-f16 (and the f16 feature not turned off)`);
  }

  allocArena(specs: ArenaSpec[]): Arena {
    const arena: Arena = {};
    const largest = [...specs]
      .sort((a, b) => b.length - a.length)
      .slice(0, 3)
      .map((s) => s.name)
      .join(', ');
    this.reserve(
      specs.reduce((sum, s) => sum + s.length * bytesOf(s.dtype ?? 'f32'), 0),
      `an arena of ${specs.length} tensors (largest: ${largest})`,
    );
    for (const dtype of ['f32', 'i32', 'f16'] as DType[]) {
      const group = specs.filter((s) => (s.dtype ?? 'f32') === dtype);
      if (group.length === 0) continue;
      if (dtype === 'f16') this.needF16();
      const bpe = bytesOf(dtype),
        maxElems = Math.floor(this.maxBufferBytes / bpe);
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
        this.arenaViews.set(
          st.id,
          b.views.map((v) => [v.offset, v.offset + v.length]),
        );
        for (const v of b.views) arena[v.name] = { buffer: st, offset: v.offset, length: v.length, dtype } as GpuTensor;
      }
      for (const s of oversized) {
        // whole rows per part, so row ops find each row in one buffer
        const partRows = s.rowLength ? Math.floor(maxElems / s.rowLength) : 0;
        if (partRows < 1) {
          throw new RangeError(
            `arena view ${s.name}: ${s.length * bpe} bytes exceed this WebGPU device's largest storage binding (${this.maxBufferBytes} bytes)` +
              (s.rowLength ? `, and one row of ${s.rowLength} does not fit either` : ' and no rowLength says where it may be split'),
          );
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
    this.reserve(length * bytesOf(dtype), `a tensor of ${length} ${dtype}`);
    return { buffer: this.newStore(length * bytesOf(dtype), `tensor ${dtype} ${length}`), offset: 0, length, dtype } as GpuTensor;
  }

  free(tensors: Tensor[]): void {
    const doomed = new Set<GpuStore>();
    for (const t of tensors) for (const p of partsOf(t)) for (const s of store(p).group) doomed.add(s);
    if (doomed.size === 0) return;
    this.enc.flush(); // commands already encoded may still use them
    for (const s of doomed) this.destroyStore(s);
  }

  private destroyStore(s: GpuStore): void {
    if (s.destroyed) return;
    s.destroyed = true;
    s.gpu.destroy();
    this.held -= s.bytes;
    this.arenaViews.delete(s.id);
    for (const [k, t] of this.tables) if ((t as GpuTensor).buffer === s) this.tables.delete(k);
    this.stores.delete(s);
    this.enc.forget(s.id);
  }

  /** Frees every buffer (after submitting what was encoded). */
  destroy(): void {
    this.enc.flush();
    for (const s of [...this.stores]) this.destroyStore(s);
    this.scratch.clear();
    this.tables.clear();
  }

  slice(t: Tensor, offset: number, length: number): Tensor {
    if (offset < 0 || length < 0 || offset + length > t.length) throw new RangeError(`slice [${offset}, +${length}) outside a tensor of ${t.length}`);
    if (isSplit(t)) {
      const parts: GpuTensor[] = [];
      let at = 0;
      for (const p of partsOf(t)) {
        const lo = Math.max(offset, at),
          hi = Math.min(offset + length, at + p.length);
        if (hi > lo) parts.push(this.slice(p, lo - at, hi - lo) as GpuTensor);
        at += p.length;
      }
      if (parts.length === 0) return this.slice(partsOf(t)[0], 0, 0);
      return parts.length === 1 ? parts[0] : ({ buffer: { parts } satisfies SplitStore, offset: 0, length, dtype: t.dtype } as Tensor);
    }
    return { buffer: store(t), offset: t.offset + offset, length, dtype: t.dtype } as GpuTensor;
  }

  // ---- tensors split across buffers ---------------------------------------------------------------
  /**
   * For element-aligned ops over n elements: when an operand is split, calls `op` once per range
   * [start, start+len) in which every operand lies in one buffer, with the operands' sub-views, and
   * returns true; returns false (doing nothing) when no operand is split.
   */
  piecewise(n: number, ts: (Tensor | null)[], op: (start: number, views: (Tensor | null)[]) => void): boolean {
    if (!ts.some((t) => t && isSplit(t))) return false;
    const cuts = new Set([0, n]);
    for (const t of ts) {
      if (!t || !isSplit(t)) continue;
      let at = 0;
      for (const p of partsOf(t)) if ((at += p.length) < n) cuts.add(at);
    }
    const at = [...cuts].sort((x, y) => x - y);
    for (let i = 0; i + 1 < at.length; i++)
      op(
        at[i],
        ts.map((t) => t && this.slice(t, at[i], at[i + 1] - at[i])),
      );
    return true;
  }

  /** The parts of a row-major (rows, C) tensor as row ranges [lo, hi): rows.wgsl skips rows outside them. */
  rowParts(t: Tensor, C: number): { view: Tensor; lo: number; hi: number }[] {
    if (!isSplit(t)) return [{ view: t, lo: 0, hi: NO_ROW_LIMIT }];
    let at = 0;
    return partsOf(t).map((p) => {
      if (at % C !== 0) throw new RangeError(`a tensor split across GPU buffers at element ${at} is not split between rows of ${C}`);
      const lo = at / C;
      at += p.length;
      return { view: p, lo, hi: lo + Math.ceil(p.length / C) };
    });
  }

  /** Whether elements [a, b) of a buffer belong to no view (the alignment padding between arena views). */
  isPadding(s: GpuStore, a: number, b: number): boolean {
    const views = this.arenaViews.get(s.id);
    return views !== undefined && !views.some(([x, y]) => x < b && y > a);
  }

  /**
   * A constant table of 32-bit words (an i32 tensor) with this content, created and uploaded the first
   * time it is asked for: the tensor lists of multi-tensor kernels repeat every step.
   */
  table(words: Uint32Array): Tensor {
    const key = words.join(',');
    let t = this.tables.get(key);
    if (!t) {
      t = { buffer: this.newStore(words.byteLength, 'table'), offset: 0, length: words.length, dtype: 'i32' } as GpuTensor;
      // a new buffer no encoded command uses yet: no flush needed before writing it
      this.device.queue.writeBuffer(store(t).gpu, 0, words as Uint32Array<ArrayBuffer>);
      this.tables.set(key, t);
    }
    return t;
  }

  // ---- scratch --------------------------------------------------------------------------------------
  /** A backend-owned scratch buffer of at least `elements` 32-bit words, reused across calls. */
  private scratchBuf(name: string, elements: number): GpuStore {
    const cur = this.scratch.get(name);
    if (cur && cur.bytes >= elements * 4) return cur;
    if (cur) {
      this.enc.flush(); // encoded commands may still use the old one
      this.destroyStore(cur);
    }
    const s = this.newStore(Math.max(elements, 256) * 4, `scratch ${name}`);
    this.scratch.set(name, s);
    return s;
  }
  scratchView(name: string, elements: number, dtype: DType = 'f32'): Tensor {
    return { buffer: this.scratchBuf(name, Math.ceil((elements * bytesOf(dtype)) / 4)), offset: 0, length: elements, dtype } as GpuTensor;
  }

  // ---- binding ---------------------------------------------------------------------------------------
  /** The byte range a view is bound with: its start rounded down to the storage offset alignment. */
  private range(t: Tensor): Binding {
    const s = store(t),
      bpe = bytesOf(t.dtype);
    const start = Math.floor((t.offset * bpe) / this.offsetAlign) * this.offsetAlign;
    // binding sizes are whole vec4s (kernels read some operands as array<vec4>; buffers are multiples of 16)
    const end = Math.min(s.bytes, Math.ceil(Math.max((t.offset + t.length) * bpe, start + 4) / 16) * 16);
    return { id: s.id, gpu: s.gpu, start, size: end - start };
  }

  /**
   * The binding ranges of a dispatch's operands (each view's start aligned down to the storage offset
   * alignment, in the kernel's binding order; a placeholder where an operand is null or absent) and each
   * operand's element offset relative to its binding, by binding name. Two operands whose ranges overlap
   * would be rejected by Dawn, so the read-only one is first copied aside with `copy`.
   */
  bind(
    name: KernelName,
    operands: Record<string, Tensor | null | undefined>,
    copy: (dst: Tensor, src: Tensor) => void,
  ): { bound: Binding[]; offsets: Record<string, number> } {
    const roles = Object.entries(KERNELS[name].bindings as Record<string, 'r' | 'w'>);
    const ops = roles.map(([b]) => operands[b] ?? null);
    let asides = 0;
    for (let i = 0; i < ops.length; i++) {
      for (let j = i + 1; j < ops.length; j++) {
        const a = ops[i],
          b = ops[j];
        if (!a || !b || store(a) !== store(b)) continue;
        const ra = this.range(a),
          rb = this.range(b);
        if (ra.start >= rb.start + rb.size || rb.start >= ra.start + ra.size) continue;
        const k = roles[j][1] === 'r' ? j : roles[i][1] === 'r' ? i : -1;
        if (k < 0) throw new Error(`${name}: two outputs overlap in one buffer`);
        // a temporary copy of the k-th operand in a buffer of its own
        const src = ops[k]!;
        const view = this.scratchView(`aside ${asides++}`, src.length, src.dtype);
        copy(view, src);
        ops[k] = view;
      }
    }
    const bound = ops.map((t, i) => (t ? this.range(t) : { id: this.dummies[i].id, gpu: this.dummies[i].gpu, start: 0, size: this.dummies[i].bytes }));
    const offsets: Record<string, number> = {};
    ops.forEach((t, i) => (offsets[roles[i][0]] = t ? t.offset - bound[i].start / bytesOf(t.dtype) : 0));
    return { bound, offsets };
  }

  // ---- host transfers --------------------------------------------------------------------------------
  /** Copies 32-bit host words into an unsplit f32/i32 view, or raw bytes to the start of a scratch view. */
  upload(t: Tensor, data: ArrayBufferView, elementOffset = 0): void {
    // queue.writeBuffer runs ahead of anything not yet submitted: submit what was encoded before it first.
    this.enc.flush();
    // (typed as ArrayBuffer-backed: Deno's lib.dom rejects a possibly-shared buffer; a copy is made either way)
    this.device.queue.writeBuffer(store(t).gpu, (t.offset + elementOffset) * bytesOf(t.dtype), data as unknown as Float32Array<ArrayBuffer>);
  }

  /** The bytes of an unsplit 32-bit view, after everything encoded so far (then the errors it raised). */
  async readBytes(t: Tensor): Promise<ArrayBuffer> {
    const s = store(t);
    const bytes = t.length * 4;
    this.enc.flush();
    if (bytes === 0) {
      await this.enc.checkErrors();
      return new ArrayBuffer(0);
    }
    const staging = this.device.createBuffer({ size: bytes, usage: USAGE_MAP_READ | USAGE_COPY_DST, label: 'read staging' });
    try {
      const enc = this.device.createCommandEncoder();
      enc.copyBufferToBuffer(s.gpu, t.offset * 4, staging, 0, bytes);
      this.enc.submit(enc.finish());
      let copy: ArrayBuffer;
      try {
        await staging.mapAsync(MAP_READ);
        copy = staging.getMappedRange().slice(0);
        staging.unmap();
      } catch (err) {
        // on a lost device mapping fails with a bare AbortError/OperationError: say why
        const loss = await lossAfterFailure(this.enc.ctx);
        if (loss) throw new DeviceLostError(loss);
        throw err;
      }
      await this.enc.checkErrors();
      return copy;
    } finally {
      staging.destroy();
    }
  }
}
