// A fine-tuned model's task head for the ONNX export (src/io/onnx/export.ts): its family decides the
// graph's head — whether the states of consecutive rows are summed (similarity's two orders) and what
// the softmax runs over (the labels, or an example's candidates) — and task.json's fields become the
// file's metadata.
import type { GPTConfig } from '../model/config.ts';
import { exportOnnxFromParams, type OnnxExportOptions, type OnnxTaskHead } from '../io/onnx/export.ts';
import { familyOf, headDescription, headOutputs, numClasses, validateSpec, type TaskSpec } from './task.ts';
import type { FinetuneModel } from './finetune.ts';

/** The `head` option of exportOnnx for W_y [C, K] and b [K] of a task; the errors say which shape the task needs. */
export function onnxTaskHead(cfg: GPTConfig, h: { W: Float32Array; b: Float32Array; spec: TaskSpec; maxLen?: number }): OnnxTaskHead {
  const { spec } = h;
  try {
    validateSpec(spec);
  } catch (err) {
    throw new Error(`exportOnnx: task head: ${(err as Error).message}`);
  }
  const C = cfg.nEmbd,
    K = headOutputs(spec),
    what = headDescription(spec),
    family = familyOf(spec);
  if (h.W.length !== C * K)
    throw new Error(`exportOnnx: task head W_y has ${h.W.length} values; a ${spec.family} head (${what}) on d_model ${C} needs [${C}, ${K}] = ${C * K}`);
  if (h.b.length !== K) throw new Error(`exportOnnx: task head bias has ${h.b.length} values; a ${spec.family} head (${what}) needs [${K}]`);
  const choices = family.classes === 'choices';
  return {
    W: h.W,
    b: h.b,
    sumRows: family.sumSequences,
    classes: numClasses(spec),
    info: { family: spec.family, labels: choices ? [] : [...spec.labels], choices: choices ? spec.choices! : null, maxLen: h.maxLen ?? cfg.nCtx },
  };
}

/** A fine-tuned model with its task head as ONNX: exportOnnx(ft.model, { head }) in one call. */
export async function exportFinetunedOnnx(ft: FinetuneModel, opts: Omit<OnnxExportOptions, 'head'> = {}): Promise<Uint8Array> {
  const { W, b } = await ft.head.read();
  return exportOnnxFromParams(ft.model.cfg, await ft.model.readParams(), {
    ...opts,
    head: onnxTaskHead(ft.model.cfg, { W, b, spec: ft.spec, maxLen: ft.maxLen }),
  });
}
