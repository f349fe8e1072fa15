// The parameter set of a GPT: names, shapes, and which tensors take weight decay. Names follow Hugging
// Face's gpt2 checkpoints ("wte.weight", "h.0.attn.c_attn.weight", ...); openai-gpt differs only in the
// two embeddings, mapped in src/io/hf-names.ts. Linear weights are stored [in, out] as HF's Conv1D does.
import type { Tensor } from '../backend/backend.ts';
import type { GPTConfig } from './config.ts';

export interface ParamSpec {
  name: string;
  shape: number[];
  /** AdamW weight decay applies to matrices (embeddings included), not to biases or LN gains */
  decay: boolean;
  init: 'normal' | 'zeros' | 'ones';
}

/** A trainable tensor as an optimizer sees it: its values, its gradient, whether it takes weight decay. */
export interface TrainableTensor {
  /** unique within what one optimizer trains (a checkpoint's moments are named m.<name>, v.<name>) */
  name: string;
  param: Tensor;
  grad: Tensor;
  decay: boolean;
  /** row length of a matrix (a backend may split a large moment between rows); the length for a vector */
  rowLength: number;
}

/** The tensors one part of a trainable whole contributes (the transformer's, a task head's), in order. */
export interface ParamGroup {
  name: string;
  tensors: TrainableTensor[];
}

export function paramSpecs(c: GPTConfig): ParamSpec[] {
  const C = c.nEmbd;
  const specs: ParamSpec[] = [
    { name: 'wte.weight', shape: [c.vocabSize, C], decay: true, init: 'normal' },
    { name: 'wpe.weight', shape: [c.nCtx, C], decay: true, init: 'normal' },
  ];
  const linear = (name: string, i: number, o: number) => {
    specs.push({ name: `${name}.weight`, shape: [i, o], decay: true, init: 'normal' });
    specs.push({ name: `${name}.bias`, shape: [o], decay: false, init: 'zeros' });
  };
  const ln = (name: string) => {
    specs.push({ name: `${name}.weight`, shape: [C], decay: false, init: 'ones' });
    specs.push({ name: `${name}.bias`, shape: [C], decay: false, init: 'zeros' });
  };
  for (let l = 0; l < c.nLayer; l++) {
    linear(`h.${l}.attn.c_attn`, C, 3 * C);
    linear(`h.${l}.attn.c_proj`, C, C);
    ln(`h.${l}.ln_1`);
    linear(`h.${l}.mlp.c_fc`, C, c.nInner);
    linear(`h.${l}.mlp.c_proj`, c.nInner, C);
    ln(`h.${l}.ln_2`);
  }
  if (c.layout === 'pre-ln') ln('ln_f');
  return specs;
}

export const numel = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * The number of parameters of a config in closed form, without building its specs: cheap and safe for
 * any numbers, so loaders compare it with a weights file before sizing anything by the config. It
 * equals the sum over paramSpecs(c) (tested).
 */
export function paramCount(c: GPTConfig): number {
  const C = c.nEmbd,
    F = c.nInner;
  const block = C * 3 * C + 3 * C + C * C + C + 2 * C + C * F + F + F * C + C + 2 * C;
  return c.vocabSize * C + c.nCtx * C + c.nLayer * block + (c.layout === 'pre-ln' ? 2 * C : 0);
}

/** The same as paramCount (the name of the public API before 0.2). */
export const countParams = paramCount;
