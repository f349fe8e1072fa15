// An independent GPT in @tensorflow/tfjs-core, written from the papers, not from src/model/gpt.ts: the
// transformer from embedded inputs (BT,C) to h_n (BT,C), both LN layouts. The autodiff test checks
// gptedge's gradients against it (cpu backend); the bench trains it on tfjs-backend-wasm as a peer.
// Callers embed the tokens (Gather, or a custom gradient where a backend lacks one) and apply the head.
import * as tf from '@tensorflow/tfjs-core';
import type { GPTConfig } from '../../src/model/config.ts';

export function tfjsTransformer(cfg: GPTConfig, P: (name: string) => tf.Tensor, x0: tf.Tensor, B: number, T: number): tf.Tensor {
  const C = cfg.nEmbd,
    NH = cfg.nHead,
    hs = C / NH,
    BT = B * T;
  const ln = (x: tf.Tensor, pre: string): tf.Tensor => {
    const mean = tf.mean(x, -1, true),
      xc = tf.sub(x, mean),
      variance = tf.mean(tf.square(xc), -1, true);
    return tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(variance, cfg.lnEps))), P(`${pre}.weight`)), P(`${pre}.bias`));
  };
  const linear = (x: tf.Tensor, pre: string): tf.Tensor => tf.add(tf.matMul(x as tf.Tensor2D, P(`${pre}.weight`) as tf.Tensor2D), P(`${pre}.bias`));
  // x·x·x rather than pow(x, 3): tfjs-backend-wasm has no Pow gradient kernel
  const gelu = (x: tf.Tensor): tf.Tensor =>
    tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.mul(x, tf.mul(x, x))))))));
  // causal mask: 0 on and below the diagonal, -1e9 above
  const maskData = new Float32Array(T * T);
  for (let t = 0; t < T; t++) for (let u = t + 1; u < T; u++) maskData[t * T + u] = -1e9;
  const mask = tf.tensor2d(maskData, [T, T]);
  const heads = (x: tf.Tensor): tf.Tensor4D => tf.transpose(tf.reshape(x, [B, T, NH, hs]), [0, 2, 1, 3]) as tf.Tensor4D;
  const attn = (x: tf.Tensor, l: number): tf.Tensor => {
    const [q, k, v] = tf.split(linear(x, `h.${l}.attn.c_attn`), 3, 1).map(heads); // (B, NH, T, hs)
    const s = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hs)), mask);
    const y = tf.matMul(tf.softmax(s), v); // (B, NH, T, hs)
    return linear(tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [BT, C]), `h.${l}.attn.c_proj`);
  };
  const mlp = (x: tf.Tensor, l: number): tf.Tensor => linear(gelu(linear(x, `h.${l}.mlp.c_fc`)), `h.${l}.mlp.c_proj`);
  let x = x0;
  for (let l = 0; l < cfg.nLayer; l++) {
    if (cfg.layout === 'post-ln') {
      const n = ln(tf.add(x, attn(x, l)), `h.${l}.ln_1`);
      x = ln(tf.add(n, mlp(n, l)), `h.${l}.ln_2`);
    } else {
      const r = tf.add(x, attn(ln(x, `h.${l}.ln_1`), l));
      x = tf.add(r, mlp(ln(r, `h.${l}.ln_2`), l));
    }
  }
  return cfg.layout === 'pre-ln' ? ln(x, 'ln_f') : x;
}
