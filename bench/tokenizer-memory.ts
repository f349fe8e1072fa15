// What a loaded tokenizer holds: GPT-2's tokenizer.json (50,257 tokens, 50,000 merges) loaded from its text,
// the V8 heap used before, right after and after a full GC (what the tokenizer retains), the heap V8
// committed meanwhile, and the loading time — what a 128 MB Worker isolate pays for its tokenizer.
//   node --expose-gc bench/run-node.mjs tokenizer-memory
// A measurement, never a timed test.
import { getHeapStatistics } from 'node:v8';
import { gpt2TokenizerFiles } from '../adapters/cli/corpora.ts';
import { gpt2TokenizerJSON } from '../src/tokenizer/gpt2.ts';
import { GPTTokenizer } from '../src/tokenizer/tokenizer.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('tokenizer-memory: run node with --expose-gc');
const mib = (x: number) => (x / 2 ** 20).toFixed(1);
const f = await gpt2TokenizerFiles();
const text = JSON.stringify(gpt2TokenizerJSON(f.encoder, f.vocabBpe));
gc();
const h0 = getHeapStatistics();
const t0 = performance.now();
const tok = GPTTokenizer.fromJSON(text);
const ms = performance.now() - t0;
const h1 = getHeapStatistics();
gc();
const h2 = getHeapStatistics();
const ids = tok.encode('Call me Ishmael. Some years ago—never mind how long precisely—');
console.log(
  `GPT-2 tokenizer.json (${mib(text.length)} MiB of text): loaded in ${ms.toFixed(0)} ms; V8 heap used ${mib(h0.used_heap_size)} MiB before, ` +
    `${mib(h1.used_heap_size)} right after, ${mib(h2.used_heap_size)} after a GC (retained ${mib(h2.used_heap_size - h0.used_heap_size)} MiB); ` +
    `heap committed ${mib(h0.total_heap_size)} -> ${mib(h1.total_heap_size)} MiB; ${ids.length} ids`,
);
