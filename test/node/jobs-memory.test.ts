// Issue 13's leak, as the attacker ran it: 50 fine-tuning jobs in a row and 10 cancelled ones on the
// WASM backend (whose linear memory is not garbage collected). At 73110d9 each job's copy of the model
// (weights, gradients, Adam moments: 16 bytes per parameter, 1.7 MB here: 85 MB over 50 jobs) stayed
// allocated for good. Now the bytes the WASM heap holds and its linear memory return exactly to what they
// were, and the process' resident memory stays within a stated margin. Node only (RSS); results go to a
// real folder so they are not in RSS.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { join } from 'node:path';
import { NodeFileSystem } from '../../adapters/node/fs.ts';
import { createNodeWasmBackend } from '../../adapters/node/wasm.ts';
import { JobManager } from '../../src/jobs/index.ts';
import { GPT } from '../../src/model/gpt.ts';
import { preset } from '../../src/model/config.ts';
import { createApp, ModelRegistry } from '../../src/serve/index.ts';
import { GPTTokenizer } from '../../src/tokenizer/tokenizer.ts';
import { assert, assertEqual, runtime, test } from '../lib/harness.ts';
import { tinyTokenizerJSON } from '../lib/helpers.ts';

/**
 * Resident memory may grow by this much over 60 jobs: allocator and JIT noise, measured +16 MiB alone and
 * +41 MiB after other test files in the same vitest worker; the leak was 85 MB of WASM memory, touched.
 */
const RSS_MARGIN_MB = 48;

/** RSS after a full garbage collection (gc exposed at run time: vitest's workers are not started with --expose-gc) */
function rssAfterGC(): number {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  return process.memoryUsage().rss;
}

if (runtime === 'node') {
  test('jobs: 50 fine-tuning jobs in a row and 10 cancelled ones leave the WASM heap as it was, RSS within the margin', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gptedge-jobs-mem-'));
    const be = await createNodeWasmBackend({ threads: 1 });
    try {
      const model = new GPT(be, preset('tiny', { nEmbd: 64, nLayer: 2, nHead: 4, nInner: 256, nCtx: 32 })).init(1);
      const models = new ModelRegistry(new Map([['base', { model, tokenizer: GPTTokenizer.fromJSON(tinyTokenizerJSON()) }]]), { maxLoaded: 1 });
      const jobs = await JobManager.open({ fs: new NodeFileSystem(), dir, models, backend: be, bounds: { maxQueued: 4 } });
      const app = createApp({ models, jobs });
      const data = Array.from({ length: 8 }, (_, i) => JSON.stringify({ text: (i % 2 ? 'B' : 'A').repeat(3 + i), label: i % 2 ? 'neg' : 'pos' })).join('\n');
      const post = async (path: string, body: unknown) => {
        const r = await app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        assertEqual(r.status, 200, `${path}: ${await r.clone().text()}`);
        return (await r.json()) as { id: string; status: string };
      };
      const job = () =>
        post('/v1/fine_tuning/jobs', { model: 'base', training_data: data, task: 'classification', hyperparameters: { n_epochs: 1, batch_size: 4 } });
      for (let i = 0; i < 2; i++) await job(), await jobs.drain(); // warm-up: the heap reaches its working size
      const heap0 = be.bytesInUse,
        rss0 = rssAfterGC(),
        mem0 = (be as unknown as { memory: WebAssembly.Memory }).memory.buffer.byteLength;
      for (let i = 0; i < 50; i++) {
        await job();
        await jobs.drain();
      }
      for (let i = 0; i < 10; i++) {
        const j = await post('/v1/fine_tuning/jobs', {
          model: 'base',
          training_data: data,
          task: 'classification',
          hyperparameters: { n_epochs: 100, batch_size: 2 },
        });
        while (!jobs.record(j.id)?.events.some((e) => e.type === 'metrics')) await new Promise((r) => setTimeout(r, 2));
        assertEqual((await post(`/v1/fine_tuning/jobs/${j.id}/cancel`, {})).status, 'cancelled');
        await jobs.drain();
      }
      const list = (await (await app.request('/v1/fine_tuning/jobs')).json()) as { data: { status: string }[] };
      assertEqual(list.data.filter((j) => j.status === 'succeeded').length, 52);
      const rss1 = rssAfterGC(),
        grew = (rss1 - rss0) / 2 ** 20;
      console.log(
        `jobs-memory: WASM heap in use ${heap0} -> ${be.bytesInUse} bytes; RSS after GC ${(rss0 / 2 ** 20).toFixed(1)} -> ${(rss1 / 2 ** 20).toFixed(1)} MiB; JS heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(1)} MiB; linear memory ${mem0} -> ${(be as unknown as { memory: WebAssembly.Memory }).memory.buffer.byteLength}`,
      );
      assertEqual(be.bytesInUse, heap0, `WASM heap bytes in use after 60 jobs (before: ${heap0})`);
      assertEqual((be as unknown as { memory: WebAssembly.Memory }).memory.buffer.byteLength, mem0, 'the WASM linear memory did not grow');
      assert(grew < RSS_MARGIN_MB, `resident memory grew by ${grew.toFixed(1)} MiB over 60 jobs (margin ${RSS_MARGIN_MB} MiB)`);
    } finally {
      be.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
}
