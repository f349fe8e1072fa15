// gptedge from a plain Node script (Node 20+, no TypeScript loader): the edge library bundle
// (dist/edge/gptedge.js, built by `node scripts/build-edge.mjs`) on the WASM backend.
//   node examples/node/complete.mjs runs/demo "It was"
import { readFile, readdir } from 'node:fs/promises';
import * as g from '../../dist/edge/gptedge.js';

const [dir = 'runs/demo', prompt = 'It was'] = process.argv.slice(2);
// the core reads files through a FileSystem; this one is just enough for loading a model folder
const fs = {
  readFile: async (p) => new Uint8Array(await readFile(p)),
  exists: (p) => readFile(p).then(() => true, (e) => e.code === 'EISDIR'),
  readdir: (p) => readdir(p),
  writeFile: async () => { throw new Error('read-only'); }, rename: async () => {}, mkdir: async () => {}, remove: async () => {},
};
const backend = await g.createWasmBackend({ load: (v) => readFile(new URL(`../../dist/edge/gptedge-${v}.wasm`, import.meta.url)), threads: 1 });
const { model, tokenizer, checkpoint } = await g.loadModel(fs, dir, backend);
console.log(`${checkpoint.dir}: ${model.cfg.nLayer} layers, d ${model.cfg.nEmbd}, on ${backend.name}`);
process.stdout.write(prompt);
for await (const c of g.generateStream(model, tokenizer, prompt, { maxTokens: 40, temperature: 0.8, topK: 40, seed: 1 })) process.stdout.write(c.text);
process.stdout.write('\n');
// how likely is each ending?
const ids = tokenizer.encode(prompt);
for (const ending of [' the', ' a', ' whale']) {
  const all = [...ids, ...tokenizer.encode(ending)];
  model.transformer(Int32Array.from(all), 1, all.length);
  const logits = await model.allLogits(all.length), V = model.cfg.vocabSize;
  let lp = 0;
  for (let t = ids.length; t < all.length; t++) {
    const row = logits.subarray((t - 1) * V, t * V), m = Math.max(...row);
    lp += row[all[t]] - m - Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
  }
  console.log(`log P(${JSON.stringify(ending)} | ${JSON.stringify(prompt)}) = ${lp.toFixed(3)}`);
}
