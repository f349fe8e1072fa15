// The hypernymy entailment set (adapters/cli/datasets.ts buildLexicalEntailment) on a small WordNet
// written here in WordNet's data.noun format: one template for every class, the three relations right,
// classes balanced, no word pair in two splits, and the word filter applied.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLexicalEntailment } from '../../adapters/cli/datasets.ts';
import { assert, assertEqual, test } from '../lib/harness.ts';

// offset lex_filenum ss_type w_cnt word lex_id [word lex_id...] p_cnt [ptr...] | gloss; '@' = hypernym
function synset(offset: string, word: string, hypernym?: string): string {
  return `${offset} 05 n 01 ${word} 0 ${hypernym ? `001 @ ${hypernym} n 0000` : '000'} | a ${word}`;
}

test('hypernymy: one template, hypernym / reverse / co-hyponym labels, balanced, split by word pair', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wn-'));
  try {
    const lines = ['  1 header line (license text) starts with spaces', synset('00000001', 'animal'), synset('00000002', 'canine', '00000001')];
    // 12 kinds of canine and 12 of feline: hyponym pairs, and siblings for contradictions
    lines.push(synset('00000003', 'feline', '00000001'));
    for (let i = 0; i < 12; i++) lines.push(synset(String(100 + i).padStart(8, '0'), `dog${String.fromCharCode(97 + i)}`, '00000002'));
    for (let i = 0; i < 12; i++) lines.push(synset(String(200 + i).padStart(8, '0'), `cat${String.fromCharCode(97 + i)}`, '00000003'));
    writeFileSync(join(dir, 'data.noun'), lines.join('\n') + '\n');
    const s = buildLexicalEntailment(1, { wordnetDir: dir });
    const all = [...s.train, ...s.dev, ...s.test];
    const word = (t: string) => /^This is an? ([a-z]+)\.$/.exec(t)?.[1];
    assert(
      all.every((r) => word(r.premise) && word(r.hypothesis)),
      'every premise and hypothesis is "This is a X."',
    );
    const parent = (w: string) => (w.startsWith('dog') ? 'canine' : w.startsWith('cat') ? 'feline' : w === 'canine' || w === 'feline' ? 'animal' : undefined);
    for (const r of all) {
      const [x, y] = [word(r.premise)!, word(r.hypothesis)!];
      if (r.label === 'entailment') assertEqual(parent(x), y, `${x} ⇒ ${y}`);
      else if (r.label === 'neutral') assertEqual(parent(y), x, `${x} ⇏ ${y}`);
      else {
        assertEqual(r.label, 'contradiction');
        assert(x !== y && parent(x) === parent(y), `${x} / ${y} are siblings`);
      }
    }
    const count = (l: string) => all.filter((r) => r.label === l).length;
    assert(count('contradiction') > 0 && count('entailment') === count('neutral') && count('neutral') === count('contradiction'), 'balanced classes');
    const pairs = (rows: typeof all) => new Set(rows.map((r) => [word(r.premise), word(r.hypothesis)].sort().join('|')));
    const [tr, dv, te] = [pairs(s.train), pairs(s.dev), pairs(s.test)];
    for (const p of te) assert(!tr.has(p) && !dv.has(p), `pair ${p} only in test`);
    const kept = buildLexicalEntailment(1, { wordnetDir: dir, keepWord: (w) => !w.startsWith('cat') });
    assert(
      [...kept.train, ...kept.dev, ...kept.test].every((r) => !/cat[a-z]/.test(r.premise + r.hypothesis)),
      'keepWord drops pairs with a rejected word',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
