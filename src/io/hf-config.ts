// config.json in Hugging Face's keys (so a checkpoint folder opens with transformers too), plus
// gptedge's own keys under "gptedge" for what HF does not record (dropout is HF's; layout is implied
// by model_type).
import { validateConfig, type GPTConfig } from '../model/config.ts';

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

export function configFromHF(j: Record<string, unknown>, file = 'config.json'): GPTConfig {
  const type = j.model_type;
  if (type !== 'gpt2' && type !== 'openai-gpt') throw new Error(`${file}: model_type must be "gpt2" or "openai-gpt", got ${JSON.stringify(type)}`);
  const act = j.activation_function ?? j.afn ?? 'gelu_new';
  if (act !== 'gelu_new' && act !== 'gelu') throw new Error(`${file}: activation ${JSON.stringify(act)} is not supported (gelu_new, the tanh form, is)`);
  if (j.tie_word_embeddings === false) throw new Error(`${file}: untied output heads are not supported (GPT ties the head to the token embedding)`);
  const num = (k: string, dflt?: number): number => {
    const v = j[k] ?? dflt;
    if (typeof v !== 'number') throw new Error(`${file}: ${k} must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const C = num('n_embd');
  try {
    return validateConfig({
      vocabSize: num('vocab_size'),
      nCtx: num('n_positions', num('n_ctx', 0) || undefined),
      nEmbd: C,
      nLayer: num('n_layer'),
      nHead: num('n_head'),
      nInner: typeof j.n_inner === 'number' ? j.n_inner : 4 * C,
      layout: type === 'gpt2' ? 'pre-ln' : 'post-ln',
      lnEps: num('layer_norm_epsilon', 1e-5),
      embdPdrop: num('embd_pdrop', 0.1),
      attnPdrop: num('attn_pdrop', 0.1),
      residPdrop: num('resid_pdrop', 0.1),
      initStd: num('initializer_range', 0.02),
    });
  } catch (err) {
    throw new Error(`${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
