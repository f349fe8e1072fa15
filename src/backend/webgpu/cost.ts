// The work of one dispatch, from its kernel's Params: floating-point operations, and serial depth — the
// longest chain of dependent steps one invocation walks (a matmul accumulator's K, a column sum's rows).
// Used to keep every dispatch and every submit within a stated budget (a GPU watchdog — Windows' 2-second
// TDR, macOS's command-buffer timeout — kills long work, and integrated GPUs are slow), and to record a
// training step's shape for the budget test (test/portable/webgpu-budget.test.ts).
//
import type { KernelName, ParamsOf } from './kernels.ts';

/** What the ops split their work to stay within (DEFAULT_BUDGET; tests pass smaller ones). */
export interface Budget {
  /** FLOPs of one dispatch */
  dispatchFlops: number;
  /** serial depth of one dispatch */
  depth: number;
  /** FLOPs of one command buffer */
  submitFlops: number;
}

/**
 * - 8 GFLOP per dispatch: ≤ 80 ms at 100 GFLOP/s, a slow integrated GPU's sustained rate;
 * - 16,384 dependent steps per invocation (a matmul over K = 50,257 vocabulary rows is split in K);
 * - 64 GFLOP per command buffer, so no submit of a training step holds the GPU for long.
 */
export const DEFAULT_BUDGET: Budget = { dispatchFlops: 8e9, depth: 16384, submitFlops: 64e9 };

export interface Cost {
  /** floating-point operations (a multiply-add counts 2) */
  flops: number;
  /** dependent steps of the longest-running invocation */
  depth: number;
}

/** Every Params field filled (offsets included), as the encoder lays them out. */
type Full<K extends KernelName> = Required<ParamsOf<K>>;
type CostOf = { [K in KernelName]: (p: Full<K>) => Cost };

const memory = () => ({ flops: 0, depth: 1 });
/** dimensions the flash kernels compute per head: whole vec4s */
const hs4 = (hs: number) => Math.ceil(hs / 4) * 4;
const ceilTo = (x: number, m: number) => Math.ceil(x / m) * m;

/**
 * Kernels that take a range [first, first + count) of units (rows, or blocks of 16 rows): the FLOPs and
 * depth of one unit, as the kernel does it (masked and padded work counted). The host splits long ranges
 * by these (splitRanges); a dispatch costs the sum (depth: the max) over its range.
 */
const UNITS = {
  // row (b, h, t): keys 0..=pos0+t, q·k and p·v
  attention_forward: (p: Full<'attention_forward'>, r: number) => {
    const keys = p.pos0 + (r % p.Tq) + 1;
    return { flops: 4 * p.hs * keys, depth: keys * (1 + Math.ceil(p.hs / 64)) };
  },
  // block of 16 queries: tiles of 16 keys up to its last query's
  flash_forward: (p: Full<'flash_forward'>, blk: number) => {
    const t0 = (blk % Math.ceil(p.Tq / 16)) * 16,
      keys = ceilTo(p.pos0 + Math.min(t0 + 16, p.Tq), 16);
    return { flops: 16 * keys * 4 * hs4(p.hs), depth: (keys / 16) * (hs4(p.hs) + 16) };
  },
  attention_backward_d: (p: Full<'attention_backward_d'>) => ({ flops: 2 * p.hs, depth: p.hs }),
  // query row t: keys 0..=t, s, dPd and dq
  attention_backward_dq: (p: Full<'attention_backward_dq'>, r: number) => {
    const keys = (r % p.T) + 1;
    return { flops: 6 * p.hs * keys, depth: keys * (2 * Math.ceil(p.hs / 64) + 1) };
  },
  // key row u: queries u..T-1, s, dPd, dv and dk
  attention_backward_dkv: (p: Full<'attention_backward_dkv'>, r: number) => {
    const queries = p.T - (r % p.T);
    return { flops: 8 * p.hs * queries, depth: queries * (2 * Math.ceil(p.hs / 64) + 2) };
  },
  flash_backward_dq: (p: Full<'flash_backward_dq'>, blk: number) => {
    const t0 = (blk % Math.ceil(p.T / 16)) * 16,
      keys = ceilTo(Math.min(t0 + 16, p.T), 8);
    return { flops: 16 * keys * 6 * hs4(p.hs), depth: (keys / 8) * (hs4(p.hs) / 2 + 16) };
  },
  flash_backward_dkv: (p: Full<'flash_backward_dkv'>, blk: number) => {
    const u0 = (blk % Math.ceil(p.T / 16)) * 16,
      queries = ceilTo(p.T - u0, 8);
    return { flops: 16 * queries * 8 * hs4(p.hs), depth: (queries / 8) * (hs4(p.hs) / 2 + 16) };
  },
};
type RangeKernel = keyof typeof UNITS;
type Unit = (p: Record<string, number>, i: number) => Cost;

/** The cost of units [first, first + count) of a range kernel: FLOPs summed, depth the largest. */
function rangeCost(name: RangeKernel, p: Record<string, number>): Cost {
  const unit = UNITS[name] as Unit;
  let flops = 0,
    depth = 0;
  for (let i = p.first; i < p.first + p.count; i++) {
    const c = unit(p, i);
    flops += c.flops;
    depth = Math.max(depth, c.depth);
  }
  return { flops, depth };
}

/**
 * Consecutive ranges [first, count] covering units [0, total) of a range kernel, each costing at most
 * `maxFlops` (a single unit over it gets a range of its own). `p` is the kernel's Params but the range.
 */
