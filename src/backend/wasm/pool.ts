// The worker pool: threads-1 workers, each with its own instance of the same module over ONE shared
// memory. A kernel call is a generation bump on a futex word in linear memory: workers wake, run their
// share (tid of nth) of the same export with the same arguments, and count themselves done; the calling
// thread runs share 0 meanwhile and waits for the count. Ops stay synchronous, as the Backend interface
// wants, and no data is ever copied between threads. A call may instead come in more shares than threads,
// which the threads take one at a time from a counter (run's `shares`): the large matmuls do, so that a
// thread the host slows down takes fewer of them.
//
// Control block (in linear memory, 64-byte aligned), i32 words: see the constants below; f64 arguments
// from byte 64; per-thread f64 partial sums (sumSquares) from byte 64 + 8*MAX_ARGS. The kernels a worker
// may be asked to run are the split ones of kernels.ts, by their index in that table.
import { bindKernels, splitKernels, type Kernels, type SplitKernel } from './kernels.ts';

export const CTRL_GEN = 0,
  CTRL_DONE = 1,
  CTRL_QUIT = 2,
  CTRL_FN = 3,
  CTRL_NTH = 4,
  CTRL_NARGS = 5,
  CTRL_ERR = 6,
  CTRL_ASLEEP = 7,
  // a call in shares (Pool.run's `shares`): how many, the next one not yet taken, the scratch argument's index
  CTRL_SHARES = 8,
  CTRL_NEXT = 9,
  CTRL_SCRATCH_ARG = 10;
export const MAX_ARGS = 32;
export const PARTIALS_OFFSET = 64 + 8 * MAX_ARGS;
export const MAX_THREADS = 256;
export const CTRL_BYTES = PARTIALS_OFFSET + 8 * MAX_THREADS;

/** A worker as the pool needs it; adapters make one from worker_threads or Web Workers. */
export interface WorkerPort {
  post(msg: unknown): void;
  onMessage(cb: (msg: unknown) => void): void;
  onError(cb: (err: unknown) => void): void;
  terminate(): void;
  /** lets a finished process exit while this worker waits for work (called once the pool has started) */
  unref?(): void;
}

/** Starts a worker running `source` (plain JS that defines `gptedgeWorker(post, listen)`). */
export type SpawnWorker = (source: string) => WorkerPort;

/**
 * The worker's code, as a string so that every runtime can start it (an eval'd worker_threads script in
 * Node, a Blob URL elsewhere) without a separate file to resolve. The spawner appends the line that
 * calls gptedgeWorker with its runtime's post/listen.
 */
export const WORKER_SOURCE = `
function gptedgeWorker(post, listen) {
  listen(async (msg) => {
    try {
      const imports = { env: { memory: msg.memory } };
      const inst = msg.module
        ? new WebAssembly.Instance(msg.module, imports)
        : (await WebAssembly.instantiate(msg.bytes, imports)).instance;
      const fns = msg.names.map((n) => inst.exports[n]);
      const c = new Int32Array(msg.memory.buffer, msg.ctrl, 16);
      const a = new Float64Array(msg.memory.buffer, msg.ctrl + 64, ${MAX_ARGS});
      const tid = msg.tid, spinMs = msg.spinMicros / 1000;
      // read the generation BEFORE saying ready: a job posted right after 'ready' must not be missed
      let seen = Atomics.load(c, ${CTRL_GEN});
      post({ ready: true });
      for (;;) {
        // spin for spinMs after the last job, then sleep: see Pool.start's spinMicros
        let g, n = 0, t0 = -1;
        while ((g = Atomics.load(c, ${CTRL_GEN})) === seen) {
          if ((++n & 255) !== 0) continue;
          const t = performance.now();
          if (t0 < 0) t0 = t;
          else if (t - t0 >= spinMs) {
            Atomics.add(c, ${CTRL_ASLEEP}, 1);
            Atomics.wait(c, ${CTRL_GEN}, seen);
            Atomics.sub(c, ${CTRL_ASLEEP}, 1);
          }
        }
        seen = g;
        if (Atomics.load(c, ${CTRL_QUIT})) return;
        const nth = c[${CTRL_NTH}];
        if (tid < nth) {
          try {
            const nargs = c[${CTRL_NARGS}], args = new Array(nargs + 2), fn = fns[c[${CTRL_FN}]], shares = c[${CTRL_SHARES}];
            for (let i = 0; i < nargs; i++) args[i] = a[i];
            if (shares > 0) {
              // this thread's scratch for every share it takes (see Pool.run)
              const si = c[${CTRL_SCRATCH_ARG}];
              args[si] += tid * args[si + 1];
              args[si + 1] = 0;
              args[nargs + 1] = shares;
              for (let u; (u = Atomics.add(c, ${CTRL_NEXT}, 1)) < shares; ) {
                args[nargs] = u;
                fn.apply(null, args);
              }
            } else {
              args[nargs] = tid;
              args[nargs + 1] = nth;
              fn.apply(null, args);
            }
          } catch (e) {
            Atomics.store(c, ${CTRL_ERR}, 1);
          }
        }
        Atomics.add(c, ${CTRL_DONE}, 1);
        Atomics.notify(c, ${CTRL_DONE});
      }
    } catch (e) {
      post({ error: String((e && e.stack) || e) });
    }
  });
}
`;

