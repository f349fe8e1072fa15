// The conformance suite and the PyTorch fixtures on the WASM backend: the SIMD128 build, the relaxed-SIMD (FMA) build, and a
// 2-thread pool over shared memory. Runs under vitest (Node), `bun test` and `deno test -A`.
import { createNodeWasmBackend, enableRelaxedSimd } from '../../adapters/node/wasm.ts';
import type { WasmBackend } from '../../src/backend/wasm/index.ts';
import { conformance } from '../lib/conformance.ts';
import { runtime, test } from '../lib/harness.ts';
import { fixtureSuite } from '../lib/torch-fixtures.ts';
import { batchedDecodeSuite } from '../lib/batched-decode.ts';
import { accumulationSuite } from '../lib/accumulation.ts';

const relaxed = enableRelaxedSimd();

// single-threaded backends are cheap (the module compiles once): a fresh one per comparison
conformance('wasm-simd128', () => createNodeWasmBackend({ simd: 'simd128', threads: 1 }));
if (relaxed) conformance('wasm-relaxed', () => createNodeWasmBackend({ simd: 'relaxed', threads: 1 }));
else test(`conformance[wasm-relaxed] skipped: WebAssembly.validate rejects relaxed SIMD on ${runtime}`, () => {});

// the threaded one is shared, so its workers start once; the last test stops them
let mt: Promise<WasmBackend> | null = null;
conformance('wasm-x2', () => (mt ??= createNodeWasmBackend({ threads: 2 })));
// every backend reproduces PyTorch (logits, loss, every gradient, 10 AdamW steps), both layouts
fixtureSuite('wasm-relaxed-or-simd128', () => createNodeWasmBackend({ threads: 1 }));
fixtureSuite('wasm-x2', () => (mt ??= createNodeWasmBackend({ threads: 2 })));
// a sequence decoded in a batch gets the logits it gets alone (continuous batching)
batchedDecodeSuite('wasm-relaxed-or-simd128', () => createNodeWasmBackend({ threads: 1 }));
batchedDecodeSuite('wasm-x2', () => (mt ??= createNodeWasmBackend({ threads: 2 })));
// micro-batches give the full batch's step, recomputation the same gradients (1 and 2 threads)
accumulationSuite('wasm-relaxed-or-simd128', () => createNodeWasmBackend({ threads: 1 }));
accumulationSuite('wasm-x2', () => (mt ??= createNodeWasmBackend({ threads: 2 })));
test('wasm-x2: stop the worker pool', async () => {
  if (mt) (await mt).dispose();
});
