// The serving engine of `gptedge serve`, built from a serializable config: the backend, the model
// folders, the model registry and the job manager (src/serve/local-engine.ts). The same function
// builds it in this thread or inside the engine worker (adapters/serve-worker.ts), which startEngine
// starts by default: worker_threads on Node, a Web Worker on Deno and Bun.
import type { WeightsKind } from '../../src/model/gpt.ts';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker as NodeWorker } from 'node:worker_threads';
import { EngineFailedError, RemoteEngine, type EngineHello, type Port } from '../../src/serve/rpc.ts';
import { SupervisedEngine, type FailingEngine } from '../../src/serve/supervisor.ts';
import type { Backend } from '../../src/backend/backend.ts';
import { JobManager, type JobBounds } from '../../src/jobs/index.ts';
import { LocalEngine } from '../../src/serve/local-engine.ts';
import { loadServedModel, ModelRegistry, type ServedModel } from '../../src/serve/models.ts';
import type { Engine } from '../../src/serve/engine.ts';
import type { FileSystem } from '../../src/io/fs.ts';

export interface EngineConfig {
  models: { id: string; dir: string }[];
  backend: string;
  /** WASM worker threads (default: every core) */
  threads?: number;
  /** how the models store their matrices; undefined: as each folder stores them */
  weights?: WeightsKind;
  jobsDir?: string;
  bounds: Partial<JobBounds>;
  /** job results kept loaded */
  maxLoaded?: number;
  /** sequences each model decodes together (the gate's maxConcurrent: an admitted request never waits for a slot) */
  slots: number;
  /** prompt tokens a joining request feeds per batched step */
  prefillChunk?: number;
  /** KV-cache positions per slot (default: each model's context window) */
  kvTokens?: number;
}

export interface EngineDeps {
  fs: FileSystem;
  createBackend: (kind: string, opts?: { threads?: number }) => Promise<Backend>;
}

/** A quarter of the machine's memory: what one training job may take by default. */
export function defaultJobMemory(): number {
  return Math.floor(totalmem() / 4);
}

export async function buildLocalEngine(config: EngineConfig, deps: EngineDeps, log: (line: string) => void): Promise<LocalEngine & { description: string }> {
  const backend = await deps.createBackend(config.backend, { threads: config.threads });
  const models = new Map<string, ServedModel>();
  for (const { id, dir } of config.models) {
    models.set(id, await loadServedModel(deps.fs, dir, backend, { weights: config.weights }));
    log(`model ${id}: ${dir}`);
  }
  const registry = new ModelRegistry(models, { backend, maxLoaded: config.maxLoaded });
  const jobs = config.jobsDir ? await JobManager.open({ fs: deps.fs, dir: config.jobsDir, models: registry, backend, bounds: config.bounds }) : null;
  const engine = new LocalEngine({
    models: registry,
    jobs,
    slots: config.slots,
    prefillChunk: config.prefillChunk,
    slotTokens: config.kvTokens,
    stopJobs: async () => void (await jobs?.stop()),
  });
  return Object.assign(engine, { description: `backend ${backend.name}` });
}

/**
 * The engine in a worker (default) or in this thread (`inline`: the HTTP thread also computes), supervised:
 * when it fails — its WebGPU device lost, its worker dead — a new one is built the same way (a new device,
 * the models reloaded, interrupted jobs resumed) and serves the next requests (src/serve/supervisor.ts).
 */
export async function startEngine(
  config: EngineConfig,
  deps: EngineDeps,
  log: (line: string) => void,
  o: { inline?: boolean } = {},
): Promise<Engine & { description: string }> {
  let description = '';
  const supervised = await SupervisedEngine.start(
    async () => {
      const e = o.inline ? await buildLocalEngine(config, deps, log) : await startWorkerEngine(config, log);
      description ||= `${e.description}, engine in ${o.inline ? 'the HTTP thread' : 'a worker'}`;
      return e;
    },
    { log },
  );
  return Object.assign(supervised, { description });
}

