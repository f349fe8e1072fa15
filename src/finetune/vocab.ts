// Vocabulary extension (§3.3): a pretrained model whose tokenizer lacks the start, delimiter or extract
// token gets them appended to tokenizer.json's added_tokens (ids after the last one) and new rows in the
// token embedding W_e drawn like the rest of the initialisation, N(0, initStd²) (0.02 in the paper).
// The output head is tied to W_e, so the LM loss sees the new tokens too. Existing rows are unchanged.
import { GPT } from '../model/gpt.ts';
import { GPTTokenizer, SPECIAL_TOKENS, specialTokenEntry, type SpecialTokenName } from '../tokenizer/tokenizer.ts';
import { Rng } from '../util/random.ts';

export const FINETUNE_SPECIALS: SpecialTokenName[] = ['start', 'delimiter', 'extract'];

export interface ExtendedVocab {
  model: GPT;
  tokenizer: GPTTokenizer;
  added: { name: SpecialTokenName; id: number }[];
}

/** The model and tokenizer with the three fine-tuning tokens; the same objects when nothing is missing. */
export async function withFinetuneTokens(model: GPT, tokenizer: GPTTokenizer, seed = 1): Promise<ExtendedVocab> {
  if (tokenizer.vocabSize > model.cfg.vocabSize) {
    throw new Error(`the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocabulary holds ${model.cfg.vocabSize}`);
  }
  const missing = FINETUNE_SPECIALS.filter((n) => tokenizer.specialId(n) === undefined);
  if (missing.length === 0) return { model, tokenizer, added: [] };
  const json = JSON.parse(tokenizer.toJSON()) as Record<string, unknown>;
  const addedTokens = [...((json.added_tokens as unknown[]) ?? [])];
  let next = tokenizer.vocabSize;
  const added = missing.map((name) => ({ name, id: next++ }));
  for (const a of added) {
    addedTokens.push(specialTokenEntry(a.id, SPECIAL_TOKENS[a.name]));
  }
  const tok = GPTTokenizer.fromJSON({ ...json, added_tokens: addedTokens });
  const V = Math.max(model.cfg.vocabSize, next),
    C = model.cfg.nEmbd;
  const params = await model.readParams();
  const wte = new Float32Array(V * C);
  wte.set(params.get('wte.weight')!);
  const rng = new Rng(seed ^ 0x5eed);
  for (const a of added) for (let c = 0; c < C; c++) wte[a.id * C + c] = rng.normal() * model.cfg.initStd;
  params.set('wte.weight', wte);
  const grown = V === model.cfg.vocabSize ? model : new GPT(model.be, { ...model.cfg, vocabSize: V });
  grown.writeParams(params);
  return { model: grown, tokenizer: tok, added };
}
