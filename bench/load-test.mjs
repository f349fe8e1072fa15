// Load test of the serving engine (a benchmark, not a test): streaming completions at 1, 4, 16 and 50
// concurrent clients, "before" (the server as it was at a git commit, default 73110d9: one forward at a
// time, generations interleaved token by token, compute on the HTTP thread) and "after" (this tree:
// continuous batching in an engine worker), on the demo model and on a GPT-1-size model (random weights:
// speed does not depend on them), one run each. Reports per level, client-side and server-side:
// generated tokens/s, time to first token (TTFT) and inter-token latency (ITL) p50/p99, request latency
// p50/p99/max, statuses, and the server's resident memory. A third variant, "after1", is this tree with
// one KV slot (--max-concurrent 1: requests wait at the gate and run one at a time), which separates what
// batching brings from the rest of the change (the worker, the O(V) sampler).
//
//   node bench/load-test.mjs [--models demo,gpt1] [--streams 1,4,16,50] [--duration 20] [--max-tokens 16]
//       [--max-concurrent 16] [--max-queue 64] [--threads 1] [--impls before,after1,after] [--before 73110d9]
//       [--repeat N]   (each level N times, the implementations alternating: medians are less exposed to load drift)
//
// Each (impl, model, streams) gets a fresh server process (this file with --serve), so memory and the
// server-side timings are its own. Server-side times are taken in the HTTP thread by a wrapper around the
// app's fetch: handler entry, each SSE chunk handed to the socket, the end of the stream. Client-side times
// are taken by closed-loop clients (each sends its next request when the previous stream ends) in this
// process. "before" is built from `git archive <commit>` into .cache/ (its own WASM kernels and edge
// bundle); "after" runs this tree's dist/ (node scripts/build.mjs). Needs nothing outside npm.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';

const { values: a } = parseArgs({
  options: {
    serve: { type: 'boolean', default: false },
    impl: { type: 'string', default: 'after' },
    model: { type: 'string' },
    port: { type: 'string', default: '0' },
    models: { type: 'string', default: 'demo,gpt1' },
    streams: { type: 'string', default: '1,4,16,50' },
    duration: { type: 'string', default: '20' },
    'max-tokens': { type: 'string', default: '16' },
    'max-concurrent': { type: 'string', default: '16' },
    'max-queue': { type: 'string', default: '64' },
    threads: { type: 'string', default: '1' },
    impls: { type: 'string', default: 'before,after1,after' },
    before: { type: 'string', default: '73110d9' },
    out: { type: 'string' },
    repeat: { type: 'string', default: '1' },
  },
});

const root = resolve(new URL('..', import.meta.url).pathname);
const cache = join(root, '.cache');
const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const pct = (xs, p) => {
  if (!xs.length) return null;
  const s = [...xs].sort((x, y) => x - y);
  return +s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(1);
};
const summary = (xs) => ({ n: xs.length, p50: pct(xs, 0.5), p99: pct(xs, 0.99), max: xs.length ? +Math.max(...xs).toFixed(1) : null });

if (a.serve) await serve();
else await drive();