/** One engine in a new worker; `failed` resolves when the worker dies or reports its engine failed. */
async function startWorkerEngine(config: EngineConfig, log: (line: string) => void): Promise<FailingEngine & { description: string }> {
  const w = await spawnEngineWorker();
  let fail!: (reason: string) => void;
  const failed = new Promise<string>((r) => (fail = r));
  const hello = await new Promise<{ hello: EngineHello; description: string }>((ok, refuse) => {
    let up = false;
    w.port.onMessage((raw) => {
      const m = raw as { t: string; line?: string; message?: string; hello?: EngineHello; description?: string };
      if (m.t === 'log') log(m.line!);
      else if (m.t === 'hello') {
        up = true;
        ok({ hello: m.hello!, description: m.description! });
      } else if (m.t === 'fatal') (up ? fail : (x: string) => refuse(new Error(x)))(m.message!);
    });
    w.onError((err) => (up ? fail(`the engine worker failed: ${err.message}`) : refuse(err)));
    w.port.post({ t: 'init', config });
  }).catch((err) => {
    w.terminate();
    throw err;
  });
  const engine = new RemoteEngine(w.port, hello.hello);
  void failed.then((reason) => engine.failAll(new EngineFailedError(reason)));
  const close = engine.close.bind(engine);
  return Object.assign(engine, {
    failed,
    description: hello.description,
    close: async () => {
      // a worker that died answers nothing: do not wait for it
      await Promise.race([close().catch(() => undefined), failed, new Promise((r) => setTimeout(r, 5000))]);
      w.terminate();
    },
  });
}

interface EngineWorker {
  port: Port;
  onError(cb: (err: Error) => void): void;
  terminate(): void;
}

const rt = globalThis as unknown as { Deno?: unknown; Bun?: unknown; Worker?: new (url: string, o: { type: 'module' }) => WebWorker };
interface WebWorker {
  postMessage(m: unknown): void;
  addEventListener(t: 'message' | 'error', cb: (e: { data?: unknown; message?: string }) => void): void;
  terminate(): void;
}

async function spawnEngineWorker(): Promise<EngineWorker> {
  const here = new URL(import.meta.url);
  if ((rt.Deno || rt.Bun) && rt.Worker) {
    // Deno and Bun run the TypeScript source (or the bundle beside a bundled CLI) as a module worker
    const w = new rt.Worker(new URL(here.pathname.endsWith('.ts') ? './serve-worker.ts' : './serve-worker.js', here).href, { type: 'module' });
    return {
      port: { post: (m) => w.postMessage(m), onMessage: (cb) => w.addEventListener('message', (e) => cb(e.data)) },
      onError: (cb) => w.addEventListener('error', (e) => cb(new Error(e.message ?? 'worker error'))),
      terminate: () => w.terminate(),
    };
  }
  const w = new NodeWorker(await nodeWorkerScript(here));
  let terminated = false;
  return {
    port: { post: (m) => w.postMessage(m), onMessage: (cb) => void w.on('message', cb) },
    onError: (cb) => {
      w.on('error', cb);
      w.on('exit', (code) => !terminated && cb(new Error(`exited with code ${code}`)));
    },
    terminate: () => {
      terminated = true;
      void w.terminate();
    },
  };
}

/**
 * The worker's script for Node: dist/adapters/cli/serve-worker.js beside this module's compiled form. Node
 * cannot start a worker on TypeScript, so from the sources (tests) the worker is bundled with esbuild
 * (a devDependency) into .cache/; wasm/kernels.ts keeps its own URL there, so the kernels are still found.
 */
async function nodeWorkerScript(here: URL): Promise<URL> {
  if (!here.pathname.endsWith('.ts')) return new URL('./serve-worker.js', here);
  const out = new URL('../../.cache/serve-worker.mjs', here);
  if (!builtWorker) {
    builtWorker = (async () => {
      const { build } = await import('esbuild');
      mkdirSync(fileURLToPath(new URL('.', out)), { recursive: true });
      const kernelURLs = {
        name: 'kernel-urls',
        setup(b: { onLoad(o: { filter: RegExp }, cb: (a: { path: string }) => { contents: string; loader: 'ts' }): void }) {
          b.onLoad({ filter: /[\\/]wasm[\\/]kernels\.ts$/ }, (a) => ({
            contents: readFileSync(a.path, 'utf8').replaceAll('import.meta.url', JSON.stringify(pathToFileURL(a.path).href)),
            loader: 'ts',
          }));
        },
      };
      await build({
        entryPoints: [fileURLToPath(new URL('./serve-worker.ts', here))],
        outfile: fileURLToPath(out),
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        packages: 'external',
        logLevel: 'warning',
        plugins: [kernelURLs],
      });
      if (!existsSync(out)) throw new Error(`esbuild did not write ${out.pathname}`);
    })();
  }
  await builtWorker;
  return out;
}
let builtWorker: Promise<void> | null = null;
