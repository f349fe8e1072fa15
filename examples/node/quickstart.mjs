// The README's quick start (a test runs this file from the installed package: test/package/).
//   node quickstart.mjs corpus.txt
import { readFileSync } from 'node:fs';
import { create, load } from 'gptedge/node';

const text = readFileSync(process.argv[2] ?? 'corpus.txt', 'utf8'); // any plain text you have

// a small GPT and a byte-level BPE vocabulary learned from the text, on the fastest backend here
const gpt = await create({ preset: 'demo', tokenizer: { train: text, vocabSize: 512 } });
console.log(gpt.backendReason, `${(gpt.parameters / 1e6).toFixed(2)}M parameters`);

await gpt.pretrain(text, {
  steps: 60,
  batchSize: 8,
  lr: 3e-3,
  warmupSteps: 6,
  onStep: (e) => e.step % 20 === 0 && console.log(`step ${e.step} loss ${e.loss.toFixed(3)}`),
});
const { text: sample } = await gpt.generate('It was', { maxTokens: 30, temperature: 0.8, topK: 40, seed: 1 });
console.log(`It was${sample}`);

await gpt.save('runs/quickstart'); // config.json, model.safetensors, tokenizer.json: Hugging Face's layout
const again = await load('runs/quickstart');
console.log(await again.score('It was the best of', ' times')); // log P(" times" | "It was the best of")
gpt.dispose();
again.dispose();