/** A spawner for runtimes with Web Workers and Blob URLs: Deno, Bun, browsers. */
export function webWorkerSpawner(): SpawnWorker {
  const W = (
    globalThis as unknown as {
      Worker?: new (
        url: string,
        o?: object,
      ) => {
        postMessage(m: unknown): void;
        terminate(): void;
        unref?(): void;
        onmessage: ((e: { data: unknown }) => void) | null;
        onerror: ((e: unknown) => void) | null;
      };
    }
  ).Worker;
  if (!W) throw new Error('webWorkerSpawner: this runtime has no Worker');
  return (source) => {
    const boot = source + '\ngptedgeWorker((m) => self.postMessage(m), (cb) => { self.onmessage = (e) => cb(e.data); });\n';
    const url = URL.createObjectURL(new Blob([boot], { type: 'text/javascript' }));
    const w = new W(url, { type: 'module' });
    return {
      post: (m) => w.postMessage(m),
      onMessage: (cb) => {
        w.onmessage = (e) => cb(e.data);
      },
      onError: (cb) => {
        w.onerror = cb;
      },
      terminate: () => {
        w.terminate();
        URL.revokeObjectURL(url);
      },
      // Bun's Web Workers can be unref'd; browsers' need not be; Deno's cannot (adapters/deno uses worker_threads)
      unref: () => w.unref?.(),
    };
  };
}

export class Pool {
  private readonly c: Int32Array;
  private readonly a: Float64Array;
  private readonly index = new Map<SplitKernel, number>();
  private readonly canWait: boolean;

