// The kernels of src/wgsl/ as the backend names them: module (a src/wgsl file), entry point, and the role
// of each storage binding 1..n: 'r' = only read, 'w' = written (or read-modify-written). Roles decide
// which operand is copied aside when two operands' binding ranges overlap (Dawn rejects overlapping
// read_write bindings).
import type * as wgsl from '../../wgsl/index.ts';

export type Module = Exclude<keyof typeof wgsl, 'common' | 'reduce'>;

export const KERNELS = {
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

export type KernelName = keyof typeof KERNELS;
