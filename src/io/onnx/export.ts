// Export a gptedge model as an ONNX graph of standard ops (default domain, opset 17), runnable by
// onnxruntime-web / -node / transformers.js without gptedge.
//
// Two graphs (the `graph` option):
//
//   'logits'  inputs   input_ids          int64 [batch_size, sequence_length]
//             outputs  logits             f32   [batch_size, sequence_length, vocab]
//             Positions are 0..sequence_length-1; causal attention; no padding mask.
//
//   'decode'  inputs   input_ids          int64 [batch_size, sequence_length]
//                      attention_mask     int64 [batch_size, total_sequence_length]   1 = attend, 0 = padding
//                      position_ids       int64 [batch_size, sequence_length]
//                      past_key_values.{i}.key / .value   f32 [batch_size, n_head, past_sequence_length, head_dim]
//             outputs  logits             f32   [batch_size, sequence_length, vocab]
//                      present.{i}.key / .value           f32 [batch_size, n_head, total_sequence_length, head_dim]
//             total_sequence_length = past_sequence_length + sequence_length. The first call passes
//             past tensors with past_sequence_length 0 (prefill); later calls feed `present` back as
//             `past_key_values`. Names and layout are those of transformers.js' GPT-2 decoder
//             (Xenova/gpt2 decoder_model_merged.onnx), so it can run the model as it runs GPT-2.
//             Query t (absolute position past+t) attends to key j iff j <= past+t and attention_mask[b, j] = 1.
//
// Both LN layouts: post-LN (GPT-1: n = LN(x + attn(x)); h = LN(n + mlp(n)); no final LN) and pre-LN
// (GPT-2 with ln_f). Initializers carry the Hugging Face names of the model's family with the
// `transformer.` prefix and HF's Conv1D layout [in, out] (so they feed MatMul directly); the LM head
// is MatMul(h, Transpose(W_e)) on the one shared embedding (tied, stored once). The model's config is
// kept in metadata_props["gptedge.config"] so an import restores it exactly.
//
// int8 models (the `quantized` option; src/io/quantized.ts) keep their quantized matrices as QDQ: an INT8
// initializer `<name>_quantized` and f32 per-channel scales `<name>_scale`, dequantized by a
// DequantizeLinear node (opset 13+) whose output is the tensor `<name>` the rest of the graph reads —
// linears [in, out] with axis 1 (one scale per output column), the embedding [vocab, C] with axis 0 (per
// row). The graph computes what gptedge's reference computes with the dequantized weights.
// metadata_props["gptedge.weights"] says "int8". (int4 has no per-group form before opset 21: an int4 model
// exports its dequantized values as float32.)
//
// Task head (the `head` option, a fine-tuned model's W_y [C, K] + b [K], src/finetune/head.ts, described by
// its task family: src/finetune/onnx.ts builds the option): either graph gets one more input and three more
// outputs, on top of the ones above:
//
//   inputs   extract_index      int64 [batch_size]   position of the extract token <e> in each row of
//                                                    input_ids (0..sequence_length-1; rows may be padded
//                                                    after <e>: causal attention keeps padding away)
//   outputs  hidden_at_extract  f32 [batch_size, C]  h_n at extract_index (after ln_f for pre-LN)
//            head_logits        f32 [rows, K]        x·W_y + b, x = hidden_at_extract, except with sumRows = s > 1
//                                                    (similarity: s = 2): x = the SUM of rows s·n .. s·n+s-1
//                                                    (the two orders <s> a $ b <e>, <s> b $ a <e> of example
//                                                    n), rows = batch_size/s
//            probs              f32 [examples, classes]  softmax over the K outputs (labels), or with K = 1
//                                                    (multiple choice) over each group of `classes`
//                                                    consecutive rows' scores (candidates n·k .. n·k+k-1),
//                                                    examples = batch_size/k
// The head's initializers are `head.weight` [C, K] and `head.bias` [K]; the task (family, labels,
// choices, maxLen) is kept in metadata_props["gptedge.task"]. On the decode graph, extract_index
// indexes the current input_ids chunk (a prefill with an empty past reads the whole sequence).
import type { GPT } from '../../model/gpt.ts';
import type { GPTConfig } from '../../model/config.ts';
import { numel, paramSpecs } from '../../model/params.ts';
import { familyOf, toHF } from '../hf-names.ts';
import { DT, graphProto, modelProto, nodeProto, tensorProto, valueInfo, type AttrValue } from './onnx-proto.ts';
import type { PbWriter } from './protobuf.ts';
import { LINEAR_WEIGHTS } from '../../model/gpt.ts';
import { storedShape, type QuantizedWeights } from '../quantized.ts';
import type { QuantizedRows } from '../../backend/quant.ts';

