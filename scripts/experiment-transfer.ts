// The paper's central claim, measured: for each task family, the same architecture (a) pretrained on
// the offline corpus (L1) then fine-tuned, vs (b) initialised at random and fine-tuned on the same
// labelled data for the same number of steps; each with λ = 0.5 and λ = 0. Test-split accuracy, its
// binomial standard error, and the paired differences (same test examples) with their standard errors.
//
//   node_modules/.bin/bun scripts/build-finetune-data.ts            # once: data → .cache/gptedge/finetune-data
//   node_modules/.bin/bun scripts/experiment-transfer.ts [options]  # prints markdown tables (docs/transfer.md)
//
// Options (defaults are a small run for 2 CPU cores): --pretrain-steps 400 --pretrain-batch 8 --lr 1e-3
// --ft-steps 60 --n-train 256 --n-test 200 --batch 16 --ft-lr 5e-4 --seed 1 --lm-coefs 0.5,0
// --families classification,entailment,similarity,multiple-choice --backend reference|wasm --threads N
// --layers 2 --embd 64 --ctx 64 --vocab 512 --layout (the demo preset's: pre-ln) | post-ln --dropout 0.1
// --corpus moby-dick --data .cache/gptedge/finetune-data --json FILE (every arm's numbers, for several seeds)
// --pretrained-cache FILE (safetensors: reused when its recorded settings match, else written)
//
// The pretrained weights are computed once and copied into a fresh model for every arm; (b) starts
// from the same random init (seed + 100) as (a) did before pretraining. Each arm's model is freed after
// it is scored, so a long run's memory stays flat.
import { parseArgs } from 'node:util';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createBackend } from '../adapters/node/backend.ts';
import { loadCorpus } from '../adapters/cli/corpora.ts';
import type { Backend, Tensor } from '../src/backend/backend.ts';
import { GPT } from '../src/model/gpt.ts';
import { preset, type LayerNormLayout } from '../src/model/config.ts';
import { trainTokenizerFromTexts } from '../src/tokenizer/train.ts';
import { TokenDataset } from '../src/train/data.ts';
import { pretrain } from '../src/train/pretrain.ts';
import { readSafetensors, writeSafetensors, type NamedTensor } from '../src/io/safetensors.ts';
import { encodeAll, finetune, predictEncoded, prepareFinetune, readDataset, type FinetuneModel, type TaskFamily } from '../src/finetune/index.ts';
import { argmax, computeMetrics } from '../src/finetune/metrics.ts';

const { values: a } = parseArgs({
  options: {
    'pretrain-steps': { type: 'string', default: '400' }, 'pretrain-batch': { type: 'string', default: '8' },
    'ft-steps': { type: 'string', default: '60' }, 'n-train': { type: 'string', default: '256' },
    'n-test': { type: 'string', default: '200' }, batch: { type: 'string', default: '16' }, seed: { type: 'string', default: '1' },
    families: { type: 'string', default: 'classification,entailment,similarity,multiple-choice' }, backend: { type: 'string', default: 'reference' },
    threads: { type: 'string' },
    layers: { type: 'string', default: '2' }, embd: { type: 'string', default: '64' }, ctx: { type: 'string', default: '64' }, vocab: { type: 'string', default: '512' },
    layout: { type: 'string' }, dropout: { type: 'string', default: '0.1' },
    corpus: { type: 'string', default: 'moby-dick' }, data: { type: 'string', default: '.cache/gptedge/finetune-data' }, lr: { type: 'string', default: '1e-3' },
    'ft-lr': { type: 'string', default: '5e-4' }, 'lm-coefs': { type: 'string', default: '0.5,0' }, json: { type: 'string' },
    'pretrained-cache': { type: 'string' },
  },
});
const n = (k: keyof typeof a) => Number(a[k]);
const seed = n('seed'), t0 = Date.now();
const secs = (from: number) => (Date.now() - from) / 1000;
const log = (s: string) => console.error(`[${secs(t0).toFixed(0)} s] ${s}`);
const DATA: Record<TaskFamily, string> = { classification: 'spam', entailment: 'entailment', similarity: 'similarity', 'multiple-choice': 'cloze' };
const lmCoefs = a['lm-coefs']!.split(',').map(Number);
if (a.layout !== undefined && a.layout !== 'pre-ln' && a.layout !== 'post-ln') throw new Error(`--layout must be pre-ln or post-ln, got ${a.layout}`);
if (lmCoefs.some((x) => !(x >= 0))) throw new Error(`--lm-coefs must be numbers ≥ 0, got ${a['lm-coefs']}`);

