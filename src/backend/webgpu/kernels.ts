// Every kernel of src/wgsl/, declared once, by name: its module (a src/wgsl file), entry point, Params
// struct (field names, order and types) and storage bindings (names in binding order 1..n, each 'r' = only
// read or 'w' = written / read-modify-written; a name starting with _ holds the place of a binding the
// kernel does not use).
//
// - The WGSL struct of each kernel is checked against this declaration (checkParams): by
//   scripts/build-wgsl.mjs when it regenerates src/wgsl/index.ts, by test/portable/webgpu-wgsl.test.ts, and when a
//   module is first compiled. A field added, dropped, renamed, reordered or retyped on one side only fails.
// - Host code passes Params as an object keyed by field name (the encoder lays it out in declared order);
//   a field `o_X` is filled with the element offset of binding X unless the call gives it.
// - Roles decide which operand is copied aside when two operands' binding ranges overlap (Dawn rejects
//   overlapping read_write bindings).
import type * as wgsl from '../../wgsl/index.ts';
import type { Tensor } from '../backend.ts';

export type Module = Exclude<keyof typeof wgsl, 'common' | 'reduce'>;
type FieldType = 'u32' | 'f32';
const u = 'u32',
  f = 'f32';

/** Params structs by WGSL name: fields in declared order. */
export const STRUCTS = {
  FillParams: { n: u, o_dst: u, bits: u },
  CopyParams: { n: u, o_dst: u, o_src: u },
  ElementwiseParams: { n: u, o_out: u, o_a: u, o_b: u, s: f, key: u, thr: u, inplace: u },
  MatmulParams: { M: u, K: u, N: u, o_out: u, o_a: u, o_b: u, o_bias: u, beta: u, has_bias: u, lda: u, ldb: u, ldo: u, vec_a: u, vec_b: u },
  ColumnParams: { M: u, N: u, stride: u, o_part: u, o_x: u, o_inp: u, o_mean: u, o_rstd: u, normed: u },
  PartialParams: { N: u, chunks: u, stride: u, o_out: u, o_part: u },
  LnParams: { N: u, C: u, o_out: u, o_mean: u, o_rstd: u, o_inp: u, o_w: u, o_bias: u, eps: f },
  LnBackParams: { N: u, C: u, o_dinp: u, o_mean: u, o_rstd: u, o_inp: u, o_w: u, o_dout: u },
  FwdParams: {
    first: u,
    count: u,
    Tq: u,
    NH: u,
    hs: u,
    o_q: u,
    q_bs: u,
    q_rs: u,
    o_k: u,
    k_bs: u,
    k_rs: u,
    o_v: u,
    v_bs: u,
    v_rs: u,
    o_out: u,
    o_lse: u,
    pos0: u,
    write_lse: u,
    drop: u,
    key: u,
    thr: u,
    inv_keep: f,
    scale: f,
    kv_in_q: u,
  },
  CacheParams: { n: u, Tn: u, C: u, Tmax: u, pos0: u, o_qkv: u, o_k: u, o_v: u },
  RaggedParams: { N: u, C: u, NH: u, hs: u, Tmax: u, o_qkv: u, o_k: u, o_v: u, o_sp: u, o_out: u, scale: f },
  BwdParams: {
    first: u,
    count: u,
    T: u,
    NH: u,
    hs: u,
    o_dqkv: u,
    o_lse: u,
    o_qkv: u,
    o_dout: u,
    o_out: u,
    o_D: u,
    drop: u,
    key: u,
    thr: u,
    inv_keep: f,
    scale: f,
  },
  CeParams: { N: u, V: u, o_losses: u, o_logits: u, o_targets: u },
  CeSumParams: { N: u, o_loss: u, o_losses: u, o_weights: u },
  CeBackParams: { N: u, V: u, o_dlogits: u, o_logits: u, o_targets: u, o_weights: u, dscale: f, inplace: u },
  EncoderParams: { n: u, C: u, T: u, o_out: u, o_ids: u, o_wte: u, o_wpe: u, pos0: u, lo: u, hi: u },
  WpeParams: { n: u, C: u, T: u, B: u, o_dwpe: u, o_dout: u },
  LinkParams: { R: u, o_link: u, o_idx: u },
  ScatterParams: { n: u, R: u, C: u, o_dinp: u, o_src: u, o_idx: u, o_link: u, lo: u, hi: u },
  GatherParams: { n: u, C: u, o_out: u, o_inp: u, o_idx: u, lo: u, hi: u },
  AdamParams: {
    tensors: u,
    first: u,
    count: u,
    o_param: u,
    o_grad: u,
    o_m: u,
    o_v: u,
    o_norm: u,
    o_table: u,
    clip: u,
    lr: f,
    beta1: f,
    beta2: f,
    eps: f,
    bc1: f,
    bc2: f,
    max_norm: f,
  },
  SumParams: { tensors: u, first: u, count: u, o_x: u, o_part: u, o_table: u },
  SumFinalParams: { count: u, o_total: u, o_part: u },
  QuantParams: { M: u, K: u, N: u, o_out: u, o_a: u, o_w: u, o_bias: u, beta: u, has_bias: u, lda: u, ldo: u, row_words: u, o_scale: u, groups: u, n0: u },
  EncoderQParams: { n: u, C: u, T: u, o_eout: u, o_ids: u, o_w: u, o_wpe: u, pos0: u, row_words: u, o_scale: u, groups: u },
  ActQParams: { M: u, K: u, o_act: u, o_aq: u, lda: u, row_words: u, blocks: u },
  QuantDotParams: { M: u, K: u, N: u, o_dout: u, o_dact: u, o_w: u, o_dbias: u, beta: u, has_bias: u, ldo: u, row_words: u, o_scale: u, blocks: u },
} as const satisfies Record<string, Record<string, FieldType>>;
export type StructName = keyof typeof STRUCTS;

