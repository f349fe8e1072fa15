// Hugging Face tensor names for the two families. gptedge's own names are gpt2's; openai-gpt differs in
// the embeddings (and has no ln_f, since GPT-1 is post-LN). Checkpoints of either may carry a
// "transformer." prefix (the *LMHeadModel classes), accepted on load.
import type { GPTConfig } from '../model/config.ts';

export type Family = 'gpt2' | 'openai-gpt';

export const familyOf = (c: GPTConfig): Family => (c.layout === 'pre-ln' ? 'gpt2' : 'openai-gpt');

const GPT1: Record<string, string> = { 'wte.weight': 'tokens_embed.weight', 'wpe.weight': 'positions_embed.weight' };
const GPT1_BACK: Record<string, string> = { 'tokens_embed.weight': 'wte.weight', 'positions_embed.weight': 'wpe.weight' };

export function toHF(name: string, family: Family): string {
  return family === 'openai-gpt' ? (GPT1[name] ?? name) : name;
}

export function fromHF(name: string): string {
  const n = name.startsWith('transformer.') ? name.slice('transformer.'.length) : name;
  return GPT1_BACK[n] ?? n;
}
