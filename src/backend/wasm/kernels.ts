// Every export of the WebAssembly kernel module (wasm/assembly/index.ts), declared once, by name: its
// parameters in order, each an address ('ptr', AssemblyScript's usize), an 'i32', a 'u32' or an 'f32'.
// A kernel with `split` also takes (tid, nth) after them: the worker pool runs it on every thread, each
// doing its share; the others run on the calling thread and return a value.
//
// - Host code passes a kernel's arguments as an object keyed by parameter name (argList lays them out
//   in declared order), so a call cannot silently pass them in the wrong order.
// - The declarations are checked against the AssemblyScript sources (checkKernels: names, order and
//   types of every parameter, and every export of index.ts declared) by wasm/build.mjs when it builds the
//   kernels and by test/portable/wasm-kernels.test.ts; and against the compiled module when a backend
//   binds it (bindKernels: every kernel exported, with the declared number of parameters).
type ArgType = 'ptr' | 'i32' | 'u32' | 'f32';
const p = 'ptr',
  i = 'i32',
  u = 'u32',
  f = 'f32';

interface KernelDecl {
  args: Record<string, ArgType>;
  split: boolean;
}
const split = <const A extends Record<string, ArgType>>(args: A) => ({ args, split: true as const });
const direct = <const A extends Record<string, ArgType>>(args: A) => ({ args, split: false as const });
const SCRATCH = { scratch: p, scratchStride: p } as const;
const DROP = { drop: i, key: u, thr: u, inv: f } as const;

