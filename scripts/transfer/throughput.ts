// Sizing the study's model: training tokens/s of candidate shapes on the WASM backend, a few steps each
// on synthetic tokens (vocabulary 4096, dropout 0.1). Note the machine's load beside any figure.
//   node_modules/.bin/bun scripts/transfer/throughput.ts 4x128x128x16 6x256x128x16   # layers x width x context x batch
//   TH=1 ... (worker threads; default: the core count)
import { createBackend } from '../../adapters/node/backend.ts';
import { GPT } from '../../src/model/gpt.ts';
import { preset } from '../../src/model/config.ts';
import { paramCount } from '../../src/model/params.ts';
import { TokenDataset } from '../../src/train/data.ts';
import { pretrain } from '../../src/train/pretrain.ts';

const be = await createBackend('wasm', process.env.TH ? { threads: Number(process.env.TH) } : {});
const toks = new Int32Array(200000).map((_, i) => (i * 7919) % 4000);
for (const spec of process.argv.slice(2)) {
  const [L, C, T, B] = spec.split('x').map(Number);
  const cfg = preset('demo', { vocabSize: 4096, nLayer: L, nEmbd: C, nHead: C / 64, nInner: 4 * C, nCtx: T, embdPdrop: 0.1, attnPdrop: 0.1, residPdrop: 0.1 });
  const m = new GPT(be, cfg).init(1);
  let from = 0;
  await pretrain(m, new TokenDataset(toks, T, 0.05), {
    steps: 6,
    batchSize: B,
    lr: 1e-3,
    onStep: (e) => {
      if (e.step === 2) from = Date.now();
    },
  });
  console.log(`${spec}: ${paramCount(cfg)} parameters, ${((4 * B * T) / ((Date.now() - from) / 1000)).toFixed(0)} tokens/s (steps 3-6)`);
  m.free();
}
(be as { dispose?: () => void }).dispose?.();
process.exit(0);
