// The transfer study of docs/transfer.md, in resumable parts: a part (or a unit of work inside it: one
// fine-tuning run, one checkpoint's zero-shot score) that finished is read from its JSON under
// runs/transfer/ and not rerun.
//
//   node_modules/.bin/bun scripts/transfer/run.ts [--parts corpus,pretrain,...] [--inits scratch,pretrained] [--ns 100,300] [--threads N]
//
// Parts, in order: corpus, pretrain, data, leaks, baselines, zeroshot, search, curves, layers, lambda, budget, report
// (docs/transfer.md says what
// each does and what it cost). Parts that do not need the pretrained model (data, baselines, and
// search, curves and lambda with --inits scratch) can run in a second process while pretraining runs.
import { parseArgs } from 'node:util';
import { createBackend } from '../../adapters/node/backend.ts';
import { log, loadTokenizer, modelConfig } from './common.ts';
import { corpusPart, pretrainPart } from './pretrain.ts';
import { dataPart } from './data.ts';
import { baselinesPart } from './baselines.ts';
import { leaksPart } from './leaks.ts';
import { zeroShotPart } from './zeroshot.ts';
import { reportPart } from './report.ts';
import { budgetPart, curvesPart, lambdaPart, layersPart, searchPart, INITS, N_LIST } from './study.ts';

const PARTS = ['corpus', 'pretrain', 'data', 'leaks', 'baselines', 'zeroshot', 'search', 'curves', 'layers', 'lambda', 'budget', 'report'] as const;
const { values: a } = parseArgs({
  options: {
    parts: { type: 'string', default: PARTS.join(',') },
    inits: { type: 'string', default: INITS.join(',') },
    threads: { type: 'string' },
    ns: { type: 'string' },
  },
});
const parts = a.parts!.split(','),
  inits = a.inits!.split(',');
// --ns 100,300: the curves' label counts this process runs (a subset of N_LIST, e.g. the cheap counts first)
const ns = a.ns ? a.ns.split(',').map(Number) : N_LIST;
for (const n of ns) if (!N_LIST.includes(n)) throw new Error(`--ns: ${n} is not one of the study's label counts ${N_LIST.join(', ')}`);
for (const p of parts) if (!(PARTS as readonly string[]).includes(p)) throw new Error(`unknown part "${p}"; parts: ${PARTS.join(', ')}`);
for (const i of inits) if (!(INITS as readonly string[]).includes(i)) throw new Error(`unknown init "${i}"; inits: ${INITS.join(', ')}`);
// the report needs no backend: make one only for parts that train or score
const be = parts.some((p) => !['corpus', 'data', 'leaks', 'baselines', 'report'].includes(p))
  ? await createBackend('wasm', a.threads ? { threads: Number(a.threads) } : {})
  : null;
log(`parts ${parts.join(', ')} (inits ${inits.join(', ')})${be ? ` on ${be.name}` : ''}`);
if (parts.includes('corpus')) await corpusPart();
if (parts.includes('pretrain')) await pretrainPart(be!);
if (parts.includes('data')) await dataPart();
if (parts.includes('leaks')) await leaksPart();
if (parts.includes('baselines')) await baselinesPart();
if (parts.includes('zeroshot')) await zeroShotPart(be!);
if (parts.includes('search')) await searchPart(be!, inits);
if (parts.includes('curves')) await curvesPart(be!, inits, ns);
if (parts.includes('layers')) await layersPart(be!, modelConfig(loadTokenizer().vocabSize).nLayer);
if (parts.includes('lambda')) await lambdaPart(be!, inits);
if (parts.includes('budget')) await budgetPart(be!, inits);
if (parts.includes('report')) await reportPart();
(be as { dispose?: () => void } | null)?.dispose?.();
process.exit(0);
