// Scoring with a trained model: how likely is each ending? (Node, the installed package)
//   node score.mjs runs/demo "It was"
import { load } from 'gptedge/node';

const [dir = 'runs/demo', prompt = 'It was'] = process.argv.slice(2);
const gpt = await load(dir);
console.log(`${dir}: ${gpt.config.nLayer} layers, d ${gpt.config.nEmbd}, on ${gpt.backendReason}`);
for await (const c of gpt.stream(prompt, { maxTokens: 40, temperature: 0.8, topK: 40, seed: 1 })) process.stdout.write(c.text);
process.stdout.write('\n');
const { scores, probabilities } = await gpt.score(prompt, [' the', ' a', ' whale']);
scores.forEach((s, i) =>
  console.log(`log P(${JSON.stringify(s.text)} | ${JSON.stringify(prompt)}) = ${s.logprob.toFixed(3)}  (p among the three ${probabilities[i].toFixed(3)})`),
);
gpt.dispose();