const backend = await createBackend(a.backend!, a.threads ? { threads: n('threads') } : {});
const corpus = await loadCorpus(a.corpus!.split(','));
const tokenizer = trainTokenizerFromTexts(corpus.texts, n('vocab') - 260);
const pdrop = n('dropout');
const cfg = preset('demo', {
  vocabSize: tokenizer.vocabSize, nLayer: n('layers'), nEmbd: n('embd'), nHead: 4, nInner: 4 * n('embd'), nCtx: n('ctx'),
  embdPdrop: pdrop, attnPdrop: pdrop, residPdrop: pdrop, ...(a.layout ? { layout: a.layout as LayerNormLayout } : {}),
});
const tokens = Int32Array.from(corpus.texts.flatMap((t) => tokenizer.encode(t)));
log(`backend ${backend.name}; corpus ${corpus.name}: ${tokens.length} tokens, vocabulary ${tokenizer.vocabSize}; model ${cfg.layout} ${cfg.nLayer}×${cfg.nEmbd}, context ${cfg.nCtx}, dropout ${pdrop}`);
const preBatch = n('pretrain-batch');
// --pretrained-cache FILE: reuse the pretrained weights of an earlier run with the same settings
// (safetensors; its metadata holds the settings and must match exactly, else this run pretrains)
const preKey = JSON.stringify({ cfg, corpus: a.corpus, steps: n('pretrain-steps'), batch: preBatch, lr: n('lr'), seed });
let pretrainedParams: Map<string, Float32Array>, valLoss: number | undefined, preSec: number;
const cached = a['pretrained-cache'] && existsSync(a['pretrained-cache']) ? readSafetensors(readFileSync(a['pretrained-cache']), a['pretrained-cache']) : null;
if (cached && cached.metadata.key === preKey) {
  pretrainedParams = new Map([...cached.tensors].map(([k, t]) => [k, t.data]));
  valLoss = Number(cached.metadata.valLoss); preSec = Number(cached.metadata.seconds);
  log(`pretrained weights from ${a['pretrained-cache']}: validation L1 ${valLoss.toFixed(3)} (pretrained in ${preSec.toFixed(0)} s)`);
} else {
  if (cached) log(`${a['pretrained-cache']} holds other settings: pretraining`);
  const tPre = Date.now();
  const pre = new GPT(backend, cfg).init(seed + 100); // the same random init the scratch arms start from
  const ps = await pretrain(pre, new TokenDataset(tokens, cfg.nCtx, 0.05), {
    steps: n('pretrain-steps'), batchSize: preBatch, lr: n('lr'), warmupSteps: Math.min(100, n('pretrain-steps') / 10), seed, evalEvery: Math.max(1, Math.floor(n('pretrain-steps') / 4)), evalBatches: 8,
    onStep: (e) => { if (e.step % 100 === 0) log(`pretrain step ${e.step}: loss ${e.loss.toFixed(3)}, ${e.tokensPerSec.toFixed(0)} tokens/s`); },
    onEval: (e) => log(`pretrain step ${e.step}: validation L1 ${e.valLoss.toFixed(3)}`),
  });
  valLoss = ps.history.filter((h) => h.valLoss !== undefined).at(-1)?.valLoss;
  preSec = secs(tPre);
  log(`pretrained: validation L1 ${valLoss?.toFixed(3)} in ${preSec.toFixed(0)} s`);
  pretrainedParams = await pre.readParams();
  release(backend, pre);
  if (a['pretrained-cache']) {
    const shapes = new Map(pre.specs.map((sp) => [sp.name, sp.shape]));
    const t = new Map<string, NamedTensor>([...pretrainedParams].map(([k, d]) => [k, { data: d, shape: shapes.get(k) ?? [d.length] }]));
    writeFileSync(a['pretrained-cache'], writeSafetensors(t, { key: preKey, valLoss: String(valLoss), seconds: String(preSec) }));
    log(`wrote ${a['pretrained-cache']}`);
  }
}