const KERNELS = {
  heapBase: direct({}),
  // matmul.ts, quant.ts
  matmul: split({ out: p, a: p, b: p, bias: p, M: i, K: i, N: i, transA: i, transB: i, beta: i, ...SCRATCH }),
  matmulScratchBytes: direct({}),
  matmulShares: direct({ M: i, K: i, N: i, transA: i, nth: i }),
  matmulRowShares: direct({ M: i, K: i, N: i, transA: i, nth: i }),
  matmulPackedBytes: direct({ K: i, N: i }),
  matmulPackB: split({ bp: p, b: p, K: i, N: i, transB: i }),
  matmulRows: split({ out: p, a: p, bp: p, bias: p, M: i, K: i, N: i, transA: i, beta: i, ...SCRATCH }),
  matmulPackedABytes: direct({ M: i, K: i }),
  matmulPackA: split({ ap: p, a: p, M: i, K: i, transA: i }),
  matmulCols: split({ out: p, ap: p, b: p, bias: p, M: i, K: i, N: i, transB: i, beta: i, ...SCRATCH }),
  gemvSlabBytes: direct({ K: i, N: i, nth: i }),
  gemvSlabs: split({ sums: p, a: p, b: p, K: i, N: i }),
  gemvFold: split({ out: p, sums: p, bias: p, K: i, N: i, beta: i }),
  biasBackward: split({ dbias: p, dout: p, M: i, N: i }),
  matmulQ: split({ out: p, a: p, codes: p, scales: p, wsums: p, bias: p, M: i, K: i, N: i, beta: i, bits: i, ...SCRATCH }),
  q8BlockSums: split({ codes: p, wsums: p, rows: i, K: i }),
  matmulQScratchBytes: direct({ K: i }),
  encoderForwardQ: split({ out: p, ids: p, codes: p, scales: p, wpe: p, B: i, T: i, C: i, posOffset: i, bits: i }),
  dotI8Pairs: direct({ a: p, b: p, out: p }),
  // attention.ts
  attentionForward: split({ out: p, lse: p, qkv: p, B: i, T: i, C: i, NH: i, ...DROP, ...SCRATCH }),
  attentionShares: direct({ B: i, NH: i, Tq: i, backward: i, cached: i, nth: i }),
  attentionBackward: split({ dqkv: p, dout: p, qkv: p, out: p, lse: p, B: i, T: i, C: i, NH: i, ...DROP, ...SCRATCH }),
  attentionScratchBytes: direct({ nKeys: i, hs: i, backward: i }),
  decodeScratchBytes: direct({ nKeys: i, NH: i }),
  kvCacheWrite: split({ qkv: p, kCache: p, vCache: p, B: i, Tn: i, C: i, pos0: i, Tmax: i }),
  attentionCached: split({ out: p, qkv: p, kCache: p, vCache: p, B: i, Tn: i, C: i, NH: i, pos0: i, Tmax: i, ...SCRATCH }),
  kvCacheWriteRagged: split({ qkv: p, kCache: p, vCache: p, slotPos: p, N: i, C: i, Tmax: i }),
  attentionRagged: split({ out: p, qkv: p, kCache: p, vCache: p, slotPos: p, N: i, C: i, NH: i, Tmax: i, ...SCRATCH }),
  // halfkv.ts
  kvCacheWriteHalf: split({ qkv: p, kCache: p, vCache: p, B: i, Tn: i, C: i, pos0: i, Tmax: i }),
  attentionCachedHalf: split({ out: p, qkv: p, kCache: p, vCache: p, B: i, Tn: i, C: i, NH: i, pos0: i, Tmax: i, ...SCRATCH }),
  kvCacheWriteRaggedHalf: split({ qkv: p, kCache: p, vCache: p, slotPos: p, N: i, C: i, Tmax: i }),
  attentionRaggedHalf: split({ out: p, qkv: p, kCache: p, vCache: p, slotPos: p, N: i, C: i, NH: i, Tmax: i, ...SCRATCH }),
  halfAttentionScratchBytes: direct({ n: i, hs: i, NH: i }),
  widenCache: split({ dst: p, src: p, B: i, n: i, C: i, Tmax: i }),
  // layernorm.ts
  layernormForward: split({ out: p, mean: p, rstd: p, inp: p, w: p, b: p, N: i, C: i, eps: f }),
  layernormBackwardInput: split({ dinp: p, dout: p, inp: p, w: p, mean: p, rstd: p, N: i, C: i }),
  layernormBackwardParams: split({ dw: p, db: p, dout: p, inp: p, mean: p, rstd: p, N: i, C: i }),
  // elementwise.ts
  geluForward: split({ out: p, inp: p, N: i }),
  geluBackward: split({ dinp: p, inp: p, dout: p, N: i }),
  residualForward: split({ out: p, a: p, b: p, N: i }),
  accumulate: split({ dst: p, src: p, N: i }),
  dropout: split({ out: p, inp: p, N: i, key: u, thr: u, inv: f }),
  // softmax.ts
  crossEntropyForward: split({ losses: p, logits: p, targets: p, N: i, V: i }),
  crossEntropyReduce: direct({ loss: p, losses: p, targets: p, weights: p, N: i }),
  crossEntropyBackward: split({ dlogits: p, logits: p, targets: p, weights: p, N: i, V: i, dscale: f }),
  // rows.ts
  encoderForward: split({ out: p, ids: p, wte: p, wpe: p, B: i, T: i, C: i, posOffset: i }),
  encoderBackward: split({ dwte: p, dwpe: p, dout: p, ids: p, B: i, T: i, C: i }),
  gatherRows: split({ out: p, inp: p, idx: p, R: i, C: i }),
  scatterAddRows: split({ dinp: p, dout: p, idx: p, R: i, C: i }),
  // adamw.ts
  sumSquaresPartial: split({ partials: p, x: p, N: i }),
  sumSquaresFinish: direct({ out: p, partials: p, n: i }),
  adamw: split({ param: p, grad: p, m: p, v: p, N: i, lr: f, beta1: f, beta2: f, eps: f, wd: f, bc1: f, bc2: f, normSq: p, maxNorm: f }),
  // memory.ts
  fillWords: split({ dst: p, n: u, word: u }),
} as const satisfies Record<string, KernelDecl>;

type Table = typeof KERNELS;
export type KernelName = keyof Table;
/** kernels the pool splits over its threads (they take tid, nth last) */
export type SplitKernel = { [K in KernelName]: Table[K]['split'] extends true ? K : never }[KernelName];
/** kernels that run on the calling thread and return a value */
export type DirectKernel = Exclude<KernelName, SplitKernel>;
/** a call's arguments, by parameter name */
export type ArgsOf<K extends KernelName> = { [A in keyof Table[K]['args']]: number };
/** the module's exports as the declared kernels */
export type Kernels = Record<KernelName, (...args: number[]) => number>;