export function splitRanges(name: RangeKernel, p: Record<string, number>, total: number, maxFlops: number): [number, number][] {
  const unit = UNITS[name] as Unit;
  const out: [number, number][] = [];
  let first = 0,
    flops = 0;
  for (let i = 0; i < total; i++) {
    const f = unit(p, i).flops;
    if (flops + f > maxFlops && i > first) {
      out.push([first, i - first]);
      first = i;
      flops = 0;
    }
    flops += f;
  }
  if (total > first) out.push([first, total - first]);
  return out;
}

const COSTS: CostOf = {
  fill: memory,
  copy: memory,
  copy_f16: memory,
  widen_f16: memory,
  gelu_forward: (p) => ({ flops: 12 * p.n, depth: 1 }),
  gelu_backward: (p) => ({ flops: 20 * p.n, depth: 1 }),
  residual_forward: (p) => ({ flops: p.n, depth: 1 }),
  accumulate: (p) => ({ flops: p.n, depth: 1 }),
  dropout: (p) => ({ flops: p.n, depth: 1 }),
  // (the bias/accumulate epilogue is noise)
  matmul_tiled: (p) => ({ flops: 2 * p.M * p.N * p.K, depth: p.K }),
  matmul_small: (p) => ({ flops: 2 * p.M * p.N * p.K, depth: p.K }),
  matvec: (p) => ({ flops: 2 * p.M * p.N * p.K, depth: Math.ceil(p.K / 4) + 32 }),
  column_partials: (p) => ({ flops: (p.normed ? 5 : 1) * p.M * p.N, depth: 64 }),
  partial_sums: (p) => ({ flops: p.N * p.chunks, depth: p.chunks }),
  layernorm_forward: (p) => ({ flops: 7 * p.N * p.C, depth: 3 * Math.ceil(p.C / 64) + 12 }),
  layernorm_backward_dx: (p) => ({ flops: 10 * p.N * p.C, depth: 2 * Math.ceil(p.C / 64) + 6 }),
  attention_forward: (p) => rangeCost('attention_forward', p),
  flash_forward: (p) => rangeCost('flash_forward', p),
  kv_cache_write: memory,
  attention_backward_d: (p) => rangeCost('attention_backward_d', p),
  attention_backward_dq: (p) => rangeCost('attention_backward_dq', p),
  attention_backward_dkv: (p) => rangeCost('attention_backward_dkv', p),
  flash_backward_dq: (p) => rangeCost('flash_backward_dq', p),
  flash_backward_dkv: (p) => rangeCost('flash_backward_dkv', p),
  kv_cache_write_ragged: memory,
  // each (token, head) row attends to its slot's positions, at most Tmax: an upper bound (the positions
  // live on the device)
  attention_ragged: (p) => ({ flops: 4 * p.hs * p.N * p.NH * p.Tmax, depth: p.Tmax * (1 + Math.ceil(p.hs / 64)) }),
  crossentropy_forward: (p) => ({ flops: 3 * p.N * p.V, depth: 2 * Math.ceil(p.V / 256) + 16 }),
  crossentropy_sum: (p) => ({ flops: 2 * p.N, depth: Math.ceil(p.N / 256) + 8 }),
  crossentropy_backward: (p) => ({ flops: 5 * p.N * p.V, depth: 3 * Math.ceil(p.V / 256) + 16 }),
  encoder_forward: (p) => ({ flops: p.n, depth: 1 }),
  encoder_backward_wpe: (p) => ({ flops: p.n * p.B, depth: p.B }),
  // each row compares its id with every earlier and later one
  rows_link: (p) => ({ flops: p.R * p.R, depth: p.R }),
  // a destination's owner sums its chain of repeated ids: at most R rows
  rows_scatter_add: (p) => ({ flops: p.n, depth: p.R }),
  gather_rows: memory,
  // (chunks of 4096 elements; a tensor's last chunk counted whole)
  adamw: (p) => ({ flops: 16 * 4096 * p.count, depth: 16 }),
  sumsq_partial: (p) => ({ flops: 2 * 4096 * p.count, depth: 24 }),
  sumsq_final: (p) => ({ flops: p.count, depth: Math.ceil(p.count / 256) + 8 }),
  // a multiply-add per weight and row, and the weight's dequantization; each invocation walks K/32
  matvec_q: (p) => ({ flops: 2 * p.M * p.N * p.K + 2 * p.N * p.K, depth: Math.ceil(p.K / 32) + 32 }),
  dequant_q: (p) => ({ flops: 2 * p.N * p.K, depth: 1 }),
  encoder_forward_q: (p) => ({ flops: 3 * p.n, depth: 1 }),
  quantize_act: (p) => ({ flops: 4 * p.M * p.K, depth: 512 }),
  // integer multiply-adds, counted as flops
  matvec_q8_dot4: (p) => ({ flops: 4 * p.M * p.N * p.K, depth: Math.ceil(p.row_words / 32) + 32 }),
};

/** The cost of one dispatch of `name` with its laid-out Params. */
export function costOf(name: KernelName, params: Record<string, number>): Cost {
  return (COSTS[name] as (p: Record<string, number>) => Cost)(params);
}

/** One recorded dispatch. */
export interface DispatchRecord extends Cost {
  /** a kernel of kernels.ts (a plain string in the public API: the table's type is internal) */
  kernel: string;
  groups: [number, number];
}