/** Free every buffer a model (and its head) holds; the backends free arenas as a whole. */
function release(be: Backend, model: GPT, ft?: FinetuneModel): void {
  const m = model as unknown as { params: Record<string, Tensor>; grads: Record<string, Tensor> | null; moments: { m: Record<string, Tensor>; v: Record<string, Tensor> } | null; actsArena: Record<string, Tensor> | null; normSq: Tensor | null };
  const arenas = [m.params, m.grads, m.moments?.m, m.moments?.v, m.actsArena].filter((x): x is Record<string, Tensor> => !!x);
  for (const ar of arenas) be.free(...Object.values(ar));
  if (m.normSq) be.free(m.normSq);
  if (ft) {
    const h = ft.head as unknown as { W: Tensor; b: Tensor; dW: Tensor; db: Tensor; m: Tensor[] | null; v: Tensor[] | null; s?: Record<string, Tensor | Tensor[]> };
    be.free(h.W, h.b, h.dW, h.db, ...(h.m ?? []), ...(h.v ?? []));
    if (h.s) for (const t of Object.values(h.s)) be.free(...(Array.isArray(t) ? t : [t]));
    if (ft.model !== model) release(be, ft.model);
  }
}

interface Arm { family: TaskFamily; init: 'pretrained' | 'scratch'; lmCoef: number; accuracy: number; se: number; f1?: number; testLoss: number; trainL2: number; predicted: number[]; correct: number[]; seconds: number }
const arms: Arm[] = [];
const rows: string[] = [], deltaRows: string[] = [];
const pct = (x: number) => (100 * x).toFixed(1);
/** paired difference of two arms' per-example correctness (A − B) and its standard error */
function paired(A: Arm, B: Arm): { d: number; se: number } {
  const diffs = A.correct.map((c, i) => c - B.correct[i]), N = diffs.length;
  const mean = diffs.reduce((s, x) => s + x, 0) / N;
  const v = diffs.reduce((s, x) => s + (x - mean) ** 2, 0) / Math.max(1, N - 1);
  return { d: mean, se: Math.sqrt(v / N) };
}
const fmtD = (p: { d: number; se: number }) => `${p.d >= 0 ? '+' : '−'}${pct(Math.abs(p.d))} ± ${pct(p.se)}`;

