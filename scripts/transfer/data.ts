// Part 3 of the transfer study: the labelled sets, built once with the seed the pretraining corpus held
// their dev/test sources out with (DATA_SEED), written as JSONL under runs/transfer/data/<set>/.
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { buildCloze, buildLexicalEntailment, buildSimilarity, buildSpam, type Splits } from '../../adapters/cli/datasets.ts';
import { readDataset, type Dataset, type TaskFamily } from '../../src/finetune/index.ts';
import { buildPretrainCorpus } from './corpus.ts';
import { DATA_SEED, OUT, log, once } from './common.ts';

export interface SetInfo {
  set: string;
  family: TaskFamily;
  labels: string[];
  choices?: number;
  maxLen: number;
  what: string;
}

/** The four families; maxLen keeps a fine-tuning run's cost in the budget of docs/transfer.md. */
export const SETS: SetInfo[] = [
  { set: 'spam', family: 'classification', labels: ['ham', 'spam'], maxLen: 48, what: 'SpamAssassin bodies, split by message' },
  {
    set: 'similarity',
    family: 'similarity',
    labels: ['different', 'same'],
    maxLen: 48,
    what: 'KJV ↔ WEB verse pairs, negatives = a neighbouring verse, split by book',
  },
  {
    set: 'cloze',
    family: 'multiple-choice',
    labels: [],
    choices: 2,
    maxLen: 48,
    what: 'Moby-Dick story cloze, 2 sentences of context, 2 candidates, split by chapter',
  },
  {
    set: 'hypernymy',
    family: 'entailment',
    labels: ['contradiction', 'entailment', 'neutral'],
    maxLen: 24,
    what: 'WordNet nouns in one template: hypernym / reverse / co-hyponym, split by word pair',
  },
];

const dir = (set: string) => `${OUT}/data/${set}`;

export async function dataPart(): Promise<Record<string, Record<string, Record<string, number>>>> {
  return once(`${OUT}/data.json`, 'labelled data', async () => {
    // hypernymy keeps word pairs the pretraining text holds (≥ 3 times), so pretraining can know them
    const words = new Map<string, number>();
    for (const d of buildPretrainCorpus(DATA_SEED, 7).docs) for (const w of d.text.toLowerCase().match(/[a-z]+/g) ?? []) words.set(w, (words.get(w) ?? 0) + 1);
    const built: Record<string, Splits<Record<string, unknown>>> = {
      spam: buildSpam(DATA_SEED),
      similarity: buildSimilarity(DATA_SEED, { max: { train: 4000, dev: 400, test: 1000 } }),
      cloze: buildCloze(DATA_SEED, { choices: 2, stride: 1 }),
      hypernymy: buildLexicalEntailment(DATA_SEED, { keepWord: (w) => (words.get(w) ?? 0) >= 3, max: { train: 4000, dev: 400, test: 1000 } }),
    };
    const counts: Record<string, Record<string, Record<string, number>>> = {};
    for (const [set, splits] of Object.entries(built)) {
      mkdirSync(dir(set), { recursive: true });
      counts[set] = {};
      for (const [split, rows] of Object.entries(splits)) {
        writeFileSync(`${dir(set)}/${split}.jsonl`, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
        const c: Record<string, number> = {};
        for (const r of rows) c[String(r.label)] = (c[String(r.label)] ?? 0) + 1;
        counts[set][split] = c;
      }
      log(
        `data ${set}: ${Object.entries(splits)
          .map(([k, v]) => `${k} ${v.length}`)
          .join(', ')}`,
      );
    }
    return counts;
  });
}

export function loadSplit(info: SetInfo, split: 'train' | 'dev' | 'test'): Dataset {
  const f = `${dir(info.set)}/${split}.jsonl`;
  if (!existsSync(f)) throw new Error(`${f} is missing: run the data part first`);
  return readDataset(readFileSync(f, 'utf8'), info.family, f, { labels: info.labels.length ? info.labels : undefined, choices: info.choices });
}
