// Load test (a benchmark, not a test): gptedge's HTTP app on Node (@hono/node-server, single-threaded
// WASM backend) on 127.0.0.1, driven by wrk (apt-get install wrk) at 50 connections for 60 s on
// POST /v1/completions. Reports requests, p50/p90/p99 latency, status counts (only 429/503 are
// intentional) and the server's resident memory before and after.
//
//   node scripts/build-edge.mjs && node bench/load-test.mjs [--model runs/demo] [--duration 60] [--connections 50]
//     [--max-tokens 16] [--max-concurrent 4] [--max-queue 64]
//
// The server runs in a child process (this file with --serve) so its memory is measured alone.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({
  options: {
    serve: { type: 'boolean', default: false }, model: { type: 'string', default: 'runs/demo' }, duration: { type: 'string', default: '60' },
    connections: { type: 'string', default: '50' }, 'max-tokens': { type: 'string', default: '16' }, 'max-concurrent': { type: 'string', default: '4' },
    'max-queue': { type: 'string', default: '64' }, port: { type: 'string', default: '0' },
  },
});

const rssMiB = (pid) /* /proc VmRSS */ => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

if (a.serve) {
  // ---- the server ----
  const g = await import('../dist/edge/gptedge.js');
  const { serve } = await import('@hono/node-server');
  const be = await g.createWasmBackend({ load: (v) => readFile(new URL(`../wasm/build/gptedge-${v}.wasm`, import.meta.url)), threads: 1 });
  const fs = new g.MemoryFileSystem();
  let dir = a.model;
  if (existsSync(join(dir, 'latest.json'))) dir = join(dir, JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')).checkpoint);
  for (const f of ['config.json', 'tokenizer.json', 'model.safetensors']) await fs.writeFile(`m/${f}`, new Uint8Array(readFileSync(join(dir, f))));
  const { model, tokenizer } = await g.loadModel(fs, 'm', be);
  const app = g.createApp({ models: new Map([['demo', { model, tokenizer }]]), limits: { maxConcurrent: Number(a['max-concurrent']), maxQueue: Number(a['max-queue']) } });
  app.get('/__memory', (c) => {
    globalThis.gc?.();
    const m = process.memoryUsage();
    return c.json({ rssMiB: m.rss / 2 ** 20, heapUsedMiB: m.heapUsed / 2 ** 20, externalMiB: m.external / 2 ** 20, arrayBuffersMiB: m.arrayBuffers / 2 ** 20 });
  });
  // server-side time per completion (handler entry to a complete JSON response): separates time spent in
  // gptedge (gate wait + generation) from time spent before the request reaches it (sockets, scheduling)
  const inServer = [];
  const fetchTimed = async (req, env) => {
    const t0 = performance.now();
    const res = await app.fetch(req, env);
    if (new URL(req.url).pathname === '/v1/completions') inServer.push(performance.now() - t0);
    return res;
  };
  app.get('/__server-latency', (c) => {
    const s = [...inServer].sort((x, y) => x - y), q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
    return c.json({ n: s.length, p50: q(0.5), p99: q(0.99), max: s[s.length - 1] });
  });
  serve({ fetch: fetchTimed, hostname: '127.0.0.1', port: Number(a.port) }, (info) => console.log(`LISTENING ${info.port} ${be.name} ${dir} ${model.cfg.nLayer}x${model.cfg.nEmbd} ctx ${model.cfg.nCtx} vocab ${model.cfg.vocabSize}`));
} else {
  // ---- the driver ----
  if (spawnSync('wrk', ['--version']).error) throw new Error('wrk is not installed (apt-get install wrk)');
  if (!existsSync('dist/edge/gptedge.js')) throw new Error('dist/edge/gptedge.js is missing: run `node scripts/build-edge.mjs` first');
  if (!existsSync(a.model)) throw new Error(`${a.model}: no model folder (npm start pretrains runs/demo; or pass --model DIR)`);
  const server = spawn(process.execPath, ['--expose-gc', new URL(import.meta.url).pathname, '--serve', '--model', a.model, '--max-concurrent', a['max-concurrent'], '--max-queue', a['max-queue']], { stdio: ['ignore', 'pipe', 'inherit'] });
  const tmp = mkdtempSync(join(tmpdir(), 'gptedge-load-'));
  try {
    const line = await new Promise((ok, fail) => {
      let buf = '';
      server.stdout.on('data', (d) => {
        buf += d;
        const m = /LISTENING .*/.exec(buf);
        if (m) ok(m[0]);
      });
      server.once('exit', (c) => fail(new Error(`server exited ${c}`)));
      setTimeout(() => fail(new Error('server did not start in 30 s')), 30_000);
    });
    const port = line.split(' ')[1];
    const url = `http://127.0.0.1:${port}`;
    const body = JSON.stringify({ model: 'demo', prompt: 'It was', max_tokens: Number(a['max-tokens']), temperature: 0.8 });
    // warm-up: a few sequential requests
    for (let i = 0; i < 20; i++) await (await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).json();
    const memBefore = await (await fetch(`${url}/__memory`)).json();
    const rssBefore = rssMiB(server.pid);
    const lua = join(tmp, 'post.lua');
    writeFileSync(lua, `
wrk.method = "POST"
wrk.body = ${JSON.stringify(body)}
wrk.headers["Content-Type"] = "application/json"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) counts = {} end
function response(status, headers, body) counts[status] = (counts[status] or 0) + 1 end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for s, n in pairs(c) do total[s] = (total[s] or 0) + n end
  end
  for s, n in pairs(total) do io.write(string.format("STATUS %d %d\\n", s, n)) end
  for _, p in ipairs({50, 90, 99, 99.9}) do io.write(string.format("PCT %g %.1f\\n", p, latency:percentile(p) / 1000)) end
  io.write(string.format("SUMMARY requests=%d errors_connect=%d read=%d write=%d timeout=%d status=%d\\n", summary.requests, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout, summary.errors.status))
end
`);
    const args = ['-t2', `-c${a.connections}`, `-d${a.duration}s`, '--timeout', '30s', '-s', lua, `${url}/v1/completions`];
    console.log(`server: ${line.slice(10)}\nwrk ${args.join(' ')}\nbody: ${body}`);
    const w = spawnSync('wrk', args, { encoding: 'utf8' });
    const out = w.stdout + w.stderr;
    await new Promise((r) => setTimeout(r, 2000));
    const rssAfter = rssMiB(server.pid);
    const memAfter = await (await fetch(`${url}/__memory`)).json();
    const r1 = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, +v.toFixed(1)]));
    const health = await (await fetch(`${url}/health`)).json();
    const serverLatencyMs = r1(await (await fetch(`${url}/__server-latency`)).json());
    const status = Object.fromEntries([...out.matchAll(/STATUS (\d+) (\d+)/g)].map((m) => [m[1], Number(m[2])]));
    const pct = Object.fromEntries([...out.matchAll(/PCT ([\d.]+) ([\d.]+)/g)].map((m) => [`p${m[1]}`, Number(m[2])]));
    const summary = /SUMMARY (.*)/.exec(out)?.[1];
    const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)?.[1];
    const unexpected = Object.entries(status).filter(([s]) => !['200', '429', '503'].includes(s));
    console.log(out.split('\n').filter((l) => !/^(STATUS|PCT|SUMMARY)/.test(l)).join('\n'));
    console.log(JSON.stringify({ requestsPerSec: Number(rps), latencyMs: pct, serverLatencyMs, status, wrk: summary, serverRssMiB: { before: +rssBefore.toFixed(1), after: +rssAfter.toFixed(1) }, serverMemoryAfterGC: { before: r1(memBefore), after: r1(memAfter) }, server: health }, null, 1));
    if (unexpected.length || /errors_connect=[1-9]|read=[1-9]|write=[1-9]|timeout=[1-9]/.test(summary ?? '')) {
      console.error(`FAIL: unexpected statuses or socket errors: ${JSON.stringify(unexpected)} ${summary}`);
      process.exitCode = 1;
    }
  } finally {
    server.kill('SIGTERM');
    rmSync(tmp, { recursive: true, force: true });
  }
}
