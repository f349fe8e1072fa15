// Command encoding and dispatch. Ops only encode: dispatches go into one open compute pass of one command
// encoder; each dispatch's Params go into its own 256-byte slot of a CPU staging array, uploaded to the
// uniform buffer with one writeBuffer right before the batch is submitted (queue order keeps a later batch
// from overwriting the slots of an earlier one). The batch is submitted by flush(): write(), read(),
// sync(), free(), or when the slots run out. Validation and out-of-memory errors of each submit (and of
// each buffer allocation, see GpuMemory) are caught with error scopes and rethrown by checkErrors() (the
// next read() or sync()), so a broken kernel fails a test instead of returning zeros, and a failed
// allocation is reported as such rather than as the invalid command buffers that follow from it.
import { assertAlive, DeviceLostError, lossAfterFailure, SLOT_BYTES, type GpuContext, type Pipeline } from './device.ts';
import type { KernelName, Layout } from './kernels.ts';
import { costOf, type DispatchRecord } from './cost.ts';

const USAGE_COPY_DST = 0x0008,
  USAGE_UNIFORM = 0x0040;
const SLOT_WORDS = SLOT_BYTES / 4;
const SLOTS = 4096; // dispatches per batch before an automatic submit

/** The byte range of a GPUBuffer bound to one binding slot. */
export interface Binding {
  /** the buffer's identity in bind-group keys */
  readonly id: number;
  readonly gpu: GPUBuffer;
  readonly start: number;
  readonly size: number;
}

export class Encoder {
  private readonly device: GPUDevice;
  private readonly uniform: GPUBuffer;
  private readonly params = new Uint32Array(SLOTS * SLOT_WORDS);
  private readonly paramsF = new Float32Array(this.params.buffer);
  private slot = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  /** FLOPs encoded since the last submit (a batch is submitted when it passes submitFlops) */
  private batchFlops = 0;
  /** when set, every dispatch is appended with its cost (see cost.ts) */
  records: DispatchRecord[] | null = null;
  /** runs before every submit of encoded work: the backend encodes the ops it held back (see webgpu.ts) */
  beforeFlush: (() => void) | null = null;
  private flushing = false;
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly bindGroupKeysOf = new Map<number, string[]>();
  /** error scopes not yet read, each with what to say about its error */
  private pendingErrors: { error: Promise<GPUError | null>; say: (e: GPUError) => string; first: boolean }[] = [];

  /** @param submitFlops a batch is submitted once it holds this much work (cost.ts) */
  constructor(
    readonly ctx: GpuContext,
    private readonly submitFlops: number,
  ) {
    this.device = ctx.device;
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    this.uniform = this.device.createBuffer({ size: SLOTS * SLOT_BYTES, usage: USAGE_UNIFORM | USAGE_COPY_DST, label: 'gptedge params' });
    this.watch('the uniform buffer for Params', true);
  }

