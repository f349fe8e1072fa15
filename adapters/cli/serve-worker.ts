// The engine worker of `gptedge serve` (Node: worker_threads; Deno, Bun: a Web Worker): the models,
// their schedulers and the training jobs run here, so the thread that serves HTTP only parses requests
// and streams answers, and /health answers at once even while a training step runs.
//
// Protocol on top of src/serve/rpc.ts: the server posts {t:'init', config}; the worker builds the
// engine (adapters/cli/serve-engine.ts) and answers {t:'hello', hello} or {t:'fatal', message}; its log
// lines come as {t:'log', line}.
import { parentPort } from 'node:worker_threads';
import { createBackend } from '../node/backend.ts';
import { NodeFileSystem } from '../node/fs.ts';
import { buildLocalEngine, type EngineConfig } from './serve-engine.ts';
import { hostEngine, type EngineHello, type Port } from '../../src/serve/rpc.ts';

declare const self: { postMessage(m: unknown): void; addEventListener(t: 'message', cb: (e: { data: unknown }) => void): void };

const port: Port = parentPort
  ? { post: (m) => parentPort!.postMessage(m), onMessage: (cb) => void parentPort!.on('message', cb) }
  : { post: (m) => self.postMessage(m), onMessage: (cb) => self.addEventListener('message', (e) => cb(e.data)) };

let started = false;
port.onMessage(async (raw) => {
  const m = raw as { t: string; config?: EngineConfig };
  if (m.t !== 'init' || started) return;
  started = true;
  try {
    const engine = await buildLocalEngine(m.config!, { fs: new NodeFileSystem(), createBackend }, (line) => port.post({ t: 'log', line }));
    hostEngine(port, engine, (cb) => engine.onModelsChange(cb));
    const hello: EngineHello = { defaultModel: engine.defaultModel, models: engine.models(), jobs: engine.jobs !== null };
    port.post({ t: 'hello', hello, description: engine.description });
    // a lost WebGPU device ends this engine: the server starts a new worker (src/serve/supervisor.ts)
    void engine.failed?.then((reason) => port.post({ t: 'fatal', message: reason }));
  } catch (err) {
    port.post({ t: 'fatal', message: err instanceof Error ? err.message : String(err) });
  }
});
