// What lower-precision weights cost in quality, measured: validation perplexity of a trained model on
// the validation split it was trained beside (the same corpus, tokenizer and split as `gptedge pretrain`),
// with its matrices stored as f32, f16, int8 and int4; the logits' error against f32 on the same
// windows; greedy generations compared token by token.
//  - reference backend (the oracle: f16 / int8 / int4 computed exactly with the stored values — f16
//    exists only on WebGPU, whose f16 storage holds the same halves as the reference): f32, f16, int8, int4
//  - WASM backend (the integer kernels; activations quantized per row and block: 7-bit codes against int8,
//    8-bit integers against int4): f32, int8, int4
//   bun scripts/quant-quality.ts --model runs/demo [--corpus moby-dick] [--val-fraction 0.05]
//       [--ref-windows N] [--threads 2] [--prompt "Call me"] [--tokens 40] [--write docs/quantization.md]
// --ref-windows bounds the (slow) reference rows to the first N validation windows (default all); WASM
// rows use every window. --write replaces the section "quality:<model>" of the file.
import { parseArgs } from 'node:util';
import { cpus, loadavg } from 'node:os';
import { NodeFileSystem } from '../adapters/node/fs.ts';
import { loadCorpus } from '../adapters/cli/corpora.ts';
import { createNodeWasmBackend } from '../adapters/node/wasm.ts';
import { ReferenceBackend } from '../src/backend/reference/reference.ts';
import type { Backend } from '../src/backend/backend.ts';
import { loadModel } from '../src/model/load.ts';
import { GPT, type WeightsKind } from '../src/model/gpt.ts';
import { TokenDataset } from '../src/train/data.ts';
import { tokenizeCached } from '../src/train/token-cache.ts';
import { generate } from '../src/infer/generate.ts';
import { writeSection } from '../bench/common.ts';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string' },
    corpus: { type: 'string', multiple: true },
    'val-fraction': { type: 'string', default: '0.05' },
    'ref-windows': { type: 'string' },
    threads: { type: 'string', default: '2' },
    prompt: { type: 'string', multiple: true },
    tokens: { type: 'string', default: '40' },
    write: { type: 'string' },
    batch: { type: 'string', default: '8' },
  },
});
if (!a.model) throw new Error('--model DIR is required (a folder written by gptedge pretrain)');
const fs = new NodeFileSystem(),
  t0 = Date.now(),
  load0 = loadavg();
const ref = new ReferenceBackend();
const { model: base, tokenizer, checkpoint } = await loadModel(fs, a.model, ref, { weights: 'f32' });
const cfg = base.cfg,
  params = await base.readParams();
const corpus = await loadCorpus(a.corpus ?? ['moby-dick']);
const tokens = await tokenizeCached(fs, '.cache/gptedge/tokens', corpus.texts, tokenizer);
const T = Number((checkpoint.trainState?.options as Record<string, number> | undefined)?.seqLen ?? cfg.nCtx);
const data = new TokenDataset(tokens, T, Number(a['val-fraction']));
const B = Number(a.batch),
  batches = [...data.valBatches(B, Infinity)];
const windows = batches.reduce((n, b) => n + b.B, 0);
const refWindows = Math.min(windows, Number(a['ref-windows'] ?? windows));
const log = (s: string) => console.error(`[${((Date.now() - t0) / 1000).toFixed(0)} s] ${s}`);
log(
  `${checkpoint.dir}: ${cfg.nLayer} layers, d ${cfg.nEmbd}, vocab ${cfg.vocabSize}, ${cfg.layout}; validation ${data.val.length} tokens = ${windows} windows of ${T}`,
);

interface Row {
  backend: string;
  weights: WeightsKind;
  windows: number;
  loss: number;
  maxErr: number;
  meanErr: number;
  maxLogit: number;
  greedy: number[][];
}
const rows: Row[] = [];
const prompts = a.prompt ?? ['Call me Ishmael.', 'The whale'];
const nTok = Number(a.tokens);