type Role = 'r' | 'w';
interface KernelDecl {
  module: Module;
  entry: string;
  params: StructName;
  bindings: Record<string, Role>;
  /** pipeline-overridable constants (`override NAME: bool` in the module): one pipeline per combination */
  constants?: readonly string[];
}
const k = <const P extends StructName, const B extends Record<string, Role>>(
  module: Module,
  entry: string,
  params: P,
  bindings: B,
  constants?: readonly string[],
) => ({ module, entry, params, bindings, constants });
const MATMUL = { out: 'w', a: 'r', b: 'r', bias: 'r' } as const;
const TRANSPOSES = ['TRANS_A', 'TRANS_B'] as const;

const ELEMENTWISE = { out: 'w', a: 'r', b: 'r' } as const;
const ATTN_FWD = { out: 'w', lse: 'w', q: 'r', k: 'r', v: 'r' } as const;
const ATTN_BWD = { dqkv: 'w', lse: 'r', qkv: 'r', dout: 'r', D: 'r', out: 'r' } as const;

export const KERNELS = {
  fill: k('memory', 'fill', 'FillParams', { dst: 'w' }),
  copy: k('memory', 'copy', 'CopyParams', { dst: 'w', src: 'r' }),
  copy_f16: k('memory', 'copy_f16', 'CopyParams', { dst: 'w', src: 'r' }),
  widen_f16: k('memory', 'widen_f16', 'CopyParams', { dst: 'w', src: 'r' }),
  gelu_forward: k('elementwise', 'gelu_forward', 'ElementwiseParams', ELEMENTWISE),
  gelu_backward: k('elementwise', 'gelu_backward', 'ElementwiseParams', ELEMENTWISE),
  residual_forward: k('elementwise', 'residual_forward', 'ElementwiseParams', ELEMENTWISE),
  accumulate: k('elementwise', 'accumulate', 'ElementwiseParams', ELEMENTWISE),
  dropout: k('elementwise', 'dropout', 'ElementwiseParams', ELEMENTWISE),
  matmul_tiled: k('matmul', 'matmul_tiled', 'MatmulParams', MATMUL, TRANSPOSES),
  matmul_small: k('matmul', 'matmul_small', 'MatmulParams', MATMUL, TRANSPOSES),
  matvec: k('matmul', 'matvec', 'MatmulParams', MATMUL, TRANSPOSES),
  column_partials: k('matmul', 'column_partials', 'ColumnParams', { part: 'w', x: 'r', inp: 'r', mean: 'r', rstd: 'r' }),
  partial_sums: k('matmul', 'partial_sums', 'PartialParams', { out: 'w', part: 'r' }),
  layernorm_forward: k('layernorm', 'layernorm_forward', 'LnParams', { out: 'w', mean: 'w', rstd: 'w', inp: 'r', w: 'r', bias: 'r' }),
  layernorm_backward_dx: k('layernorm', 'layernorm_backward_dx', 'LnBackParams', { dinp: 'w', mean: 'r', rstd: 'r', inp: 'r', w: 'r', dout: 'r' }),
  attention_forward: k('attention', 'attention_forward', 'FwdParams', ATTN_FWD),
  flash_forward: k('attention', 'flash_forward', 'FwdParams', ATTN_FWD),
  kv_cache_write: k('attention', 'kv_cache_write', 'CacheParams', { k: 'w', v: 'w', qkv: 'r' }),
  kv_cache_write_ragged: k('attention', 'kv_cache_write_ragged', 'RaggedParams', { k: 'w', v: 'w', qkv: 'r', sp: 'r' }),
  attention_ragged: k('attention', 'attention_ragged', 'RaggedParams', { out: 'w', qkv: 'r', k: 'r', v: 'r', sp: 'r' }),
  attention_backward_d: k('attention', 'attention_backward_d', 'BwdParams', { ...ATTN_BWD, dqkv: 'r', D: 'w' }),
  attention_backward_dq: k('attention', 'attention_backward_dq', 'BwdParams', ATTN_BWD),
  attention_backward_dkv: k('attention', 'attention_backward_dkv', 'BwdParams', ATTN_BWD),
  flash_backward_dq: k('attention', 'flash_backward_dq', 'BwdParams', ATTN_BWD),
  flash_backward_dkv: k('attention', 'flash_backward_dkv', 'BwdParams', ATTN_BWD),
  crossentropy_forward: k('crossentropy', 'crossentropy_forward', 'CeParams', { losses: 'w', logits: 'r', targets: 'r' }),
  crossentropy_sum: k('crossentropy', 'crossentropy_sum', 'CeSumParams', { loss: 'w', losses: 'r', weights: 'r' }),
  crossentropy_backward: k('crossentropy', 'crossentropy_backward', 'CeBackParams', { dlogits: 'w', logits: 'r', targets: 'r', weights: 'r' }),
  encoder_forward: k('rows', 'encoder_forward', 'EncoderParams', { out: 'w', ids: 'r', wte: 'r', wpe: 'r' }),
  encoder_backward_wpe: k('rows', 'encoder_backward_wpe', 'WpeParams', { dwpe: 'w', dout: 'r' }),
  rows_link: k('rows', 'rows_link', 'LinkParams', { link: 'w', idx: 'r' }),
  rows_scatter_add: k('rows', 'rows_scatter_add', 'ScatterParams', { dinp: 'w', src: 'r', idx: 'r', link: 'r' }),
  gather_rows: k('rows', 'gather_rows', 'GatherParams', { out: 'w', inp: 'r', idx: 'r' }),
  adamw: k('adamw', 'adamw', 'AdamParams', { param: 'w', grad: 'r', m: 'w', v: 'w', norm: 'r', table: 'r' }),
  sumsq_partial: k('adamw', 'sumsq_partial', 'SumParams', { part: 'w', x: 'r', _3: 'r', _4: 'r', _5: 'r', table: 'r' }),
  sumsq_final: k('adamw', 'sumsq_final', 'SumFinalParams', { total: 'w', part: 'r' }),
  matvec_q: k('quant', 'matvec_q', 'QuantParams', { out: 'w', a: 'r', w: 'r', bias: 'r' }, ['Q4']),
  dequant_q: k('quant', 'dequant_q', 'QuantParams', { out: 'w', a: 'r', w: 'r', bias: 'r' }, ['Q4']),
  encoder_forward_q: k('quant', 'encoder_forward_q', 'EncoderQParams', { eout: 'w', ids: 'r', w: 'r', wpe: 'r' }, ['Q4']),
  // the packed variant only (ShaderFeatures.packed)
  quantize_act: k('quant', 'quantize_act', 'ActQParams', { act: 'w', aq: 'r' }),
  matvec_q8_dot4: k('quant', 'matvec_q8_dot4', 'QuantDotParams', { dout: 'w', dact: 'r', w: 'r', dbias: 'r' }),
} as const satisfies Record<string, KernelDecl>;
export type KernelName = keyof typeof KERNELS;