  /**
   * Encodes one dispatch of `pipeline` over the bound ranges. Its Params slot gets `values` laid out as
   * `params` declares: f32 fields as floats, u32 fields as integers (negative ones as two's complement).
   */
  dispatch(name: KernelName, { pipeline, layout }: Pipeline, bound: Binding[], params: Layout, values: Record<string, number>, groups: [number, number]): void {
    if (this.slot === SLOTS) this.flush();
    if (!this.pass) {
      this.encoder = this.device.createCommandEncoder();
      this.pass = this.encoder.beginComputePass();
    }
    const base = this.slot * SLOT_WORDS;
    for (let i = 0; i < params.names.length; i++) {
      const v = values[params.names[i]];
      if (v === undefined) throw new Error(`${name}: Params field ${params.names[i]} not given`);
      if (params.isFloat[i]) this.paramsF[base + i] = v;
      else this.params[base + i] = v >>> 0;
    }
    const key = name + ':' + bound.map((b) => `${b.id}@${b.start}+${b.size}`).join(',');
    let bg = this.bindGroups.get(key);
    if (!bg) {
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.uniform, offset: 0, size: SLOT_BYTES } }];
      bound.forEach((b, i) => entries.push({ binding: i + 1, resource: { buffer: b.gpu, offset: b.start, size: b.size } }));
      bg = this.device.createBindGroup({ layout, entries });
      if (this.bindGroups.size >= 8192) {
        this.bindGroups.clear();
        this.bindGroupKeysOf.clear();
      }
      this.bindGroups.set(key, bg);
      for (const id of new Set(bound.map((x) => x.id))) {
        let ks = this.bindGroupKeysOf.get(id);
        if (!ks) this.bindGroupKeysOf.set(id, (ks = []));
        ks.push(key);
      }
    }
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, bg, [this.slot * SLOT_BYTES]);
    this.pass.dispatchWorkgroups(groups[0], groups[1]);
    this.slot++;
    const cost = costOf(name, values);
    this.records?.push({ kernel: name, groups: [groups[0], groups[1]], ...cost });
    if ((this.batchFlops += cost.flops) > this.submitFlops) this.flush();
  }

  /** Drops the cached bind groups of a buffer that is being destroyed. */
  forget(id: number): void {
    for (const k of this.bindGroupKeysOf.get(id) ?? []) this.bindGroups.delete(k);
    this.bindGroupKeysOf.delete(id);
  }

  /** Submits everything encoded so far, after uploading its Params. */
  flush(): void {
    if (this.beforeFlush && !this.flushing) {
      this.flushing = true;
      try {
        this.beforeFlush();
      } finally {
        this.flushing = false;
      }
    }
    if (!this.pass || !this.encoder) return;
    this.pass.end();
    this.device.queue.writeBuffer(this.uniform, 0, this.params.subarray(0, this.slot * SLOT_WORDS));
    const cb = this.encoder.finish();
    this.pass = null;
    this.encoder = null;
    this.slot = 0;
    this.batchFlops = 0;
    this.submit(cb);
  }

  /** Submits a command buffer inside error scopes that checkErrors() reads. */
  submit(cb: GPUCommandBuffer): void {
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    this.device.queue.submit([cb]);
    this.watch(`${cb.label || 'a submit'}`, false);
  }

  /**
   * Pops the validation and out-of-memory scopes that the caller pushed (validation innermost) around
   * `what`; their errors are thrown by the next checkErrors(), those with `first` ahead of the rest.
   */
  watch(what: string, first: boolean, say?: (e: GPUError) => string): void {
    const text = say ?? ((e: GPUError) => `${what}: ${e.message}`);
    this.pendingErrors.push({ error: this.device.popErrorScope(), say: text, first }, { error: this.device.popErrorScope(), say: text, first });
  }

  /**
   * Throws DeviceLostError if the device is lost; else the errors of pipeline creation, of allocations, of
   * every submit since the last check, and any raised outside error scopes.
   */
  async checkErrors(): Promise<void> {
    assertAlive(this.ctx);
    const compile = this.ctx.compileErrors.splice(0).map((error) => ({ error, say: (e: GPUError) => `shader: ${e.message}`, first: false }));
    const pending = [...this.pendingErrors.splice(0), ...compile];
    let got: (GPUError | null)[];
    try {
      got = await Promise.all(pending.map((p) => p.error));
    } catch (err) {
      // Deno rejects popErrorScope on a lost device ("Parent device is lost") where the spec resolves null
      const loss = await lossAfterFailure(this.ctx);
      if (loss) throw new DeviceLostError(loss);
      throw err;
    }
    assertAlive(this.ctx);
    const messages = pending.map((p, i) => (got[i] ? { text: p.say(got[i]!), first: p.first } : null)).filter((m) => m !== null);
    messages.sort((a, b) => +b.first - +a.first);
    const outside = this.ctx.uncaptured.splice(0).map((m) => `outside error scopes: ${m}`);
    const all = [...new Set([...messages.map((m) => m.text), ...outside])];
    if (all.length) throw new Error(`WebGPU error: ${all.join('; ')}`);
  }

  /** Flushes, then frees the uniform buffer. */
  destroy(): void {
    this.flush();
    this.uniform.destroy();
  }
}