async function measure(be: Backend, name: string, kinds: WeightsKind[], nWindows: number): Promise<void> {
  const models = kinds.map((k) => {
    const m = new GPT(be, cfg, { weights: k });
    m.writeParams(params);
    return m;
  });
  const acc = kinds.map(() => ({ nll: 0, n: 0, maxErr: 0, sumErr: 0, cnt: 0, maxLogit: 0 }));
  let done = 0;
  for (const b of batches) {
    if (done >= nWindows) break;
    const nb = Math.min(b.B, nWindows - done),
      BT = nb * T;
    const ids = b.inputs.subarray(0, BT),
      tg = b.targets.subarray(0, BT);
    let f32Logits: Float32Array | null = null;
    for (let i = 0; i < kinds.length; i++) {
      const m = models[i];
      const pass = m.forward(ids, nb, T);
      const loss = pass.loss(tg, new Float32Array(BT).fill(1));
      acc[i].nll += (await be.read(loss))[0];
      acc[i].n += BT;
      const lg = await pass.allLogits();
      if (i === 0) f32Logits = lg;
      for (let j = 0; j < lg.length; j++) {
        const e = Math.abs(lg[j] - f32Logits![j]);
        acc[i].maxErr = Math.max(acc[i].maxErr, e);
        acc[i].sumErr += e;
        acc[i].maxLogit = Math.max(acc[i].maxLogit, Math.abs(f32Logits![j]));
      }
      acc[i].cnt += lg.length;
    }
    done += nb;
    if (done % (8 * B) === 0) log(`${name}: ${done}/${nWindows} windows`);
  }
  for (let i = 0; i < kinds.length; i++) {
    const greedy: number[][] = [];
    for (const p of prompts) greedy.push((await generate(models[i], tokenizer, p, { maxTokens: nTok, temperature: 0 })).tokens);
    rows.push({
      backend: name,
      weights: kinds[i],
      windows: done,
      loss: acc[i].nll / acc[i].n,
      maxErr: acc[i].maxErr,
      meanErr: acc[i].sumErr / acc[i].cnt,
      maxLogit: acc[i].maxLogit,
      greedy,
    });
    log(`${name} ${kinds[i]}: loss ${(acc[i].nll / acc[i].n).toFixed(5)}, perplexity ${Math.exp(acc[i].nll / acc[i].n).toFixed(3)}`);
    models[i].free();
  }
}

const wasm = await createNodeWasmBackend({ threads: Number(a.threads) });
await measure(wasm, wasm.name, ['f32', 'int8', 'int4'], windows);
wasm.dispose();
await measure(ref, 'reference', ['f32', 'f16', 'int8', 'int4'], refWindows);

// ---- report -------------------------------------------------------------------------------------------
const agree = (x: number[], y: number[]) => {
  let i = 0;
  while (i < x.length && i < y.length && x[i] === y[i]) i++;
  return i;
};
const lines = [
  "| backend | weights | windows × T | val loss (nats) | perplexity | vs f32 | max \\|Δ logit\\| | mean \\|Δ logit\\| | greedy: tokens equal to f32's before the first difference |",
  '|---|---|---:|---:|---:|---:|---:|---:|---|',
];
for (const r of rows) {
  const f = rows.find((x) => x.backend === r.backend && x.weights === 'f32')!;
  const ppl = Math.exp(r.loss),
    rel = (ppl / Math.exp(f.loss) - 1) * 100;
  lines.push(
    `| ${r.backend} | ${r.weights} | ${r.windows} × ${T} | ${r.loss.toFixed(4)} | ${ppl.toFixed(3)} | ${r.weights === 'f32' ? '—' : `${rel >= 0 ? '+' : ''}${rel.toFixed(2)}%`} | ${r.weights === 'f32' ? '—' : r.maxErr.toExponential(2)} | ${r.weights === 'f32' ? '—' : r.meanErr.toExponential(2)} | ` +
      `${r.weights === 'f32' ? `(max \\|logit\\| ${r.maxLogit.toFixed(1)})` : r.greedy.map((g, i) => `${agree(g, f.greedy[i])}/${nTok}`).join(', ')} |`,
  );
}
const texts = ['', `Greedy continuations (${nTok} tokens) on ${rows[0].backend}:`, ''];
for (let i = 0; i < prompts.length; i++) {
  for (const r of rows.filter((x) => x.backend === rows[0].backend))
    texts.push(`- ${r.weights}: ${JSON.stringify(prompts[i] + tokenizer.decode(r.greedy[i]))}`);
}
const cmd = `bun scripts/quant-quality.ts ${process.argv.slice(2).join(' ')}`;
const meta = `\`${cmd}\` — ${new Date().toISOString().slice(0, 10)}, ${cpus()[0]?.model} ×${cpus().length}, load average ${load0.map((x) => x.toFixed(1)).join(' ')} at the start; ${((Date.now() - t0) / 1000).toFixed(0)} s`;
const body = [
  `### ${checkpoint.dir}: ${cfg.nLayer} layers, d ${cfg.nEmbd}, ${cfg.nHead} heads, vocab ${cfg.vocabSize}, context ${cfg.nCtx}, ${cfg.layout} (${corpus.name}, validation ${data.val.length} tokens)`,
  '',
  meta,
  '',
  ...lines,
  ...texts,
].join('\n');
console.log(body);
if (a.write) {
  writeSection(a.write, `quality:${a.model}`, body);
  console.error(`wrote ${a.write}`);
}
process.exit(0);