for (const family of a.families!.split(',') as TaskFamily[]) {
  const dir = `${a.data}/${DATA[family]}`;
  const train = readDataset(readFileSync(`${dir}/train.jsonl`, 'utf8'), family, `${dir}/train.jsonl`);
  const test = readDataset(readFileSync(`${dir}/test.jsonl`, 'utf8'), family, `${dir}/test.jsonl`, { labels: train.spec.labels.length ? train.spec.labels : undefined, choices: train.spec.choices });
  const trainEx = train.examples.slice(0, n('n-train')), testEx = test.examples.slice(0, n('n-test'));
  const counts = new Map<string, number>();
  for (const e of testEx) counts.set(String(e.label), (counts.get(String(e.label)) ?? 0) + 1);
  const majority = Math.max(...counts.values()) / testEx.length;
  const res: Record<string, Arm> = {};
  for (const init of ['pretrained', 'scratch'] as const) {
    for (const lmCoef of lmCoefs) {
      const tArm = Date.now();
      const model = new GPT(backend, cfg).init(seed + 100); // the same random init for both arms
      if (init === 'pretrained') model.writeParams(pretrainedParams);
      const ft = await prepareFinetune(model, tokenizer, train.spec, { seed });
      const enc = encodeAll(ft, trainEx), encTest = encodeAll(ft, testEx);
      const r = await finetune(ft, enc, {
        steps: n('ft-steps'), batchSize: n('batch'), lr: n('ft-lr'), lmCoef, seed,
        onStep: (e) => { if (e.step % 100 === 0) log(`  ${family} ${init} λ=${lmCoef} step ${e.step}: L2 ${e.l2.toFixed(3)}${e.l1 !== null ? `, L1 ${e.l1.toFixed(3)}` : ''}`); },
      });
      const probs = await predictEncoded(ft, encTest, { batchSize: 16 });
      const labels = encTest.map((e) => e.label), classes = family === 'multiple-choice' ? Array.from({ length: train.spec.choices! }, (_, i) => `choice ${i}`) : train.spec.labels;
      const m = computeMetrics(probs, labels, classes, family !== 'multiple-choice');
      const preds = probs.map((p) => argmax(p));
      const last = r.history.slice(-Math.min(20, r.history.length));
      const arm: Arm = {
        family, init, lmCoef, accuracy: m.accuracy, se: Math.sqrt((m.accuracy * (1 - m.accuracy)) / m.n), f1: train.spec.labels.length === 2 ? m.f1 : undefined,
        testLoss: m.loss, trainL2: last.reduce((s, e) => s + e.l2, 0) / last.length,
        predicted: classes.map((_, k) => preds.filter((p) => p === k).length), correct: preds.map((p, i) => (p === labels[i] ? 1 : 0)), seconds: secs(tArm),
      };
      arms.push(arm);
      res[`${init}/${lmCoef}`] = arm;
      release(backend, model, ft);
      log(`${family} ${init} λ=${lmCoef}: test accuracy ${pct(arm.accuracy)}% ± ${pct(arm.se)}${arm.f1 !== undefined ? ` (F1 ${arm.f1.toFixed(2)})` : ''}, test loss ${arm.testLoss.toFixed(3)}, train L2 (last 20 steps) ${arm.trainL2.toFixed(3)}, predicted ${classes.map((c, k) => `${c} ${arm.predicted[k]}`).join(' / ')}; ${arm.seconds.toFixed(0)} s`);
    }
  }
  const cell = (x: Arm) => `${pct(x.accuracy)} ± ${pct(x.se)}${x.f1 !== undefined ? ` (F1 ${x.f1.toFixed(2)})` : ''}`;
  rows.push(`| ${family} (${DATA[family]}) | ${trainEx.length} / ${testEx.length} | ${pct(majority)} | ${['pretrained', 'scratch'].flatMap((i) => lmCoefs.map((l) => cell(res[`${i}/${l}`]))).join(' | ')} |`);
  deltaRows.push(`| ${family} | ${lmCoefs.map((l) => fmtD(paired(res[`pretrained/${l}`], res[`scratch/${l}`]))).join(' | ')}${lmCoefs.length > 1 ? ` | ${fmtD(paired(res[`pretrained/${lmCoefs[0]}`], res[`pretrained/${lmCoefs[1]}`]))} | ${fmtD(paired(res[`scratch/${lmCoefs[0]}`], res[`scratch/${lmCoefs[1]}`]))}` : ''} |`);
}
const minutes = secs(t0) / 60;
console.log(`\nseed ${seed}; ${cfg.layout} ${cfg.nLayer}×${cfg.nEmbd}, context ${cfg.nCtx}, vocabulary ${tokenizer.vocabSize}, dropout ${pdrop}; pretraining ${n('pretrain-steps')} steps × ${preBatch} × ${cfg.nCtx} tokens of ${corpus.name}, lr ${n('lr')} (validation L1 ${valLoss?.toFixed(3)}, ${(preSec / 60).toFixed(1)} min); fine-tuning ${n('ft-steps')} steps × batch ${n('batch')}, lr ${n('ft-lr')}; ${minutes.toFixed(1)} min on ${backend.name}\n`);
console.log('Test accuracy % ± its standard error (F1 of the positive class for binary tasks):\n');
const armCols = ['pretrained', 'scratch'].flatMap((i) => lmCoefs.map((l) => `${i} λ=${l}`));
console.log(`| family (data) | train / test | majority % | ${armCols.join(' | ')} |`);
console.log(`|---|---|---|${armCols.map(() => '---|').join('')}`);
for (const r of rows) console.log(r);
console.log('\nPaired differences in accuracy points on the same test examples, ± standard error:\n');
const dCols = [...lmCoefs.map((l) => `pretrained − scratch, λ=${l}`), ...(lmCoefs.length > 1 ? [`λ=${lmCoefs[0]} − λ=${lmCoefs[1]}, pretrained`, `λ=${lmCoefs[0]} − λ=${lmCoefs[1]}, scratch`] : [])];
console.log(`| family | ${dCols.join(' | ')} |`);
console.log(`|---|${dCols.map(() => '---|').join('')}`);
for (const r of deltaRows) console.log(r);
if (a.json) {
  writeFileSync(a.json, JSON.stringify({ argv: process.argv.slice(2), seed, cfg, valLoss, pretrainSeconds: preSec, minutes, backend: backend.name, arms }, null, 1));
  log(`wrote ${a.json}`);
}
(backend as { dispose?: () => void }).dispose?.(); // the WASM worker pool would keep Bun alive
process.exit(0);
