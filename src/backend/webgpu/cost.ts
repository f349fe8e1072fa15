// The work of one dispatch, from its kernel's Params: floating-point operations, and serial depth — the
// longest chain of dependent steps one invocation walks (a matmul accumulator's K, a column sum's rows).
// Used to keep every dispatch and every submit within a stated budget (a GPU watchdog — Windows' 2-second
// TDR, macOS's command-buffer timeout — kills long work, and integrated GPUs are slow), and to record a
// training step's shape for the budget test (test/webgpu-budget.test.ts).
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
/** keys attended by query rows t in [0, Tq) of one (b, h), each to pos0 + t + 1 keys */
const pairs = (Tq: number, pos0: number) => Tq * pos0 + (Tq * (Tq + 1)) / 2;

const COSTS: CostOf = {
  fill: memory,
  copy: memory,
  copy_f16: memory,
  widen_f16: memory,
  gelu_forward: (p) => ({ flops: 12 * p.n, depth: 1 }),
  gelu_backward: (p) => ({ flops: 20 * p.n, depth: 1 }),
  residual_forward: (p) => ({ flops: p.n, depth: 1 }),
  accumulate: (p) => ({ flops: p.n, depth: 1 }),
  scale: (p) => ({ flops: p.n, depth: 1 }),
  dropout: (p) => ({ flops: p.n, depth: 1 }),
  // (the bias/accumulate epilogue is noise)
  matmul_tiled: (p) => ({ flops: 2 * p.M * p.N * p.K, depth: p.K }),
  matmul_small: (p) => ({ flops: 2 * p.M * p.N * p.K, depth: p.K }),
  matvec: (p) => ({ flops: 2 * p.M * p.N * p.K, depth: Math.ceil(p.K / 4) + 32 }),
  bias_backward: (p) => ({ flops: p.M * p.N, depth: p.M }),
  layernorm_forward: (p) => ({ flops: 7 * p.N * p.C, depth: 3 * Math.ceil(p.C / 64) + 12 }),
  layernorm_backward_dx: (p) => ({ flops: 10 * p.N * p.C, depth: 2 * Math.ceil(p.C / 64) + 6 }),
  layernorm_backward_dwdb: (p) => ({ flops: 6 * p.N * p.C, depth: p.N }),
  // q·k and p·v per (query, key) pair and head dimension
  attention_forward: (p) => ({ flops: 4 * p.hs * (p.rows / p.Tq) * pairs(p.Tq, p.pos0), depth: (p.pos0 + p.Tq) * (1 + Math.ceil(p.hs / 64)) }),
  kv_cache_write: memory,
  kv_cache_write_ragged: memory,
  // each (token, head) row attends to its slot's positions, at most Tmax: an upper bound (the positions
  // live on the device)
  attention_ragged: (p) => ({ flops: 4 * p.hs * p.N * p.NH * p.Tmax, depth: p.Tmax * (1 + Math.ceil(p.hs / 64)) }),
  attention_backward_d: (p) => ({ flops: 2 * p.rows * p.hs, depth: p.hs }),
  // s, dPd and dq per pair (dq); s, dPd, dv and dk per pair (dkv)
  attention_backward_dq: (p) => ({ flops: 6 * p.hs * (p.rows / p.T) * pairs(p.T, 0), depth: p.T * (2 * p.hs / 64 + 1) }),
  attention_backward_dkv: (p) => ({ flops: 8 * p.hs * (p.rows / p.T) * pairs(p.T, 0), depth: p.T * (2 * p.hs / 64 + 2) }),
  crossentropy_forward: (p) => ({ flops: 3 * p.N * p.V, depth: 2 * Math.ceil(p.V / 256) + 16 }),
  crossentropy_sum: (p) => ({ flops: 2 * p.N, depth: Math.ceil(p.N / 256) + 8 }),
  crossentropy_backward: (p) => ({ flops: 5 * p.N * p.V, depth: 3 * Math.ceil(p.V / 256) + 16 }),
  softmax_forward: (p) => ({ flops: 5 * p.N * p.V, depth: 3 * Math.ceil(p.V / 256) + 16 }),
  encoder_forward: (p) => ({ flops: p.n, depth: 1 }),
  encoder_backward_wpe: (p) => ({ flops: p.n * p.B, depth: p.B }),
  // each row compares its id with every earlier and later one
  rows_link: (p) => ({ flops: p.R * p.R, depth: p.R }),
  // a destination's owner sums its chain of repeated ids: at most R rows
  rows_scatter_add: (p) => ({ flops: p.n, depth: p.R }),
  gather_rows: memory,
  adamw: (p) => ({ flops: 16 * p.n, depth: 1 }),
  sumsq_partial: (p) => ({ flops: 2 * p.n, depth: 24 }),
  sumsq_final: (p) => ({ flops: p.count, depth: Math.ceil(p.count / 256) + 8 }),
  // a multiply-add per weight and row, and the weight's dequantization; each invocation walks K/32
  matvec_q: (p) => ({ flops: 2 * p.M * p.N * p.K + 2 * p.N * p.K, depth: Math.ceil(p.K / 32) + 32 }),
  dequant_q: (p) => ({ flops: 2 * p.N * p.K, depth: 1 }),
  encoder_forward_q: (p) => ({ flops: 3 * p.n, depth: 1 }),
};

/** The cost of one dispatch of `name` with its laid-out Params. */
export function costOf(name: KernelName, params: Record<string, number>): Cost {
  return (COSTS[name] as (p: Record<string, number>) => Cost)(params);
}

/** One recorded dispatch. */
export interface DispatchRecord extends Cost {
  kernel: KernelName;
  groups: [number, number];
}
