// Experiment (not a test): does a small GPT break through the unigram plateau within a demo's budget,
// post-LN (GPT-1) vs pre-LN (GPT-2)? Trains both on Moby Dick with a BPE vocabulary learned on the fly
// and prints validation loss against the unigram entropy of the validation split.
//
//   node_modules/.bin/bun bench/layout-compare.ts [--vocab 512] [--layers 4] [--embd 32] [--ctx 16]
//        [--batch 64] [--steps 300] [--lr 3e-3] [--threads 1] [--layouts post-ln,pre-ln]
import { parseArgs } from 'node:util';
import { createNodeWasmBackend } from '../adapters/node/wasm.ts';
import { loadCorpus } from '../adapters/cli/corpora.ts';
import { GPT } from '../src/model/gpt.ts';
import { preset, type LayerNormLayout } from '../src/model/config.ts';
import { TokenDataset, unigramEntropy } from '../src/train/data.ts';
import { pretrain } from '../src/train/pretrain.ts';
import { trainTokenizerFromTexts } from '../src/tokenizer/train.ts';

const { values: a } = parseArgs({
  options: {
    vocab: { type: 'string', default: '512' },
    layers: { type: 'string', default: '4' },
    embd: { type: 'string', default: '32' },
    ctx: { type: 'string', default: '16' },
    batch: { type: 'string', default: '64' },
    steps: { type: 'string', default: '300' },
    lr: { type: 'string', default: '3e-3' },
    threads: { type: 'string', default: '1' },
    layouts: { type: 'string', default: 'post-ln,pre-ln' },
  },
});
const n = (k: keyof typeof a) => Number(a[k]);
const corpus = await loadCorpus(['moby-dick']);
const tok = trainTokenizerFromTexts(corpus.texts, n('vocab') - 260);
const ids: number[] = [];
for (const t of corpus.texts) ids.push(...tok.encode(t));
const T = n('ctx'),
  C = n('embd');
const data = new TokenDataset(Int32Array.from(ids), T, 0.05);
console.log(`vocab ${tok.vocabSize}, ${ids.length} tokens; unigram entropy of the validation split ${unigramEntropy(data.val).toFixed(3)}`);
const be = await createNodeWasmBackend({ threads: n('threads') });
for (const layout of a.layouts!.split(',') as LayerNormLayout[]) {
  const cfg = preset('demo', { vocabSize: tok.vocabSize, nCtx: T, nEmbd: C, nInner: 4 * C, nLayer: n('layers'), nHead: 4, layout });
  const model = new GPT(be, cfg).init(1);
  const evals: string[] = [];
  const t0 = Date.now();
  await pretrain(model, data, {
    steps: n('steps'),
    batchSize: n('batch'),
    lr: n('lr'),
    warmupSteps: Math.ceil(n('steps') / 30),
    seed: 1,
    evalEvery: Math.ceil(n('steps') / 6),
    evalBatches: 8,
    onEval: (e) => evals.push(`${e.step}:${e.valLoss.toFixed(3)}`),
  });
  console.log(`${layout}: validation loss by step ${evals.join(' ')}  (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
}
be.dispose?.();
process.exit(0);