type Decl<K extends KernelName> = (typeof KERNELS)[K];
/** the storage bindings of kernel K by name */
export type BindingName<K extends KernelName> = keyof Decl<K>['bindings'] & string;
type Fields<K extends KernelName> = keyof (typeof STRUCTS)[Decl<K>['params']] & string;
type OffsetFields<K extends KernelName> = Fields<K> & `o_${BindingName<K>}`;
/** The Params a call gives: every field by name, except that binding offsets o_X may be left to the encoder. */
export type ParamsOf<K extends KernelName> = { [F in Exclude<Fields<K>, OffsetFields<K>>]: number } & { [F in OffsetFields<K>]?: number };
/** Operands by binding name; null or absent binds a placeholder (a binding this call does not use). */
export type OperandsOf<K extends KernelName> = { [B in BindingName<K>]?: Tensor | null };

/** A struct's layout: field names in order, and which are f32. */
export interface Layout {
  readonly names: readonly string[];
  readonly isFloat: readonly boolean[];
}
const layouts = new Map<StructName, Layout>();
export function layoutOf(name: StructName): Layout {
  let l = layouts.get(name);
  if (!l) {
    const fields = Object.entries(STRUCTS[name]) as [string, FieldType][];
    layouts.set(name, (l = { names: fields.map(([n]) => n), isFloat: fields.map(([, t]) => t === 'f32') }));
  }
  return l;
}