  private constructor(
    private readonly exports: Kernels,
    memory: WebAssembly.Memory,
    readonly ctrl: number,
    private readonly workers: WorkerPort[],
    names: SplitKernel[],
    /** µs the caller spins for the workers before it sleeps */
    private readonly spinMicros: number,
  ) {
    this.c = new Int32Array(memory.buffer, ctrl, 16);
    this.a = new Float64Array(memory.buffer, ctrl + 64, MAX_ARGS);
    names.forEach((n, i) => this.index.set(n, i));
    // a browser's main thread may not block: there the caller spins instead
    let ok = true;
    try {
      Atomics.wait(this.c, CTRL_ERR, 12345, 0);
    } catch {
      ok = false;
    }
    this.canWait = ok;
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  static async start(opts: {
    /** the kernel module instance's exports (checked against kernels.ts) */
    exports: Record<string, unknown>;
    memory: WebAssembly.Memory;
    ctrl: number;
    module: WebAssembly.Module;
    bytes: BufferSource | null;
    threads: number;
    spawn: SpawnWorker;
    /**
     * how long a thread waiting for work (a worker between jobs, the caller for the workers' shares) spins
     * before it sleeps, in µs. Default 2000: a decode step is ~100 kernel calls microseconds apart, and waking
     * a sleeping thread cost 300–700 µs on a 2-vCPU VM (measured: a 64³ matmul on 2 threads took 62–96 µs a
     * call in a loop with a 20,000-load spin, which ran out between calls, and 16 µs spinning longer; 18–22 µs on
     * 1 thread). Idle, each thread burns at most this long before it sleeps.
     */
    spinMicros?: number;
  }): Promise<Pool> {
    const names = splitKernels();
    const spinMicros = opts.spinMicros ?? 2000;
    const workers: WorkerPort[] = [];
    try {
      for (let tid = 1; tid < opts.threads; tid++) {
        const w = opts.spawn(WORKER_SOURCE);
        workers.push(w);
        const ready = new Promise<void>((resolve, reject) => {
          w.onMessage((m) => {
            const msg = m as { ready?: boolean; error?: string };
            if (msg.ready) resolve();
            else reject(new Error(`wasm worker ${tid} failed to start: ${msg.error}`));
          });
          w.onError((e) => reject(e instanceof Error ? e : new Error(`wasm worker ${tid}: ${String((e as { message?: string })?.message ?? e)}`)));
        });
        const base = { memory: opts.memory, ctrl: opts.ctrl, tid, names, spinMicros };
        try {
          w.post({ ...base, module: opts.module });
        } catch (err) {
          // runtimes that cannot clone a compiled module get the bytes and compile them again
          if (!opts.bytes) throw err;
          w.post({ ...base, bytes: opts.bytes });
        }
        await ready;
      }
    } catch (err) {
      for (const w of workers) w.terminate();
      throw err;
    }
    for (const w of workers) w.unref?.();
    return new Pool(bindKernels(opts.exports), opts.memory, opts.ctrl, workers, names, spinMicros);
  }

  /**
   * Runs export `name` with `args` + (tid, nth) on every thread; returns when all are done.
   * With `shares` (> 0), the work is cut into that many shares instead, and each thread takes the next
   * share not yet taken, running the export with (share, shares), until none is left: a thread the
   * machine slows down (a busy host core) then does fewer shares, where an even split would wait for it.
   * Such a kernel takes (scratch, scratchStride) at args[shares.scratchArg] and uses scratch + tid·stride:
   * each thread passes its own region there, with stride 0.
   */
  run(name: string, args: number[], shares?: { count: number; scratchArg: number }): void {
    const c = this.c,
      n = this.workers.length;
    const fn = this.index.get(name as SplitKernel);
    if (fn === undefined) throw new Error(`no wasm kernel ${name}`);
    if (args.length > MAX_ARGS) throw new Error(`${name}: too many arguments`);
    c[CTRL_FN] = fn;
    c[CTRL_NTH] = n + 1;
    c[CTRL_NARGS] = args.length;
    c[CTRL_SHARES] = shares ? shares.count : 0;
    c[CTRL_SCRATCH_ARG] = shares ? shares.scratchArg : 0;
    Atomics.store(c, CTRL_NEXT, 0);
    this.a.set(args);
    Atomics.store(c, CTRL_DONE, 0);
    Atomics.store(c, CTRL_ERR, 0);
    Atomics.add(c, CTRL_GEN, 1);
    Atomics.notify(c, CTRL_GEN);
    // Workers that were asleep take the OS hundreds of µs to wake; spinning meanwhile can keep the core one
    // of them needs (a VM's vCPUs may share one): 64³ on 2 threads after idle took 3.2 ms with the caller
    // spinning its 2 ms, 0.2 ms sleeping at once (bench/pool-handoff.ts)
    const wakeUp = Atomics.load(c, CTRL_ASLEEP) > 0;
    let err: unknown = null;
    const t0 = Date.now();
    try {
      if (shares) {
        const own = args.slice();
        own[shares.scratchArg + 1] = 0;
        for (let u: number; (u = Atomics.add(c, CTRL_NEXT, 1)) < shares.count; ) this.exports[name as SplitKernel](...own, u, shares.count);
      } else this.exports[name as SplitKernel](...args, 0, n + 1);
    } catch (e) {
      err = e;
    }
    // workers do shares as large as ours: one that has not finished long after us is lost, and failing
    // beats blocking this thread (and its event loop) forever
    const watch = new StallWatch(Date.now(), Date.now() - t0);
    let spins = 0,
      sleep = wakeUp,
      d: number;
    const t1 = performance.now();
    while ((d = Atomics.load(c, CTRL_DONE)) < n) {
      if (!sleep && (++spins & 255) === 0) sleep = performance.now() - t1 >= this.spinMicros / 1000;
      if (sleep && this.canWait) Atomics.wait(c, CTRL_DONE, d, 1000);
      if ((sleep || (spins & 1023) === 0) && watch.expired(Date.now()))
        throw new Error(`wasm worker pool stalled in ${name}: ${n - d} of ${n} workers never finished`);
    }
    if (err) throw err;
    if (Atomics.load(c, CTRL_ERR)) throw new Error(`wasm kernel ${name} trapped in a worker`);
  }

  /** Stops and terminates every worker. */
  close(): void {
    Atomics.store(this.c, CTRL_QUIT, 1);
    Atomics.add(this.c, CTRL_GEN, 1);
    Atomics.notify(this.c, CTRL_GEN);
    for (const w of this.workers) w.terminate();
    this.workers.length = 0;
  }
}

/**
 * When the workers of one call count as lost: 60 s, or 50 times the caller's own share, after the caller
 * finished its share — measured while this process runs. A gap between two checks far longer than one wait
 * (1 s) means the whole process was suspended (SIGSTOP, a laptop asleep, a debugger), its workers with it:
 * the gap does not count against them.
 */
export class StallWatch {
  static readonly SUSPENDED_MS = 5_000;
  private deadline: number;
  private last: number;
  constructor(now: number, ownShareMs: number) {
    this.deadline = now + Math.max(60_000, 50 * ownShareMs);
    this.last = now;
  }
  expired(now: number): boolean {
    if (now - this.last > StallWatch.SUSPENDED_MS) this.deadline += now - this.last;
    this.last = now;
    return now > this.deadline;
  }
}