const names = new Map<KernelName, string[]>();
/** The declared parameter names of a kernel, in order. */
export function paramNames(name: KernelName): readonly string[] {
  let n = names.get(name);
  if (!n) names.set(name, (n = Object.keys(KERNELS[name].args)));
  return n;
}

/** A call's arguments in the kernel's parameter order. */
export function argList<K extends KernelName>(name: K, args: ArgsOf<K>): number[] {
  const a = args as Record<string, number>;
  return paramNames(name).map((n) => a[n]);
}

/** The split kernels' names: the pool's table of what a worker may be asked to run. */
export function splitKernels(): SplitKernel[] {
  return (Object.keys(KERNELS) as KernelName[]).filter((k): k is SplitKernel => KERNELS[k].split);
}

/**
 * The module's exports as the declared kernels: each must be exported as a function taking its declared
 * parameters (and tid, nth when split) — a module built from other sources than these declarations fails here.
 */
export function bindKernels(exports: Record<string, unknown>): Kernels {
  const out = {} as Kernels;
  for (const name of Object.keys(KERNELS) as KernelName[]) {
    const fn = exports[name],
      want = paramNames(name).length + (KERNELS[name].split ? 2 : 0);
    if (typeof fn !== 'function') throw new Error(`wasm kernels: the module exports no ${name} (rebuild it: node wasm/build.mjs)`);
    if (fn.length !== want)
      throw new Error(
        `wasm kernels: ${name} takes ${fn.length} parameters in the module, ${want} in src/backend/wasm/kernels.ts (rebuild it: node wasm/build.mjs)`,
      );
    out[name] = fn as Kernels[KernelName];
  }
  return out;
}

/**
 * Checks the declarations against the AssemblyScript sources (`file name → source`, index.ts among them):
 * every kernel is exported by index.ts from a file that defines it with the declared parameters (names,
 * order, types; then tid: i32, nth: i32 when split), and index.ts exports nothing undeclared. Returns the
 * mismatches, empty when all agree.
 */
export function checkKernels(sources: Record<string, string>): string[] {
  const problems: string[] = [];
  const index = sources['index.ts'];
  if (index === undefined) return ['wasm/assembly/index.ts is missing'];
  const from = new Map<string, string>();
  for (const m of index.matchAll(/export\s*\{([^}]*)\}\s*from\s*'\.\/(\w+)'/g)) {
    for (const n of m[1]
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x))
      from.set(n, `${m[2]}.ts`);
  }
  const types: Record<string, ArgType> = { usize: p, i32: i, u32: u, f32: f };
  for (const [name, decl] of Object.entries(KERNELS) as [KernelName, KernelDecl][]) {
    const file = from.get(name);
    if (!file) {
      problems.push(`${name}: not exported by wasm/assembly/index.ts`);
      continue;
    }
    const src = (sources[file] ?? '').replace(/\/\/[^\n]*/g, '');
    const m = new RegExp(`export\\s+function\\s+${name}\\s*\\(([^)]*)\\)`).exec(src);
    if (!m) {
      problems.push(`${name}: wasm/assembly/${file} defines no exported function ${name}`);
      continue;
    }
    const got = m[1]
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x)
      .map((x) => x.split(':').map((y) => y.trim()));
    const want = [
      ...Object.entries(decl.args),
      ...(decl.split
        ? [
            ['tid', i],
            ['nth', i],
          ]
        : []),
    ];
    const show = (ps: string[][]) => ps.map(([n, t]) => `${n}: ${t}`).join(', ');
    const norm = got.map(([n, t]) => [n, types[t] ?? t]);
    if (show(norm) !== show(want)) problems.push(`${name}: wasm/assembly/${file} takes (${show(got)}), src/backend/wasm/kernels.ts declares (${show(want)})`);
  }
  for (const n of from.keys()) if (!(n in KERNELS)) problems.push(`wasm/assembly/index.ts exports ${n}, which src/backend/wasm/kernels.ts does not declare`);
  return problems;
}
