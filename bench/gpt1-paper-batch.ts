// GPT-1 (116.5M parameters, vocabulary 40,478, context 512) pretrained at the paper's batch, 64 × 512
// tokens, on the WASM backend inside its 4 GiB: micro-batches of --micro sequences accumulate into one
// AdamW step (src/train/accumulate.ts). Prints the memory estimate made before the first step, the WASM
// memory the steps actually grew to, tokens/s per step, and the losses (they must be finite and fall).
// The text is Moby-Dick's UTF-8 bytes as token ids: real text without training a 40k-merge BPE first
// (the embedding keeps GPT-1's 40,478 rows; only 256 of them are ever read).
//   node bench/run-node.mjs gpt1-paper-batch [--steps 2] [--micro 6] [--threads 2] [--write docs/training-memory.md]
// A benchmark, never a test: one step is 32,768 tokens (minutes on 2 cores).
import { loadCorpus } from '../adapters/cli/corpora.ts';
import { preset } from '../src/model/config.ts';
import { GPT } from '../src/model/gpt.ts';
import { countParams } from '../src/model/params.ts';
import { TokenDataset } from '../src/train/data.ts';
import { pretrain, type StepEvent } from '../src/train/pretrain.ts';
import { describe } from '../src/train/accumulate.ts';
import { argv, benchWasmBackend, median, opt, runMeta, writeSection } from './common.ts';
import { loadavg } from 'node:os';

const steps = opt('steps', 2),
  micro = opt('micro', 6),
  threads = opt('threads', 2),
  B = 64,
  T = 512;
const writeTo = argv.includes('--write') ? argv[argv.indexOf('--write') + 1] : null;
const load0 = loadavg();

const bytes = new TextEncoder().encode((await loadCorpus(['moby-dick'])).texts.join('\n\n'));
const tokens = Int32Array.from(bytes);
const be = await benchWasmBackend({ threads });
const cfg = preset('gpt1');
const model = new GPT(be, cfg).init(1);
const lines: string[] = [];
const say = (s: string) => (console.log(s), lines.push(s));
say(
  `GPT-1: ${(countParams(cfg) / 1e6).toFixed(1)}M parameters, ${cfg.nLayer} × ${cfg.nEmbd}, vocabulary ${cfg.vocabSize}, context ${cfg.nCtx}; backend ${be.name}; ` +
    `batch ${B} × ${T} = ${B * T} tokens a step as ${Math.ceil(B / micro)} micro-batches of ≤ ${micro}; Moby-Dick's ${tokens.length} UTF-8 bytes as tokens`,
);
const events: StepEvent[] = [];
let plan = '';
await pretrain(model, new TokenDataset(tokens, T, 0.02), {
  steps,
  batchSize: B,
  microBatch: micro,
  lr: 2.5e-4,
  warmupSteps: 1,
  evalEvery: 0,
  checkpointEvery: 0,
  seed: 1,
  onMemory: (p) => (plan = `about ${(p.total / 2 ** 20).toFixed(0)} MiB (${describe(p)})`),
  onStep: (e) => {
    events.push(e);
    say(
      `step ${e.step}/${e.steps}: loss ${e.loss.toFixed(4)}, ${e.tokensPerSec.toFixed(1)} tokens/s, ${e.elapsedSec.toFixed(0)} s; WASM memory ${(be.memoryBytes / 2 ** 20).toFixed(0)} MiB`,
    );
  },
});
const mem = be.memoryBytes / 2 ** 20;
say(`memory estimate before the first step: ${plan}`);
say(
  `WASM linear memory after the steps: ${mem.toFixed(0)} MiB (the limit ${(be.memoryLimit / 2 ** 20).toFixed(0)} MiB); process RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
);
const rates = events.slice(1).map((e) => e.tokensPerSec);
say(
  rates.length
    ? `tokens/s after the first step (median of ${rates.length}): ${median(rates).toFixed(1)}`
    : `tokens/s of the one step: ${events[0]?.tokensPerSec.toFixed(1)}`,
);

if (writeTo) {
  writeSection(writeTo, 'gpt1-run', [runMeta(`node bench/run-node.mjs gpt1-paper-batch ${argv.join(' ')}`, load0), '', '```', ...lines, '```'].join('\n'));
  console.log(`wrote ${writeTo}`);
}
be.dispose();
process.exit(0);