// ---- the server process ------------------------------------------------------------------------------
async function serve() {
  const limits = { maxConcurrent: a.impl === 'after1' ? 1 : Number(a['max-concurrent']), maxQueue: Number(a['max-queue']), maxTokens: 4096 };
  const threads = Number(a.threads);
  let app, what;
  if (a.impl === 'before') {
    // as `gptedge serve` ran then: createApp on @hono/node-server, the WASM backend (relaxed SIMD, its worker
    // pool) in the HTTP thread — from that commit's library bundle
    const dir = join(cache, `before-${a.before}`);
    const g = await import(join(dir, 'dist/edge/gptedge.js'));
    setFlagsFromString('--experimental-wasm-relaxed-simd'); // what its adapters/wasm-node.ts did on Node 20
    const spawnWorker = (source) => {
      const w = new Worker(
        source +
          "\nconst { parentPort } = require('node:worker_threads');\ngptedgeWorker((m) => parentPort.postMessage(m), (cb) => parentPort.on('message', cb));\n",
        { eval: true },
      );
      w.unref();
      return {
        post: (m) => w.postMessage(m),
        onMessage: (cb) => void w.on('message', cb),
        onError: (cb) => void w.on('error', cb),
        terminate: () => void w.terminate(),
      };
    };
    const be = await g.createWasmBackend({ load: (v) => readFile(join(dir, `wasm/build/gptedge-${v}.wasm`)), threads, spawnWorker });
    const fs = new g.MemoryFileSystem();
    for (const f of ['config.json', 'tokenizer.json', 'model.safetensors']) await fs.writeFile(`m/${f}`, new Uint8Array(readFileSync(join(a.model, f))));
    const { model, tokenizer } = await g.loadModel(fs, 'm', be);
    app = g.createApp({ models: new Map([['m', { model, tokenizer }]]), limits });
    what = `${a.before} (${be.name}, compute in the HTTP thread)`;
  } else {
    const b = await dist();
    const engine = await b.startEngine(
      { models: [{ id: 'm', dir: a.model }], backend: 'wasm', threads, weights: 'f32', bounds: {}, slots: limits.maxConcurrent },
      { fs: new b.NodeFileSystem(), createBackend: b.createBackend },
      () => undefined,
    );
    app = b.createApp({ engine, limits });
    what = `this tree (${engine.description})`;
  }
  const { serve: listen } = await import('@hono/node-server');
  // server-side timings, in the HTTP thread: handler entry, every SSE chunk with a token, end of stream
  const ttft = [],
    itl = [],
    latency = [];
  const TOKEN = /"finish_reason":null/g;
  const timed = async (req, env) => {
    const t0 = performance.now();
    const res = await app.fetch(req, env);
    if (new URL(req.url).pathname !== '/v1/completions' || !res.body) return res;
    let last = null;
    const dec = new TextDecoder();
    const body = res.body.pipeThrough(
      new TransformStream({
        transform(chunk, ctl) {
          const n = (dec.decode(chunk, { stream: true }).match(TOKEN) ?? []).length;
          const now = performance.now();
          for (let i = 0; i < n; i++) {
            if (last === null) ttft.push(now - t0);
            else itl.push(now - last);
            last = now;
          }
          ctl.enqueue(chunk);
        },
        flush() {
          latency.push(performance.now() - t0);
        },
      }),
    );
    return new Response(body, { status: res.status, headers: res.headers });
  };
  listen(
    {
      fetch: async (req, env) => {
        const p = new URL(req.url).pathname;
        if (p === '/__metrics')
          return Response.json({ ttft: summary(ttft), itl: summary(itl), latency: summary(latency), rssMiB: process.memoryUsage().rss / 2 ** 20 });
        return timed(req, env);
      },
      hostname: '127.0.0.1',
      port: Number(a.port),
    },
    (info) => console.log(`LISTENING ${info.port} ${what}`),
  );
}