/**
 * Checks every kernel's declaration against the WGSL sources (`module name → source`): the entry point
 * exists, and the module declares its Params struct with the declared fields in order and of the declared
 * types. Returns the mismatches, empty when all agree.
 */
export function checkParams(sources: Record<string, string>): string[] {
  const problems: string[] = [];
  const structsOf = new Map<string, Map<string, [string, string][]>>();
  const parse = (mod: string) => {
    let m = structsOf.get(mod);
    if (m) return m;
    m = new Map();
    // comments out first, then `struct Name { field: type, ... }`
    const src = (sources[mod] ?? '').replace(/\/\/[^\n]*/g, '');
    for (const s of src.matchAll(/struct\s+(\w+)\s*\{([^}]*)\}/g)) {
      m.set(
        s[1],
        s[2]
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x)
          .map((x) => x.split(':').map((y) => y.trim()) as [string, string]),
      );
    }
    structsOf.set(mod, m);
    return m;
  };
  for (const [name, decl] of Object.entries(KERNELS) as [string, KernelDecl][]) {
    const src = sources[decl.module];
    if (src === undefined) {
      problems.push(`${name}: module ${decl.module} does not exist`);
      continue;
    }
    if (!new RegExp(`fn\\s+${decl.entry}\\s*\\(`).test(src)) problems.push(`${name}: ${decl.module}.wgsl has no entry point ${decl.entry}`);
    for (const c of decl.constants ?? [])
      if (!new RegExp(`override\\s+${c}\\s*:`).test(src)) problems.push(`${name}: ${decl.module}.wgsl declares no override ${c}`);
    const got = parse(decl.module).get(decl.params);
    const want = Object.entries(STRUCTS[decl.params]);
    if (!got) {
      problems.push(`${name}: ${decl.module}.wgsl does not declare struct ${decl.params}`);
      continue;
    }
    const show = (fs: [string, string][]) => fs.map(([n, t]) => `${n}: ${t}`).join(', ');
    if (show(got) !== show(want))
      problems.push(`${name}: struct ${decl.params} in ${decl.module}.wgsl is { ${show(got)} }, declared in kernels.ts as { ${show(want)} }`);
    for (const b of Object.keys(decl.bindings)) {
      if (!b.startsWith('_') && !(`o_${b}` in STRUCTS[decl.params])) problems.push(`${name}: binding ${b} has no offset field o_${b} in ${decl.params}`);
    }
  }
  // and no struct in a module that no kernel declares (a Params struct edited in WGSL alone)
  const declared = new Set(Object.values(KERNELS as Record<string, KernelDecl>).map((d) => `${d.module}.${d.params}`));
  for (const [mod, structs] of structsOf) {
    for (const s of structs.keys())
      if (/Params$/.test(s) && !declared.has(`${mod}.${s}`)) problems.push(`${mod}.wgsl declares struct ${s}, which no kernel in kernels.ts uses`);
  }
  return [...new Set(problems)];
}