export const EXPORT_OPSET = 17;
/** IR version 8 goes with opset 17 (ONNX 1.12) */
export const EXPORT_IR_VERSION = 8;

export type OnnxGraphKind = 'logits' | 'decode';

export interface OnnxExportOptions {
  graph?: OnnxGraphKind;
  /** write the gptedge config into metadata_props (default true) */
  metadata?: boolean;
  /** producer_version string */
  version?: string;
  /** a fine-tuned model's task head: adds extract_index, hidden_at_extract, head_logits and probs */
  head?: OnnxTaskHead;
  /** int8 weights, exported as DequantizeLinear of INT8 initializers (the `params` then need only the others) */
  quantized?: QuantizedWeights;
}

/**
 * A task head to export: W_y [C, K] and b [K] row-major (as TaskHead and head.safetensors hold them), and
 * the shape of its graph, which its task family decides (src/finetune/onnx.ts onnxTaskHead builds this).
 */
export interface OnnxTaskHead {
  W: Float32Array;
  b: Float32Array;
  /** consecutive rows whose hidden states are summed before W_y (2: a pair read in both orders), else 1 */
  sumRows: number;
  /** classes of `probs`: the K outputs, or with K = 1 the consecutive rows scored against each other */
  classes: number;
  /** what metadata_props["gptedge.task"] records */
  info: OnnxTaskInfo;
}

/** What metadata_props["gptedge.task"] holds: the task (src/finetune/task.ts) and the inputs' token limit. */
export interface OnnxTaskInfo {
  family: string;
  labels: string[];
  choices: number | null;
  /** inputs are truncated to this many tokens by the caller */
  maxLen: number;
}

/** Checks a head against the model; the errors say which shape was expected. */
export function checkOnnxHead(cfg: GPTConfig, head: OnnxTaskHead): OnnxTaskInfo {
  const C = cfg.nEmbd,
    K = head.b.length,
    { sumRows, classes, info } = head;
  if (!(K >= 1 && head.W.length === C * K))
    throw new Error(`exportOnnx: task head W_y has ${head.W.length} values and b ${K}; on d_model ${C} they must be [${C}, ${K}] and [${K}]`);
  if (!(Number.isInteger(sumRows) && sumRows >= 1)) throw new Error(`exportOnnx: task head sumRows must be an integer >= 1, got ${sumRows}`);
  if (!(Number.isInteger(classes) && (K > 1 ? classes === K : classes >= 2)))
    throw new Error(`exportOnnx: task head classes must be K (${K}) or, for one score per row, the rows scored together (>= 2); got ${classes}`);
  if (!(Number.isInteger(info.maxLen) && info.maxLen >= 4 && info.maxLen <= cfg.nCtx))
    throw new Error(`exportOnnx: task head maxLen must be an integer in 4..${cfg.nCtx}, got ${info.maxLen}`);
  return info;
}

/** Initializer name of a gptedge parameter in the exported graph. */
export const onnxParamName = (name: string, cfg: GPTConfig): string => `transformer.${toHF(name, familyOf(cfg))}`;

class Builder {
  nodes: PbWriter[] = [];
  initializers: PbWriter[] = [];
  private n = 0;
  private consts = new Map<string, string>();

