// The linear-memory allocator: first-fit free list with coalescing over a bump pointer, 64-byte aligned
// (a cache line; SIMD loads never straddle one at a tensor's start). It grows the memory when needed,
// and zeroes a block only where that memory was handed out before (fresh pages are already zero), through
// the `zero` it is given: the backend passes a kernel, since JS's fill on a shared memory is slow.

export interface Block {
  /** byte address in linear memory */
  readonly addr: number;
  readonly bytes: number;
  freed: boolean;
}

const ALIGN = 64;
const PAGE = 65536;

export class Heap {
  private readonly base: number;
  private top: number;
  private highWater: number;
  private readonly free: { addr: number; bytes: number }[] = [];

  constructor(
    private readonly memory: WebAssembly.Memory,
    base: number,
    private readonly maxBytes: number,
    private readonly zero: (addr: number, bytes: number) => void = (addr, bytes) => new Uint8Array(memory.buffer, addr, bytes).fill(0),
  ) {
    this.base = this.top = this.highWater = align(base);
  }

  /** bytes in use or on the free list (for tests and diagnostics) */
  get used(): number {
    return this.top - this.base - this.free.reduce((n, f) => n + f.bytes, 0);
  }

  alloc(bytes: number): Block {
    const size = align(Math.max(bytes, 1));
    let addr = -1;
    for (let i = 0; i < this.free.length; i++) {
      const f = this.free[i];
      if (f.bytes < size) continue;
      addr = f.addr;
      if (f.bytes === size) this.free.splice(i, 1);
      else this.free[i] = { addr: f.addr + size, bytes: f.bytes - size };
      break;
    }
    if (addr < 0) {
      addr = this.top;
      this.grow(addr + size);
      this.top = addr + size;
    }
    const dirtyEnd = Math.min(addr + size, this.highWater);
    if (dirtyEnd > addr) this.zero(addr, dirtyEnd - addr);
    this.highWater = Math.max(this.highWater, addr + size);
    return { addr, bytes: size, freed: false };
  }

  release(b: Block): void {
    if (b.freed) return;
    b.freed = true;
    let lo = 0,
      hi = this.free.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.free[mid].addr < b.addr) lo = mid + 1;
      else hi = mid;
    }
    this.free.splice(lo, 0, { addr: b.addr, bytes: b.bytes });
    // merge with the right, then the left neighbour
    if (lo + 1 < this.free.length && this.free[lo].addr + this.free[lo].bytes === this.free[lo + 1].addr) {
      this.free[lo] = { addr: this.free[lo].addr, bytes: this.free[lo].bytes + this.free[lo + 1].bytes };
      this.free.splice(lo + 1, 1);
    }
    if (lo > 0 && this.free[lo - 1].addr + this.free[lo - 1].bytes === this.free[lo].addr) {
      this.free[lo - 1] = { addr: this.free[lo - 1].addr, bytes: this.free[lo - 1].bytes + this.free[lo].bytes };
      this.free.splice(lo, 1);
      lo--;
    }
    // a free run that reaches the bump pointer goes back to it
    const last = this.free[this.free.length - 1];
    if (last && last.addr + last.bytes === this.top) {
      this.top = last.addr;
      this.free.pop();
    }
  }

  private grow(end: number): void {
    if (end > this.maxBytes)
      throw new RangeError(`wasm backend: out of memory (${(end / 2 ** 20).toFixed(1)} MiB needed, limit ${(this.maxBytes / 2 ** 20).toFixed(0)} MiB)`);
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    // what is needed plus a sixteenth (a few grows, not one per allocation), at most to the limit: doubling
    // would hold up to twice what the model needs, and an edge isolate's limit counts all of it
    const want = Math.min(Math.max(end, have + have / 16), this.maxBytes);
    this.memory.grow(Math.ceil((want - have) / PAGE));
  }
}

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}
