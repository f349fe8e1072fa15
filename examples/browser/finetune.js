// Fine-tunes a tiny GPT in the page with the installed package's browser entry: WebGPU when navigator.gpu
// gives a real adapter (or ?backend=webgpu), else the WASM SIMD backend — with a worker pool when the page
// is cross-origin isolated. Bundle it (the kernels go beside the bundle, as build/):
//   npx esbuild finetune.js --bundle --format=esm --outfile=dist/finetune.js
//   cp -r node_modules/gptedge/dist/wasm/build dist/build && cp finetune.html dist/
import * as g from 'gptedge/browser';

const $ = (id) => document.getElementById(id);
const want = new URLSearchParams(location.search).get('backend') ?? 'auto';

async function backend() {
  const { backend, reason } = await g.chooseBackend(want);
  console.log(`gptedge: ${reason}`);
  return backend;
}

// a character tokenizer (a-z, space, punctuation) and a toy task: positive vs negative words
const CHARS = ' abcdefghijklmnopqrstuvwxyz.,!?';
function tokenizer() {
  const vocab = Object.fromEntries([...CHARS].map((c, i) => [c, i]));
  return g.GPTTokenizer.fromJSON({
    version: '1.0',
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    added_tokens: [{ id: CHARS.length, content: '<|endoftext|>', special: true, single_word: false, lstrip: false, rstrip: false, normalized: false }],
    model: {
      type: 'BPE',
      vocab,
      merges: [],
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
    },
  });
}
const POS = ['good', 'great', 'fine', 'nice', 'happy', 'superb', 'lovely'],
  NEG = ['bad', 'awful', 'sad', 'poor', 'dull', 'grim', 'nasty'];
function examples(n, seed) {
  let s = seed;
  const r = (k) => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) % k;
  return Array.from({ length: n }, (_, i) => {
    const pos = i % 2 === 0,
      w = pos ? POS[r(POS.length)] : NEG[r(NEG.length)];
    return { text: ['it was ', 'so ', 'a ', ''][r(4)] + w + ['.', '!', ''][r(3)], label: pos ? 'pos' : 'neg' };
  });
}

function plot(losses) {
  const max = Math.max(...losses),
    W = 600,
    H = 240;
  $('loss').setAttribute('points', losses.map((l, i) => `${(i / Math.max(1, losses.length - 1)) * (W - 10) + 5},${H - 5 - (l / max) * (H - 10)}`).join(' '));
}

export async function main() {
  const be = await backend();
  $('backend').textContent = be.name;
  const tok = tokenizer();
  const model = new g.GPT(be, g.preset('tiny', { vocabSize: tok.vocabSize, nCtx: 24 })).init(1);
  const spec = { family: 'classification', labels: ['neg', 'pos'] };
  const ft = await g.prepareFinetune(model, tok, spec, { seed: 1 });
  const train = g.encodeAll(ft, examples(64, 7));
  const losses = [];
  const steps = Number(new URLSearchParams(location.search).get('steps') ?? 40);
  await g.finetune(ft, train, {
    steps,
    batchSize: 16,
    lr: 1e-2,
    lmCoef: 0.5,
    seed: 1,
    onStep: (e) => {
      losses.push(e.l3);
      plot(losses);
      $('status').textContent = `step ${e.step}/${e.steps}: L3 ${e.l3.toFixed(4)} (L2 ${e.l2.toFixed(4)})`;
    },
  });
  const held = examples(16, 99);
  const m = await g.evaluateEncoded(ft, g.encodeAll(ft, held)); // (the root export 'evaluate' is pretraining's)
  const preds = [];
  for (const t of ['so great!', 'it was awful.']) preds.push(`${t} → ${(await g.classify(ft, t)).label}`);
  $('preds').textContent = `held-out accuracy ${(100 * m.accuracy).toFixed(1)}%\n${preds.join('\n')}`;
  return { backend: be.name, losses, accuracy: m.accuracy };
}

window.__result = main().catch((e) => ({ error: String(e?.stack || e) }));
