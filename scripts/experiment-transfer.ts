// The paper's central claim, measured: for each task family, the same architecture (a) pretrained on
// the offline corpus (L1) then fine-tuned, vs (b) initialised at random and fine-tuned on the same
// labelled data for the same number of steps; each with λ = 0.5 and λ = 0. Test-split accuracy.
//
//   node_modules/.bin/bun scripts/build-finetune-data.ts            # once: data → .cache/gptedge/finetune-data
//   node_modules/.bin/bun scripts/experiment-transfer.ts [options]  # prints a markdown table (docs/transfer.md)
//
// Options (defaults are a small run for 2 CPU cores): --pretrain-steps 400 --ft-steps 60 --n-train 256
// --n-test 200 --batch 16 --seed 1 --families classification,entailment,similarity,multiple-choice
// --backend reference|wasm --layers 2 --embd 64 --ctx 64 --vocab 512 --corpus moby-dick
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { createBackend } from '../adapters/backends.ts';
import { loadCorpus } from '../adapters/corpora.ts';
import { GPT } from '../src/model/gpt.ts';
import { preset } from '../src/model/config.ts';
import { trainTokenizerFromTexts } from '../src/tokenizer/train.ts';
import { TokenDataset } from '../src/train/data.ts';
import { pretrain } from '../src/train/pretrain.ts';
import { encodeAll, evaluateEncoded, finetune, prepareFinetune, readDataset, type TaskFamily } from '../src/finetune/index.ts';

const { values: a } = parseArgs({
  options: {
    'pretrain-steps': { type: 'string', default: '400' }, 'ft-steps': { type: 'string', default: '60' }, 'n-train': { type: 'string', default: '256' },
    'n-test': { type: 'string', default: '200' }, batch: { type: 'string', default: '16' }, seed: { type: 'string', default: '1' },
    families: { type: 'string', default: 'classification,entailment,similarity,multiple-choice' }, backend: { type: 'string', default: 'reference' },
    layers: { type: 'string', default: '2' }, embd: { type: 'string', default: '64' }, ctx: { type: 'string', default: '64' }, vocab: { type: 'string', default: '512' },
    corpus: { type: 'string', default: 'moby-dick' }, data: { type: 'string', default: '.cache/gptedge/finetune-data' }, lr: { type: 'string', default: '1e-3' },
    'ft-lr': { type: 'string', default: '5e-4' },
  },
});
const n = (k: keyof typeof a) => Number(a[k]);
const seed = n('seed'), t0 = Date.now();
const log = (s: string) => console.error(`[${((Date.now() - t0) / 1000).toFixed(0)} s] ${s}`);
const DATA: Record<TaskFamily, string> = { classification: 'spam', entailment: 'entailment', similarity: 'similarity', 'multiple-choice': 'cloze' };

const backend = await createBackend(a.backend!);
const corpus = await loadCorpus(a.corpus!.split(','));
const tokenizer = trainTokenizerFromTexts(corpus.texts, n('vocab') - 260);
const cfg = preset('demo', { vocabSize: tokenizer.vocabSize, nLayer: n('layers'), nEmbd: n('embd'), nHead: 4, nInner: 4 * n('embd'), nCtx: n('ctx'), embdPdrop: 0.1, attnPdrop: 0.1, residPdrop: 0.1 });
const tokens = Int32Array.from(corpus.texts.flatMap((t) => tokenizer.encode(t)));
log(`corpus ${corpus.name}: ${tokens.length} tokens, vocabulary ${tokenizer.vocabSize}; model ${cfg.nLayer}×${cfg.nEmbd}, context ${cfg.nCtx}`);
const pre = new GPT(backend, cfg).init(seed);
const ps = await pretrain(pre, new TokenDataset(tokens, cfg.nCtx, 0.05), {
  steps: n('pretrain-steps'), batchSize: 8, lr: n('lr'), warmupSteps: Math.min(100, n('pretrain-steps') / 10), seed, evalEvery: n('pretrain-steps'), evalBatches: 8,
  onStep: (e) => { if (e.step % 50 === 0) log(`pretrain step ${e.step}: loss ${e.loss.toFixed(3)}`); },
});
const valLoss = ps.history.filter((h) => h.valLoss !== undefined).at(-1)?.valLoss;
log(`pretrained: validation L1 ${valLoss?.toFixed(3)}`);
const pretrainedParams = await pre.readParams();

const rows: string[] = [];
for (const family of a.families!.split(',') as TaskFamily[]) {
  const dir = `${a.data}/${DATA[family]}`;
  const train = readDataset(readFileSync(`${dir}/train.jsonl`, 'utf8'), family, `${dir}/train.jsonl`);
  const test = readDataset(readFileSync(`${dir}/test.jsonl`, 'utf8'), family, `${dir}/test.jsonl`, { labels: train.spec.labels.length ? train.spec.labels : undefined, choices: train.spec.choices });
  const trainEx = train.examples.slice(0, n('n-train')), testEx = test.examples.slice(0, n('n-test'));
  const counts = new Map<string, number>();
  for (const e of testEx) counts.set(String(e.label), (counts.get(String(e.label)) ?? 0) + 1);
  const majority = Math.max(...counts.values()) / testEx.length;
  const res: Record<string, string> = {};
  for (const init of ['pretrained', 'scratch'] as const) {
    for (const lmCoef of [0.5, 0]) {
      const model = new GPT(backend, cfg).init(seed + 100); // the same random init for both arms
      if (init === 'pretrained') model.writeParams(pretrainedParams);
      const ft = await prepareFinetune(model, tokenizer, train.spec, { seed });
      const enc = encodeAll(ft, trainEx), encTest = encodeAll(ft, testEx);
      await finetune(ft, enc, { steps: n('ft-steps'), batchSize: n('batch'), lr: n('ft-lr'), lmCoef, seed });
      const m = await evaluateEncoded(ft, encTest, { batchSize: 16 });
      res[`${init}/${lmCoef}`] = `${(100 * m.accuracy).toFixed(1)}${m.f1 !== undefined && train.spec.labels.length === 2 ? ` (F1 ${m.f1.toFixed(2)})` : ''}`;
      log(`${family} ${init} λ=${lmCoef}: test accuracy ${(100 * m.accuracy).toFixed(1)}%`);
    }
  }
  rows.push(`| ${family} (${DATA[family]}) | ${trainEx.length} / ${testEx.length} | ${(100 * majority).toFixed(1)} | ${res['pretrained/0.5']} | ${res['pretrained/0']} | ${res['scratch/0.5']} | ${res['scratch/0']} |`);
}
console.log(`\nseed ${seed}; pretraining ${n('pretrain-steps')} steps × 8 × ${cfg.nCtx} tokens of ${corpus.name} (validation L1 ${valLoss?.toFixed(3)}); fine-tuning ${n('ft-steps')} steps × batch ${n('batch')}, lr ${n('ft-lr')}; ${((Date.now() - t0) / 60000).toFixed(1)} min on ${backend.name}\n`);
console.log('| family (data) | train / test | majority % | pretrained λ=0.5 | pretrained λ=0 | scratch λ=0.5 | scratch λ=0 |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