  node(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs?: string[], name?: string): string[] {
    const nm = name ?? `/${op}_${this.n++}`;
    const outs = outputs ?? [`${nm}_out`];
    this.nodes.push(nodeProto(op, inputs, outs, nm, attrs));
    return outs;
  }
  op(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, name?: string): string {
    return this.node(op, inputs, attrs, undefined, name)[0];
  }
  init(name: string, data: Float32Array | BigInt64Array | Int8Array, dims: number[]): string {
    this.initializers.push(tensorProto(name, data, dims));
    return name;
  }
  i64(values: number[], scalar = false): string {
    const key = `i64:${scalar}:${values}`;
    let nm = this.consts.get(key);
    if (!nm) {
      nm = `const_i64_${values.join('_').replace(/-/g, 'm')}${scalar ? '_s' : ''}`;
      this.init(nm, BigInt64Array.from(values.map(BigInt)), scalar ? [] : [values.length]);
      this.consts.set(key, nm);
    }
    return nm;
  }
  f32(value: number, nameHint: string): string {
    const key = `f32:${value}`;
    let nm = this.consts.get(key);
    if (!nm) {
      nm = `const_${nameHint}`;
      this.init(nm, Float32Array.of(value), []);
      this.consts.set(key, nm);
    }
    return nm;
  }
}

/**
 * Encodes `model` (its current weights) as an .onnx file. Weights are read back from the backend once;
 * the returned buffer holds them as float32 raw_data, bit for bit.
 */
export async function exportOnnx(model: GPT, opts: OnnxExportOptions = {}): Promise<Uint8Array> {
  if (model.weights === 'int8') {
    const tensors = new Map<string, QuantizedRows>(),
      params = new Map<string, Float32Array>();
    for (const s of model.specs) {
      if (model.isQuantizedParam(s.name)) tensors.set(s.name, await model.readQuantizedParam(s.name));
      else params.set(s.name, (await model.be.read(model.p(s.name))) as Float32Array);
    }
    return exportOnnxFromParams(model.cfg, params, { ...opts, quantized: { kind: 'int8', tensors } });
  }
  const params = await model.readParams();
  return exportOnnxFromParams(model.cfg, params, opts);
}