// ---- the driver ----------------------------------------------------------------------------------------
function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status})`);
}

/** This tree's compiled modules (node scripts/build.mjs writes dist/: the engine worker sits beside the engine). */
async function dist() {
  const d = (f) => join(root, 'dist', f);
  if (!existsSync(d('adapters/cli/serve-worker.js'))) throw new Error('dist/ is missing or stale: run `node scripts/build.mjs` first');
  return {
    ...(await import(d('adapters/cli/serve-engine.js'))),
    ...(await import(d('adapters/node/backend.js'))),
    ...(await import(d('adapters/node/fs.js'))),
    ...(await import(d('adapters/cli/corpora.js'))),
    ...(await import(d('src/serve/index.js'))),
    ...(await import(d('src/index.js'))),
  };
}

async function prepare(impls, models) {
  mkdirSync(cache, { recursive: true });
  // before: that commit's sources, its WASM kernels and edge bundle
  if (impls.includes('before')) {
    const dir = join(cache, `before-${a.before}`);
    if (!existsSync(join(dir, 'dist/edge/gptedge.js'))) {
      mkdirSync(dir, { recursive: true });
      sh('sh', ['-c', `git -C "${root}" archive ${a.before} | tar -x -C "${dir}"`]);
      if (!existsSync(join(dir, 'node_modules'))) symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
      sh(process.execPath, ['wasm/build.mjs'], { cwd: dir });
      sh(process.execPath, ['scripts/build-edge.mjs'], { cwd: dir });
    }
  }
  // the models: random weights (speed does not depend on them)
  const b = await dist();
  const fs = new b.NodeFileSystem();
  const dirs = {};
  for (const m of models) {
    const dir = join(cache, 'bench-models', m);
    dirs[m] = dir;
    if (existsSync(join(dir, 'model.safetensors'))) continue;
    await fs.mkdir(dir);
    let tokenizerJSON, cfg;
    if (m === 'demo') {
      // the demo preset with its own 1,024-token BPE vocabulary, as `npm start` trains it
      sh(process.execPath, [
        join(root, 'dist/adapters/cli/main.js'),
        'tokenizer',
        'train',
        '--corpus',
        'moby-dick',
        '--merges',
        '764',
        '--out',
        join(dir, 'tokenizer.json'),
      ]);
      tokenizerJSON = readFileSync(join(dir, 'tokenizer.json'), 'utf8');
      cfg = b.preset('demo', { vocabSize: b.GPTTokenizer.fromJSON(tokenizerJSON).vocabSize });
    } else {
      // GPT-1's shape (12 layers, d 768, 12 heads, 3072, context 512, post-LN) with GPT-2's vocabulary of 50,257
      const f = await b.gpt2TokenizerFiles();
      tokenizerJSON = JSON.stringify(b.gpt2TokenizerJSON(f.encoder, f.vocabBpe));
      cfg = b.preset('gpt1', { vocabSize: 50257 });
    }
    const model = new b.GPT(new b.ReferenceBackend(), cfg).init(1);
    await b.writeModelFiles(fs, dir, model, tokenizerJSON);
  }
  return dirs;
}

async function startServer(impl, modelDir) {
  const args = [
    new URL(import.meta.url).pathname,
    '--serve',
    '--impl',
    impl,
    '--model',
    modelDir,
    '--before',
    a.before,
    '--threads',
    a.threads,
    '--max-concurrent',
    a['max-concurrent'],
    '--max-queue',
    a['max-queue'],
  ];
  const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((ok, fail) => {
    let buf = '';
    p.stdout.on('data', (d) => {
      buf += d;
      const m = /LISTENING .*/.exec(buf);
      if (m) ok(m[0]);
    });
    p.once('exit', (c) => fail(new Error(`server exited ${c}`)));
    setTimeout(() => fail(new Error('server did not start in 180 s')), 180_000);
  });
  return { proc: p, url: `http://127.0.0.1:${line.split(' ')[1]}`, what: line.split(' ').slice(2).join(' ') };
}

/** One streaming request; calls onToken(time) per token chunk. Resolves with its status and usage. */
async function streamOnce(url, body, signal, onToken) {
  const res = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal });
  if (res.status !== 200) {
    await res.text();
    return { status: res.status };
  }
  const reader = res.body.getReader(),
    dec = new TextDecoder();
  let buf = '',
    usage = null;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const j = JSON.parse(ev.slice(6));
      if (j.usage) usage = j.usage;
      if (j.choices?.[0]?.finish_reason === null) onToken(performance.now());
    }
  }
  return { status: 200, usage };
}

async function level(url, streams, durationMs, maxTokens) {
  const ttft = [],
    itl = [],
    latency = [],
    statuses = {};
  let tokens = 0,
    seed = 0;
  const tEnd = performance.now() + durationMs,
    ac = new AbortController();
  const body = () => ({
    model: 'm',
    prompt: 'It was the best of times, it was the worst of times',
    max_tokens: maxTokens,
    temperature: 0.8,
    seed: seed++,
    stream: true,
    stream_options: { include_usage: true },
  });
  const t0 = performance.now();
  const client = async () => {
    while (performance.now() < tEnd) {
      const start = performance.now();
      let last = null;
      const r = await streamOnce(url, body(), ac.signal, (t) => {
        if (t <= tEnd) tokens++;
        if (last === null) ttft.push(t - start);
        else itl.push(t - last);
        last = t;
      }).catch((err) => ({ status: err.name === 'AbortError' ? 'aborted' : String(err.message) }));
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      if (r.status === 200) latency.push(performance.now() - start);
      else if (r.status === 429) await new Promise((res) => setTimeout(res, 100));
    }
  };
  const timer = setTimeout(() => ac.abort(), durationMs);
  await Promise.all(Array.from({ length: streams }, client));
  clearTimeout(timer);
  const wall = (Math.min(performance.now(), tEnd) - t0) / 1000;
  return { tokensPerSec: +(tokens / wall).toFixed(1), completed: latency.length, statuses, ttft: summary(ttft), itl: summary(itl), latency: summary(latency) };
}

