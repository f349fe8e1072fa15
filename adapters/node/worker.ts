// The WASM worker pool's threads as worker_threads (Node; Deno runs them too, and unlike its Web Workers
// they can be unref'd, so a finished Deno process exits).
import { Worker } from 'node:worker_threads';
import type { SpawnWorker } from '../../src/backend/wasm/index.ts';

/** worker_threads, running the pool's worker source as an eval'd CommonJS script */
export const nodeWorkerSpawner: SpawnWorker = (source) => {
  const boot =
    source +
    "\nconst { parentPort } = require('node:worker_threads');\ngptedgeWorker((m) => parentPort.postMessage(m), (cb) => parentPort.on('message', cb));\n";
  const w = new Worker(boot, { eval: true });
  return {
    post: (m) => w.postMessage(m),
    onMessage: (cb) => void w.on('message', cb),
    onError: (cb) => void w.on('error', cb),
    terminate: () => void w.terminate(),
    // after the listeners: adding one refs the worker's port again
    unref: () => void w.unref(),
  };
};
