// config.json in Hugging Face's keys (so a checkpoint folder opens with transformers too), plus
// gptedge's own keys under "gptedge" for what HF does not record (dropout is HF's; layout is implied
// by model_type).
import { validateConfig, type ConfigNames, type GPTConfig } from '../model/config.ts';
import { asFileError, FileFormatError, jsonKind, quote } from './errors.ts';

export function configToHF(c: GPTConfig): Record<string, unknown> {
  const gpt2 = c.layout === 'pre-ln';
  return {
    model_type: gpt2 ? 'gpt2' : 'openai-gpt',
    architectures: [gpt2 ? 'GPT2LMHeadModel' : 'OpenAIGPTLMHeadModel'],
    vocab_size: c.vocabSize,
    n_positions: c.nCtx,
    n_embd: c.nEmbd,
    n_layer: c.nLayer,
    n_head: c.nHead,
    n_inner: c.nInner,
    layer_norm_epsilon: c.lnEps,
    [gpt2 ? 'activation_function' : 'afn']: 'gelu_new',
    embd_pdrop: c.embdPdrop,
    attn_pdrop: c.attnPdrop,
    resid_pdrop: c.residPdrop,
    initializer_range: c.initStd,
    tie_word_embeddings: true,
  };
}

/** gptedge's names for the Hugging Face keys, so that messages about a config.json use the file's keys. */
const HF_NAMES: ConfigNames = {
  vocabSize: 'vocab_size',
  nCtx: 'n_positions',
  nEmbd: 'n_embd',
  nLayer: 'n_layer',
  nHead: 'n_head',
  nInner: 'n_inner',
  layout: 'model_type',
  lnEps: 'layer_norm_epsilon',
  embdPdrop: 'embd_pdrop',
  attnPdrop: 'attn_pdrop',
  residPdrop: 'resid_pdrop',
  initStd: 'initializer_range',
};

/** A GPTConfig from a parsed config.json; every problem is a FileFormatError naming `file` and the key. */
export function configFromHF(j: unknown, file = 'config.json'): GPTConfig {
  const fail = (detail: string, field?: string): never => {
    throw new FileFormatError(file, detail, { field });
  };
  if (!j || typeof j !== 'object' || Array.isArray(j)) fail(`must hold a JSON object, got ${jsonKind(j)}`);
  const o = j as Record<string, unknown>;
  const type = o.model_type;
  if (type !== 'gpt2' && type !== 'openai-gpt') fail(`model_type must be "gpt2" or "openai-gpt", got ${quote(type)}`, 'model_type');
  const act = o.activation_function ?? o.afn ?? 'gelu_new';
  if (act !== 'gelu_new' && act !== 'gelu') fail(`activation ${quote(act)} is not supported (gelu_new, the tanh form, is)`, 'activation_function');
  if (o.tie_word_embeddings === false) fail('untied output heads are not supported (GPT ties the head to the token embedding)', 'tie_word_embeddings');
  const num = (k: string, dflt?: number): number => {
    const v = o[k] ?? dflt;
    if (typeof v !== 'number') fail(`${k} must be a number, got ${quote(v)}`, k);
    return v as number;
  };
  const C = num('n_embd');
  if (o.n_inner !== undefined && o.n_inner !== null && typeof o.n_inner !== 'number')
    fail(`n_inner must be a number or null, got ${quote(o.n_inner)}`, 'n_inner');
  if (typeof o.n_positions === 'number' && typeof o.n_ctx === 'number' && o.n_positions !== o.n_ctx) {
    fail(`n_positions (${o.n_positions}) and n_ctx (${o.n_ctx}) disagree`, 'n_positions');
  }
  const cfg = {
    vocabSize: num('vocab_size'),
    nCtx: o.n_positions === undefined ? num('n_ctx') : num('n_positions'),
    nEmbd: C,
    nLayer: num('n_layer'),
    nHead: num('n_head'),
    nInner: typeof o.n_inner === 'number' ? o.n_inner : 4 * C,
    layout: type === 'gpt2' ? 'pre-ln' : 'post-ln',
    lnEps: num('layer_norm_epsilon', 1e-5),
    embdPdrop: num('embd_pdrop', 0.1),
    attnPdrop: num('attn_pdrop', 0.1),
    residPdrop: num('resid_pdrop', 0.1),
    initStd: num('initializer_range', 0.02),
  } satisfies GPTConfig;
  try {
    return validateConfig(cfg, HF_NAMES);
  } catch (err) {
    throw asFileError(file, err);
  }
}