async function drive() {
  const impls = a.impls.split(','),
    models = a.models.split(','),
    streamsList = a.streams.split(',').map(Number);
  const durationMs = Number(a.duration) * 1000,
    maxTokens = Number(a['max-tokens']);
  await dist(); // built?
  const dirs = await prepare(impls, models);
  const env = { cpu: cpus()[0]?.model, cores: availableParallelism(), node: process.version, loadBefore: loadavg().map((x) => +x.toFixed(2)) };
  console.log(`machine: ${env.cpu}, ${env.cores} cores, Node ${env.node}; load average before: ${env.loadBefore.join(' ')}`);
  console.log(
    `each level: ${a.duration} s of closed-loop streaming clients, max_tokens ${maxTokens}, temperature 0.8; server --max-concurrent ${a['max-concurrent']} --max-queue ${a['max-queue']}, WASM threads ${a.threads}`,
  );
  const rows = [];
  for (const model of models) {
    for (const streams of streamsList) {
      for (let rep = 0; rep < Number(a.repeat); rep++)
        for (const impl of impls) {
          const s = await startServer(impl, dirs[model]);
          try {
            // warm-up: compiled kernels, allocated activations and caches
            for (let i = 0; i < 2; i++) await streamOnce(s.url, { model: 'm', prompt: 'It was', max_tokens: 4, stream: true }, undefined, () => {});
            const rss0 = rssMiB(s.proc.pid);
            const c = await level(s.url, streams, durationMs, maxTokens);
            await new Promise((r) => setTimeout(r, 500));
            const srv = await (await fetch(`${s.url}/__metrics`)).json();
            const row = {
              model,
              impl,
              streams,
              rep,
              load: loadavg()[0],
              server: s.what,
              client: c,
              serverSide: { ttft: srv.ttft, itl: srv.itl, latency: srv.latency },
              rssMiB: { before: +rss0.toFixed(1), after: +rssMiB(s.proc.pid).toFixed(1) },
            };
            rows.push(row);
            console.log(
              `${model} ${impl.padEnd(6)} ${String(streams).padStart(2)} streams: ${c.tokensPerSec} tok/s, TTFT p50/p99 ${c.ttft.p50}/${c.ttft.p99} ms (server ${srv.ttft.p50}/${srv.ttft.p99}), ITL p50/p99 ${c.itl.p50}/${c.itl.p99} ms (server ${srv.itl.p50}/${srv.itl.p99}), latency p50/p99/max ${c.latency.p50}/${c.latency.p99}/${c.latency.max} ms (server ${srv.latency.p50}/${srv.latency.p99}/${srv.latency.max}), ${c.completed} done, ${JSON.stringify(c.statuses)}`,
            );
          } finally {
            s.proc.kill('SIGTERM');
            await new Promise((r) => s.proc.once('exit', r));
          }
        }
    }
  }
  if (Number(a.repeat) > 1) {
    console.log('\nmedians over the repeats (tokens/s; client TTFT p99; client latency p99 | server latency p99):');
    const med = (xs) => [...xs].sort((x, y) => x - y)[Math.floor((xs.length - 1) / 2)];
    for (const model of models)
      for (const streams of streamsList)
        for (const impl of impls) {
          const rs = rows.filter((r) => r.model === model && r.streams === streams && r.impl === impl);
          console.log(
            `${model} ${impl.padEnd(6)} ${String(streams).padStart(2)} streams: ${med(rs.map((r) => r.client.tokensPerSec))} tok/s (${rs.map((r) => r.client.tokensPerSec).join(', ')}); TTFT p99 ${med(rs.map((r) => r.client.ttft.p99 ?? NaN))} ms; latency p99 ${med(rs.map((r) => r.client.latency.p99 ?? NaN))} | ${med(rs.map((r) => r.serverSide.latency.p99 ?? NaN))} ms`,
          );
        }
  }
  env.loadAfter = loadavg().map((x) => +x.toFixed(2));
  console.log(`load average after: ${env.loadAfter.join(' ')}`);
  const out = a.out ?? join(cache, `load-test-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(out, JSON.stringify({ env, args: a, rows }, null, 1));
  console.log(`results: ${out}`);
}