export function exportOnnxFromParams(cfg: GPTConfig, params: Map<string, Float32Array>, opts: OnnxExportOptions = {}): Uint8Array {
  const kind = opts.graph ?? 'decode';
  if (kind !== 'logits' && kind !== 'decode') throw new Error(`unknown ONNX graph kind "${kind as string}" (logits | decode)`);
  const { nEmbd: C, nHead: NH, nLayer: L, vocabSize: V } = cfg;
  const hd = C / NH;
  const task = opts.head ? checkOnnxHead(cfg, opts.head) : null;
  const b = new Builder();
  const P = (name: string): string => onnxParamName(name, cfg);

  // initializers: every parameter, in paramSpecs order, [in, out] for linears
  const q = opts.quantized ?? null;
  if (q && q.kind !== 'int8')
    throw new Error(`exportOnnx: ${q.kind} weights have no QDQ form at opset ${EXPORT_OPSET}; export their dequantized values (dequantizedWeights) instead`);
  for (const s of paramSpecs(cfg)) {
    const qt = q?.tensors.get(s.name);
    if (qt) {
      // stored (N, K) = (out, in) for linears: the initializer is [in, out], scales per output column (axis 1)
      const [N, K] = storedShape(s),
        linear = LINEAR_WEIGHTS.test(s.name),
        codes = qt.codes as Int8Array;
      let data = codes;
      if (linear) {
        data = new Int8Array(codes.length);
        for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) data[k * N + n] = codes[n * K + k];
      }
      const x = b.init(`${P(s.name)}_quantized`, data, s.shape),
        sc = b.init(`${P(s.name)}_scale`, qt.scales, [N]);
      b.node('DequantizeLinear', [x, sc], { axis: { i: linear ? 1 : 0 } }, [P(s.name)], `/dequantize/${s.name}`);
      continue;
    }
    const v = params.get(s.name);
    if (!v) throw new Error(`exportOnnx: parameter ${s.name} is missing`);
    if (v.length !== numel(s.shape)) throw new Error(`exportOnnx: parameter ${s.name} has ${v.length} values, shape [${s.shape}] needs ${numel(s.shape)}`);
    b.init(P(s.name), v, s.shape);
  }

  const inputs: PbWriter[] = [valueInfo('input_ids', DT.INT64, ['batch_size', 'sequence_length'])];
  const outputs: PbWriter[] = [valueInfo('logits', DT.FLOAT, ['batch_size', 'sequence_length', V])];
  const decode = kind === 'decode';
  if (decode) {
    inputs.push(valueInfo('attention_mask', DT.INT64, ['batch_size', 'total_sequence_length']));
    inputs.push(valueInfo('position_ids', DT.INT64, ['batch_size', 'sequence_length']));
    for (let l = 0; l < L; l++) {
      for (const kv of ['key', 'value']) {
        inputs.push(valueInfo(`past_key_values.${l}.${kv}`, DT.FLOAT, ['batch_size', NH, 'past_sequence_length', hd]));
        outputs.push(valueInfo(`present.${l}.${kv}`, DT.FLOAT, ['batch_size', NH, 'total_sequence_length', hd]));
      }
    }
  }

  // ---- positions and the attention mask ----
  const zero = b.i64([0], true),
    one = b.i64([1], true);
  const T = b.op('Gather', [b.op('Shape', ['input_ids'], {}, '/seq/shape'), one], { axis: { i: 0 } }, '/seq/len'); // scalar
  let past = zero;
  if (decode) past = b.op('Gather', [b.op('Shape', ['past_key_values.0.key'], {}, '/past/shape'), b.i64([2], true)], { axis: { i: 0 } }, '/past/len');
  const total = decode ? b.op('Add', [past, T], {}, '/total/len') : T;
  const qpos = b.op('Range', [past, total, one], {}, '/qpos'); // (T) absolute positions past..total-1
  const kpos = decode ? b.op('Range', [zero, total, one], {}, '/kpos') : qpos; // (total)
  // causal: key j visible from query i iff j <= past + i        -> bool (T, total)
  let mask = b.op(
    'LessOrEqual',
    [b.op('Unsqueeze', [kpos, b.i64([0])], {}, '/kpos/row'), b.op('Unsqueeze', [qpos, b.i64([1])], {}, '/qpos/col')],
    {},
    '/mask/causal',
  );
  if (decode) {
    const am = b.op('Unsqueeze', [b.op('Cast', ['attention_mask'], { to: { i: DT.BOOL } }, '/mask/pad_bool'), b.i64([1, 2])], {}, '/mask/pad'); // (B,1,1,total)
    mask = b.op('And', [mask, am], {}, '/mask/all'); // (B,1,T,total)
  }
  const negInf = b.f32(-3.4028234663852886e38, 'mask_value');
  const scale = b.f32(1 / Math.sqrt(hd), 'attn_scale');

  // ---- embeddings: h0 = W_e[ids] + W_p[pos] ----
  const tokEmb = b.op('Gather', [P('wte.weight'), 'input_ids'], { axis: { i: 0 } }, '/wte'); // (B,T,C)
  const posEmb = b.op('Gather', [P('wpe.weight'), decode ? 'position_ids' : qpos], { axis: { i: 0 } }, '/wpe'); // (B,T,C) or (T,C)
  let x = b.op('Add', [tokEmb, posEmb], {}, '/embed');

  const splitSizes = b.i64([C, C, C]);
  const toHeads = b.i64([0, 0, NH, hd]);
  const fromHeads = b.i64([0, 0, C]);
  const linear = (inp: string, w: string, name: string) =>
    b.op('Add', [b.op('MatMul', [inp, P(`${w}.weight`)], {}, `${name}/MatMul`), P(`${w}.bias`)], {}, `${name}/Add`);
  const layerNorm = (inp: string, w: string, name: string) =>
    b.op('LayerNormalization', [inp, P(`${w}.weight`), P(`${w}.bias`)], { axis: { i: -1 }, epsilon: { f: cfg.lnEps } }, name);
  const c05 = b.f32(0.5, 'half'),
    c1 = b.f32(1, 'one'),
    cCube = b.f32(0.044715, 'gelu_coef'),
    cSqrt = b.f32(Math.sqrt(2 / Math.PI), 'sqrt_2_over_pi');
  const gelu = (inp: string, name: string) => {
    // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
    const x3 = b.op('Mul', [b.op('Mul', [inp, inp], {}, `${name}/x2`), inp], {}, `${name}/x3`);
    const inner = b.op('Mul', [b.op('Add', [inp, b.op('Mul', [x3, cCube], {}, `${name}/cx3`)], {}, `${name}/sum`), cSqrt], {}, `${name}/inner`);
    const t = b.op('Add', [b.op('Tanh', [inner], {}, `${name}/tanh`), c1], {}, `${name}/1p`);
    return b.op('Mul', [b.op('Mul', [inp, c05], {}, `${name}/halfx`), t], {}, `${name}/out`);
  };

  for (let l = 0; l < L; l++) {
    const pre = `/h.${l}`;
    const attention = (inp: string): string => {
      const qkv = linear(inp, `h.${l}.attn.c_attn`, `${pre}/attn/c_attn`); // (B,T,3C)
      const [q, k, v] = b.node('Split', [qkv, splitSizes], { axis: { i: 2 } }, [`${pre}/attn/q`, `${pre}/attn/k`, `${pre}/attn/v`], `${pre}/attn/split`);
      const heads = (t: string, nm: string) =>
        b.op('Transpose', [b.op('Reshape', [t, toHeads], {}, `${pre}/attn/${nm}/reshape`)], { perm: { ints: [0, 2, 1, 3] } }, `${pre}/attn/${nm}/heads`); // (B,NH,T,hd)
      const qh = heads(q, 'q');
      let kh = heads(k, 'k'),
        vh = heads(v, 'v');
      if (decode) {
        kh = b.node('Concat', [`past_key_values.${l}.key`, kh], { axis: { i: 2 } }, [`present.${l}.key`], `${pre}/attn/present_key`)[0];
        vh = b.node('Concat', [`past_key_values.${l}.value`, vh], { axis: { i: 2 } }, [`present.${l}.value`], `${pre}/attn/present_value`)[0];
      }
      const kT = b.op('Transpose', [kh], { perm: { ints: [0, 1, 3, 2] } }, `${pre}/attn/kT`); // (B,NH,hd,total)
      const scores = b.op('Mul', [b.op('MatMul', [qh, kT], {}, `${pre}/attn/qk`), scale], {}, `${pre}/attn/scaled`); // (B,NH,T,total)
      const masked = b.op('Where', [mask, scores, negInf], {}, `${pre}/attn/masked`);
      const probs = b.op('Softmax', [masked], { axis: { i: -1 } }, `${pre}/attn/softmax`);
      const y = b.op('MatMul', [probs, vh], {}, `${pre}/attn/pv`); // (B,NH,T,hd)
      const merged = b.op('Reshape', [b.op('Transpose', [y], { perm: { ints: [0, 2, 1, 3] } }, `${pre}/attn/merge_t`), fromHeads], {}, `${pre}/attn/merge`); // (B,T,C)
      return linear(merged, `h.${l}.attn.c_proj`, `${pre}/attn/c_proj`);
    };
    const mlp = (inp: string): string =>
      linear(gelu(linear(inp, `h.${l}.mlp.c_fc`, `${pre}/mlp/c_fc`), `${pre}/mlp/gelu`), `h.${l}.mlp.c_proj`, `${pre}/mlp/c_proj`);
    if (cfg.layout === 'post-ln') {
      const n = layerNorm(b.op('Add', [x, attention(x)], {}, `${pre}/res_attn`), `h.${l}.ln_1`, `${pre}/ln_1`);
      x = layerNorm(b.op('Add', [n, mlp(n)], {}, `${pre}/res_mlp`), `h.${l}.ln_2`, `${pre}/ln_2`);
    } else {
      const r = b.op('Add', [x, attention(layerNorm(x, `h.${l}.ln_1`, `${pre}/ln_1`))], {}, `${pre}/res_attn`);
      x = b.op('Add', [r, mlp(layerNorm(r, `h.${l}.ln_2`, `${pre}/ln_2`))], {}, `${pre}/res_mlp`);
    }
  }
  if (cfg.layout === 'pre-ln') x = layerNorm(x, 'ln_f', '/ln_f');
  const wteT = b.op('Transpose', [P('wte.weight')], { perm: { ints: [1, 0] } }, '/lm_head/wte_T'); // (C,V), folded by runtimes at load
  b.node('MatMul', [x, wteT], {}, ['logits'], '/lm_head/MatMul');

  if (task) {
    const head = opts.head!,
      K = head.b.length,
      classes = head.classes;
    b.init('head.weight', head.W, [C, K]);
    b.init('head.bias', head.b, [K]);
    inputs.push(valueInfo('extract_index', DT.INT64, ['batch_size']));
    // flat row b·T + extract_index[b] of h viewed as (B·T, C)
    const B = b.op('Gather', [b.op('Shape', ['input_ids'], {}, '/head/ids_shape'), zero], { axis: { i: 0 } }, '/head/batch');
    const rowStart = b.op('Mul', [b.op('Range', [zero, B, one], {}, '/head/rows'), T], {}, '/head/row_start');
    const flat = b.op('Add', [rowStart, 'extract_index'], {}, '/head/flat_index');
    const hFlat = b.op('Reshape', [x, b.i64([-1, C])], {}, '/head/h_flat');
    let hx = b.node('Gather', [hFlat, flat], { axis: { i: 0 } }, ['hidden_at_extract'], '/head/gather')[0]; // (B,C)
    let rows = 'batch_size';
    if (head.sumRows > 1) {
      // rows s·n .. s·n+s-1 belong to example n (similarity: its two orders): their states are added before W_y
      hx = b.op('ReduceSum', [b.op('Reshape', [hx, b.i64([-1, head.sumRows, C])], {}, '/head/pairs'), b.i64([1])], { keepdims: { i: 0 } }, '/head/pair_sum');
      rows = 'examples';
    }
    const hl = b.node('Add', [b.op('MatMul', [hx, 'head.weight'], {}, '/head/MatMul'), 'head.bias'], {}, ['head_logits'], '/head/Add')[0];
    outputs.push(valueInfo('hidden_at_extract', DT.FLOAT, ['batch_size', C]));
    outputs.push(valueInfo('head_logits', DT.FLOAT, [rows, K]));
    if (K === 1) {
      // one score per row: an example's `classes` consecutive rows (its candidates) compete
      const grouped = b.op('Reshape', [hl, b.i64([-1, classes])], {}, '/head/candidates'); // (examples, k)
      b.node('Softmax', [grouped], { axis: { i: -1 } }, ['probs'], '/head/softmax');
      outputs.push(valueInfo('probs', DT.FLOAT, ['examples', classes]));
    } else {
      b.node('Softmax', [hl], { axis: { i: -1 } }, ['probs'], '/head/softmax');
      outputs.push(valueInfo('probs', DT.FLOAT, [rows, classes]));
    }
  }

  const family = familyOf(cfg);
  const doc =
    `gptedge ${family} (${cfg.layout}) ${kind} graph: ${L} layers, d ${C}, ${NH} heads, vocab ${V}, context ${cfg.nCtx}` +
    (task ? `; ${task.family} head (${task.choices !== null ? `${task.choices} choices` : task.labels.join(', ')})` : '');
  const graph = graphProto({ name: `gptedge_${kind}`, doc, nodes: b.nodes, initializers: b.initializers, inputs, outputs });
  const metadata: Record<string, string> = { 'gptedge.graph': kind, 'gptedge.family': family };
  if (q) metadata['gptedge.weights'] = q.kind;
  if (opts.metadata !== false) metadata['gptedge.config'] = JSON.stringify(cfg);
  if (task) metadata['gptedge.task'] = JSON.stringify(task); // always: classifyOrt needs the labels
  return modelProto({
    irVersion: EXPORT_IR_VERSION,
    opset: EXPORT_OPSET,
    producer: 'gptedge',
    producerVersion: opts.version ?? '0.1.0',
    doc,
    graph,
    metadata,
  }).toBytes();
}
