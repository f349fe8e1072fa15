// A check that the held-out text really is held out: the share of the evaluation splits' texts that
// occur verbatim (≥ 40 characters) anywhere in the pretraining corpus. Bible books quote each other
// (2 Samuel 22 is Psalm 18; Kings and Chronicles share passages), so a few verbatim hits are expected
// even with whole books held out; the number says how many.
import { DEV_N, TEST_N } from './arms.ts';
import { DATA_SEED, OUT, once } from './common.ts';
import { buildPretrainCorpus } from './corpus.ts';
import { SETS, loadSplit } from './data.ts';

export interface LeakReport {
  [check: string]: { texts: number; found: number; examples: string[] };
}

export async function leaksPart(): Promise<LeakReport> {
  return once(`${OUT}/leaks.json`, 'leak check', async () => {
    const corpus = buildPretrainCorpus(DATA_SEED, 7)
      .docs.map((d) => d.text.replace(/\s+/g, ' '))
      .join('\n');
    const out: LeakReport = {};
    const check = (name: string, texts: string[]) => {
      const long = [...new Set(texts.map((t) => t.replace(/\s+/g, ' ').trim()))].filter((t) => t.length >= 40);
      const hits = long.filter((t) => corpus.includes(t));
      out[name] = { texts: long.length, found: hits.length, examples: hits.slice(0, 3) };
    };
    for (const split of ['dev', 'test'] as const) {
      const N = split === 'dev' ? DEV_N : TEST_N;
      const sim = loadSplit(SETS.find((s) => s.set === 'similarity')!, split).examples.slice(0, N) as { a: string; b: string }[];
      check(
        `similarity ${split}: KJV verses`,
        sim.map((e) => e.a),
      );
      check(
        `similarity ${split}: WEB verses`,
        sim.map((e) => e.b),
      );
      const cloze = loadSplit(SETS.find((s) => s.set === 'cloze')!, split).examples.slice(0, N) as { context: string; choices: string[] }[];
      check(
        `cloze ${split}: contexts`,
        cloze.map((e) => e.context),
      );
      check(
        `cloze ${split}: candidates`,
        cloze.flatMap((e) => e.choices),
      );
    }
    return out;
  });
}
