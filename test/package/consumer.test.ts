// The package as users get it: `npm pack` (which builds dist/), the tarball installed into an empty
// project, then used there — never from this repository's sources or scripts:
//   (a) a Node 20 ESM script pretrains a tiny model on WASM, generates, saves and reloads it
//   (b) a strict TypeScript consumer type-checks (skipLibCheck false; moduleResolution bundler and nodenext)
//   (c) Deno imports it with an npm: specifier     (d) Bun runs the same script
//   (e) an esbuild browser bundle runs in headless Chromium, on WASM (threads: the page is cross-origin
//       isolated) and on WebGPU
//   (f) a worker bundled from the installed package answers /v1/completions in workerd
//   (g) the installed CLI: `npx gptedge --version`, a 5-step pretrain, generate
// Node only (vitest). Every export of package.json is checked to resolve and to have its types.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { assert, assertEqual, runtime, test } from '../lib/harness.ts';
import { chromiumMissing, openPage } from '../browser/chromium.ts';
import { freePort } from '../lib/net.ts';
import { requireWebGPU } from '../lib/webgpu-util.ts';

const repo = process.cwd();
const bin = (n: string) => join(repo, 'node_modules', '.bin', n);
const CORPUS = 'It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness. '.repeat(120);

/** The consumer's script, the same for Node, Deno and Bun (only the entry differs). */
const script = (entry: string) => `
import { create, load } from '${entry}';
const [corpusFile, out] = ${entry.startsWith('npm:') ? 'Deno.args' : 'process.argv.slice(2)'};
const text = ${entry.startsWith('npm:') ? 'await Deno.readTextFile(corpusFile)' : "(await import('node:fs')).readFileSync(corpusFile, 'utf8')"};
const gpt = await create({ preset: 'tiny', tokenizer: { train: text, vocabSize: 300 }, backend: 'wasm', threads: 2, seed: 3 });
const st = await gpt.pretrain(text, { steps: 5, batchSize: 4, lr: 1e-2, warmupSteps: 1, valFraction: 0 });
const before = (await gpt.generate('It was', { maxTokens: 12, temperature: 0 })).text;
await gpt.save(out);
const back = await load(out, { backend: 'wasm', threads: 1 });
const after = (await back.generate('It was', { maxTokens: 12, temperature: 0 })).text;
const score = await back.score('It was the', ' best');
console.log(JSON.stringify({ backend: gpt.backendReason, losses: st.history.map((h) => h.loss), before, after, logprob: score.logprob }));
// no dispose(): a finished script exits with its 2-thread worker pool still alive (sh() would time out otherwise)
`;

let proj = '';

/**
 * The ```sh blocks of a markdown file that a reader runs in a project that installed gptedge; a block
 * right after `<!-- doctest: skip (why) -->` is not run (the why is required).
 */
function runnableBlocks(file: string): string[][] {
  const md = readFileSync(file, 'utf8');
  const out: string[][] = [];
  for (const m of md.matchAll(/(<!-- doctest: skip \((.+?)\) -->\s*)?```sh\n([\s\S]*?)```/g)) {
    if (m[1]) continue;
    out.push(
      m[3]
        .replace(/\\\n\s*/g, ' ')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#')),
    );
  }
  return out;
}

/** Runs a block's commands in order in `cwd`; `gptedge serve` starts in the background until the block ends. */
async function runBlock(lines: string[], cwd: string): Promise<void> {
  const servers: ReturnType<typeof spawn>[] = [];
  const env = { ...process.env, PATH: `${join(cwd, 'node_modules', '.bin')}:${process.env.PATH}`, NO_COLOR: '1' };
  try {
    for (const line of lines) {
      if (/^(npx )?gptedge serve\b/.test(line)) {
        const port = /--port (\d+)/.exec(line)?.[1] ?? '8787';
        const p = spawn('bash', ['-c', `exec ${line}`], { cwd, env, stdio: 'ignore' });
        servers.push(p);
        const t0 = Date.now();
        while (
          !(await fetch(`http://127.0.0.1:${port}/health`).then(
            (r) => r.ok,
            () => false,
          ))
        ) {
          assert(p.exitCode === null && Date.now() - t0 < 60_000, `${line}: the server did not come up`);
          await new Promise((r) => setTimeout(r, 200));
        }
        continue;
      }
      const t0 = Date.now();
      const r = spawnSync('bash', ['-c', line], { cwd, env, encoding: 'utf8', timeout: 600_000 });
      assertEqual(r.status, 0, `${line}\n${r.stdout}\n${r.stderr}`);
      console.log(`doc command (${((Date.now() - t0) / 1000).toFixed(0)} s): ${line}`);
    }
  } finally {
    for (const p of servers) p.kill('SIGTERM');
  }
}
let tarball = '';
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { exports: Record<string, string | { types: string; default: string }> };

function sh(cmd: string, args: string[], o: { cwd?: string; timeout?: number } = {}): string {
  const r = spawnSync(cmd, args, {
    cwd: o.cwd ?? proj,
    encoding: 'utf8',
    timeout: o.timeout ?? 120_000,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

if (runtime === 'node') {
  test('package: npm pack holds dist/ alone, and installs into an empty project', () => {
    proj = mkdtempSync(join(tmpdir(), 'gptedge-consumer-'));
    const t0 = Date.now();
    // the build that prepack runs prints its progress before npm's JSON
    const out = sh('npm', ['pack', '--json', '--pack-destination', proj], { cwd: repo, timeout: 300_000 });
    const packed = JSON.parse(out.slice(out.search(/^\[/m))) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
    const p = packed[0];
    tarball = join(proj, p.filename);
    const outside = p.files.map((f) => f.path).filter((f) => !/^(dist\/|package\.json$|README\.md$|LICENSE$)/.test(f));
    assertEqual(outside, [], 'the tarball holds dist/, package.json, README and LICENSE only');
    for (const f of ['LICENSE', 'dist/adapters/cli/main.js', 'dist/wasm/build/gptedge-relaxed-mt.wasm', 'dist/wasm/build/gptedge-simd128.wasm'])
      assert(
        p.files.some((x) => x.path === f),
        `${f} is in the tarball`,
      );
    const tPack = Date.now() - t0;
    // Strict: an install script anywhere in what gptedge brings fails the install, as npm (11.19) says a later
    // release will do by default; npm before 11.19 does not know the option and ignores it. From a tarball
    // (not a registry) npm counts gptedge's `prepare` (the clone's build) as one, though it runs it only for a
    // git or folder source; the consumer denies it by the tarball's identity, which leaves every dependency checked.
    writeFileSync(
      join(proj, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module', allowScripts: { [`file:${tarball}`]: false } }),
    );
    const t1 = Date.now();
    sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', '--strict-allow-scripts', tarball], { timeout: 300_000 });
    console.log(
      `package: ${p.filename} ${(p.size / 1024).toFixed(0)} KiB packed, ${(p.unpackedSize / 1024).toFixed(0)} KiB unpacked, ${p.files.length} files; npm pack ${(tPack / 1000).toFixed(1)} s, npm install ${((Date.now() - t1) / 1000).toFixed(1)} s`,
    );
    writeFileSync(join(proj, 'corpus.txt'), CORPUS);
  }, 600_000);

  test('package: every export of package.json resolves, with its types', () => {
    const root = join(proj, 'node_modules', 'gptedge');
    for (const [key, target] of Object.entries(pkg.exports)) {
      if (key.includes('*')) {
        const dir = join(root, (target as string).replace('/*', ''));
        assert(
          readdirSync(dir).some((f) => f.endsWith('.wasm')),
          `${key}: ${dir} holds the kernels`,
        );
        continue;
      }
      if (typeof target === 'string') {
        assert(existsSync(join(root, target)), `${key} -> ${target}`);
        continue;
      }
      assert(existsSync(join(root, target.default)), `${key} -> ${target.default}`);
      assert(existsSync(join(root, target.types)), `${key} types -> ${target.types}`);
    }
    // and Node resolves each JavaScript entry (not workerd's and browser's runtime parts: importing is enough)
    const entries = Object.keys(pkg.exports)
      .filter((k) => !k.includes('*') && k !== './package.json')
      .map((k) => `gptedge${k.slice(1)}`);
    const out = sh(process.execPath, [
      '--input-type=module',
      '-e',
      `for (const e of ${JSON.stringify(entries)}) { const m = await import(e); console.log(e, Object.keys(m).length); }`,
    ]);
    for (const e of entries) assert(new RegExp(`^${e} \\d+$`, 'm').test(out), `${e} imports under Node: ${out}`);
  });

  let nodeResult: { before: string; after: string; logprob: number; losses: number[]; backend: string } | null = null;

  test('package (a): a Node ESM script pretrains on WASM, generates, saves and reloads', () => {
    writeFileSync(join(proj, 'node.mjs'), script('gptedge/node'));
    const r = JSON.parse(sh(process.execPath, ['node.mjs', 'corpus.txt', 'model-node']).trim().split('\n').at(-1)!);
    nodeResult = r;
    assert(/^wasm-/.test(r.backend), `the WASM backend: ${r.backend}`);
    assertEqual(r.losses.length, 5);
    assert(r.losses[4] < r.losses[0], `loss falls: ${r.losses}`);
    assertEqual(r.after, r.before, 'the reloaded model generates what the saved one did');
    assert(Number.isFinite(r.logprob) && r.logprob < 0, `a log-probability: ${r.logprob}`);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) assert(existsSync(join(proj, 'model-node', f)), f);
  }, 120_000);

  test('package (b): a strict TypeScript consumer type-checks, moduleResolution bundler and nodenext', () => {
    writeFileSync(
      join(proj, 'consumer.ts'),
      `
import { create, load, serve, NodeFileSystem, type Pipeline } from 'gptedge/node';
import { createApp, type ServedModel } from 'gptedge/hono';
import { GPT, ReferenceBackend, preset, generate, type GenerateOptions } from 'gptedge';
import { load as loadInBrowser, wasmEnv } from 'gptedge/browser';
import { load as loadInWorker, type KernelModules } from 'gptedge/workerd';
import * as deno from 'gptedge/deno';
import * as bun from 'gptedge/bun';
async function main(): Promise<string> {
  const gpt: Pipeline = await load('model-node', { backend: 'wasm' });
  const opts: GenerateOptions = { maxTokens: 4, temperature: 0 };
  const { text } = await gpt.generate('It was', opts);
  const m = new GPT(new ReferenceBackend(), preset('tiny'));
  const served: ServedModel = { model: gpt.model, tokenizer: gpt.tokenizer };
  const app = createApp({ models: new Map([['m', served]]) });
  wasmEnv.wasmPaths = '/assets/';
  const modules: KernelModules = {};
  void [create, serve, NodeFileSystem, generate, m, app, loadInBrowser, loadInWorker, modules, deno.load, bun.load];
  return text;
}
void main;
`,
    );
    for (const [module, moduleResolution] of [
      ['ESNext', 'bundler'],
      ['NodeNext', 'nodenext'],
    ]) {
      writeFileSync(
        join(proj, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: { strict: true, skipLibCheck: false, noEmit: true, target: 'ES2022', module, moduleResolution, lib: ['ES2022', 'DOM'], types: [] },
          files: ['consumer.ts'],
        }),
      );
      const r = spawnSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: proj, encoding: 'utf8' });
      assertEqual(r.status, 0, `tsc (${moduleResolution}):\n${r.stdout}${r.stderr}`);
    }
  }, 120_000);

  test('package (c): Deno imports it with an npm: specifier', () => {
    writeFileSync(join(proj, 'deno.ts'), script('npm:gptedge/deno'));
    const r = JSON.parse(sh(bin('deno'), ['run', '-A', '--node-modules-dir=manual', 'deno.ts', 'corpus.txt', 'model-deno']).trim().split('\n').at(-1)!);
    assert(/^wasm-/.test(r.backend), r.backend);
    assertEqual(r.after, r.before);
    assertEqual(r.before, nodeResult!.before, 'the same seed trains the same model as under Node');
  }, 120_000);

  test('package (d): Bun runs the same script', () => {
    writeFileSync(join(proj, 'bun.mjs'), script('gptedge/bun'));
    const r = JSON.parse(sh(bin('bun'), ['bun.mjs', 'corpus.txt', 'model-bun']).trim().split('\n').at(-1)!);
    assert(/^wasm-/.test(r.backend), r.backend);
    assertEqual(r.after, r.before);
    assertEqual(r.before, nodeResult!.before, 'the same seed trains the same model as under Node');
  }, 120_000);

  test('package (e): an esbuild browser bundle loads a model over http in Chromium, on WASM with threads and on WebGPU', async () => {
    const missing = await chromiumMissing();
    if (missing) {
      assert(!requireWebGPU, `Chromium is required here: ${missing}`);
      console.warn(`SKIP package (e): ${missing}`);
      return;
    }
    const site = join(proj, 'site');
    mkdirSync(site, { recursive: true });
    writeFileSync(
      join(proj, 'page.js'),
      `
import { load } from 'gptedge/browser';
export async function run(kind) {
  const progress = [];
  const gpt = await load(new URL('/model/', location.href), { backend: kind, onProgress: (e) => progress.push(e.file) });
  try {
    const { text } = await gpt.generate('It was', { maxTokens: 12, temperature: 0 });
    const { logprob } = await gpt.score('It was the', ' best');
    return { backend: gpt.backendReason, threads: gpt.backend.threads ?? null, isolated: crossOriginIsolated, text, logprob, progress: [...new Set(progress)] };
  } finally {
    gpt.dispose();
  }
}`,
    );
    const { build } = await import('esbuild');
    await build({
      entryPoints: [join(proj, 'page.js')],
      absWorkingDir: proj,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      outfile: join(site, 'app.js'),
      logLevel: 'error',
    });
    // esbuild does not follow new URL(..., import.meta.url): the kernels go beside the bundle, as build/
    cpSync(join(proj, 'node_modules/gptedge/dist/wasm/build'), join(site, 'build'), { recursive: true });
    cpSync(join(proj, 'model-node'), join(site, 'model'), { recursive: true });
    writeFileSync(
      join(site, 'index.html'),
      '<!doctype html><meta charset="utf-8"><script type="module">import { run } from "./app.js"; window.run = run;</script>',
    );
    const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
    const server = createServer((req, res) => {
      const path = resolve(site, '.' + decodeURIComponent(new URL(req.url!, 'http://x').pathname).replace(/\/$/, '/index.html'));
      if (!path.startsWith(site) || !existsSync(path) || !statSync(path).isFile()) return void res.writeHead(404).end();
      // cross-origin isolation: SharedArrayBuffer, so the WASM backend can run a worker pool
      res.writeHead(200, {
        'content-type': types[extname(path)] ?? 'application/octet-stream',
        'cross-origin-opener-policy': 'same-origin',
        'cross-origin-embedder-policy': 'require-corp',
        'content-length': statSync(path).size,
      });
      res.end(readFileSync(path));
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const { page, logs, close } = await openPage(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    try {
      await page.waitForFunction('typeof window.run === "function"');
      const wasm = (await page.evaluate('window.run("wasm")')) as {
        backend: string;
        threads: number;
        isolated: boolean;
        text: string;
        logprob: number;
        progress: string[];
      };
      assert(wasm.isolated && wasm.threads >= 2 && /^wasm-.*-x\d/.test(wasm.backend), `WASM with a worker pool: ${JSON.stringify(wasm)} ${logs.join('\n')}`);
      assertEqual(wasm.text, nodeResult!.before, 'the page generates what Node did');
      assert(Math.abs(wasm.logprob - nodeResult!.logprob) < 1e-4, `score ${wasm.logprob} vs Node's ${nodeResult!.logprob}`);
      for (const f of ['config.json', 'model.safetensors', 'tokenizer.json'])
        assert(
          wasm.progress.some((p) => p.endsWith(f)),
          `progress reported ${f}: ${wasm.progress}`,
        );
      const gpu = (await page.evaluate('window.run("webgpu").catch((e) => ({ error: String(e) }))')) as {
        backend?: string;
        text?: string;
        logprob?: number;
        error?: string;
      };
      if (gpu.error && /no WebGPU adapter/.test(gpu.error) && !requireWebGPU) console.warn(`SKIP package (e) WebGPU: ${gpu.error}`);
      else {
        assert(!gpu.error, `WebGPU page: ${gpu.error}\n${logs.join('\n')}`);
        assert(/^webgpu-/.test(gpu.backend!), gpu.backend!);
        assert(Math.abs(gpu.logprob! - nodeResult!.logprob) < 1e-3, `WebGPU score ${gpu.logprob} vs WASM ${nodeResult!.logprob}`);
        console.log(`package (e): ${wasm.backend}; ${gpu.backend}`);
      }
    } finally {
      await close();
      server.close();
    }
  }, 180_000);

  test('package (f): a worker bundled from the installed package answers /v1/completions in workerd', async () => {
    const w = join(proj, 'worker');
    mkdirSync(join(w, 'model'), { recursive: true });
    for (const f of ['config.json', 'tokenizer.json', 'model.safetensors']) cpSync(join(proj, 'model-node', f), join(w, 'model', f));
    writeFileSync(
      join(proj, 'worker.js'),
      `
import { load } from 'gptedge/workerd';
import { createApp } from 'gptedge/hono';
import simd128 from 'gptedge/wasm/gptedge-simd128.wasm';
import relaxed from 'gptedge/wasm/gptedge-relaxed.wasm';
import config from './model/config.json';
import tokenizer from './model/tokenizer.json';
import weights from './model/model.safetensors';
let app;
export default {
  async fetch(req) {
    app ??= load({ files: { 'config.json': config, 'tokenizer.json': tokenizer, 'model.safetensors': weights } }, { modules: { simd128, relaxed } })
      .then((gpt) => createApp({ models: new Map([['tiny', { model: gpt.model, tokenizer: gpt.tokenizer }]]) }));
    return (await app).fetch(req);
  },
};`,
    );
    const { build } = await import('esbuild');
    await build({
      entryPoints: [join(proj, 'worker.js')],
      absWorkingDir: proj,
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      target: 'es2022',
      mainFields: ['module', 'main'],
      conditions: ['workerd', 'worker', 'browser'],
      external: ['gptedge/wasm/*', './model/*'],
      outfile: join(w, 'worker.js'),
      logLevel: 'error',
    });
    // capnp embeds files below the config's folder: the installed kernels are copied there
    cpSync(join(proj, 'node_modules/gptedge/dist/wasm/build'), join(w, 'kernels'), { recursive: true });
    writeFileSync(
      join(w, 'config.capnp'),
      `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = ( services = [ (name = "main", worker = .w) ], sockets = [ (name = "http", address = "127.0.0.1:0", http = (), service = "main") ] );
const w :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "gptedge/wasm/gptedge-simd128.wasm", wasm = embed "kernels/gptedge-simd128.wasm"),
    (name = "gptedge/wasm/gptedge-relaxed.wasm", wasm = embed "kernels/gptedge-relaxed.wasm"),
    (name = "model/config.json", text = embed "model/config.json"),
    (name = "model/tokenizer.json", text = embed "model/tokenizer.json"),
    (name = "model/model.safetensors", data = embed "model/model.safetensors"),
  ],
  compatibilityDate = "2025-09-01",
);`,
    );
    const port = await freePort();
    let log = '';
    const proc = spawn(bin('workerd'), ['serve', 'config.capnp', '--socket-addr', `http=127.0.0.1:${port}`], { cwd: w, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d) => (log += d));
    proc.stderr!.on('data', (d) => (log += d));
    try {
      const url = `http://127.0.0.1:${port}`;
      const t0 = Date.now();
      for (;;) {
        if (
          await fetch(`${url}/health`).then(
            (r) => r.ok,
            () => false,
          )
        )
          break;
        assert(proc.exitCode === null, `workerd exited (${proc.exitCode}): ${log}`);
        assert(Date.now() - t0 < 30_000, `workerd did not answer within 30 s: ${log}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const res = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'It was', max_tokens: 12, temperature: 0 }),
      });
      const j = (await res.json()) as { choices: { text: string }[] };
      assertEqual(res.status, 200, `${JSON.stringify(j)} ${log}`);
      assertEqual(j.choices[0].text, nodeResult!.before, 'workerd generates what Node did');
    } finally {
      proc.kill('SIGTERM');
    }
  }, 120_000);

  test('package (g): the installed CLI: --version, a 5-step pretrain, generate', () => {
    const npx = (...a: string[]) => sh('npx', ['--no-install', 'gptedge', ...a]);
    assert(/^gptedge \d+\.\d+\.\d+/.test(npx('--version')), 'version');
    npx(
      'pretrain',
      '--preset',
      'tiny',
      '--vocab',
      '300',
      '--corpus',
      'corpus.txt',
      '--out',
      'run',
      '--steps',
      '5',
      '--batch',
      '4',
      '--eval-every',
      '0',
      '--samples',
      '0',
      '--backend',
      'wasm',
    );
    assert(existsSync(join(proj, 'run', 'latest.json')), 'a checkpoint');
    const g = npx('generate', '--model', 'run', '--prompt', 'It was', '--max-tokens', '5', '--temperature', '0', '--backend', 'wasm');
    assert(g.startsWith('It was') && g.length > 'It was'.length, `generated: ${JSON.stringify(g)}`);
    // a demo corpus that is not installed is one clear line, not a stack
    const r = spawnSync('npx', ['--no-install', 'gptedge', 'pretrain', '--corpus', 'sotu', '--out', 'x', '--backend', 'reference'], {
      cwd: proj,
      encoding: 'utf8',
    });
    assertEqual(r.status, 1);
    assert(/needs the npm package @stdlib\/datasets-sotu, which is not installed: npm install @stdlib\/datasets-sotu/.test(r.stderr), r.stderr);
  }, 180_000);

  test("package (h): the README and docs run as written: the README's code is examples/node/quickstart.mjs, and every shell block works", async () => {
    const readme = readFileSync('README.md', 'utf8');
    const code = /## Quick start in code[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)?.[1];
    assertEqual(code, readFileSync('examples/node/quickstart.mjs', 'utf8'), "README's quick start is examples/node/quickstart.mjs, word for word");
    cpSync('examples/node/quickstart.mjs', join(proj, 'quickstart.mjs'));
    const q = sh(process.execPath, ['quickstart.mjs', 'corpus.txt'], { timeout: 300_000 });
    assert(/^wasm-\S+ \(auto: .*\) 0\.\d+M parameters$/m.test(q) && /logprob/.test(q), q);
    for (const block of runnableBlocks('README.md')) await runBlock(block, proj);
    // then every doc, in the order a reader goes (fine-tuning makes runs/spam-ft for the ONNX page)
    const first = ['docs/finetune.md', 'docs/onnx.md'];
    const docs = [
      ...first,
      ...readdirSync('docs')
        .map((f) => `docs/${f}`)
        .filter((f) => f.endsWith('.md') && !first.includes(f))
        .sort(),
    ];
    for (const doc of docs) for (const block of runnableBlocks(doc)) await runBlock(block, proj);
  }, 1_500_000);

  test('package (i): the examples run from the installed package (servers answer, scoring prints)', async () => {
    const run = (cmd: string[], file: string) => {
      cpSync(join('examples', file), join(proj, file.replace('/', '-')));
      return [...cmd, file.replace('/', '-')];
    };
    const s = sh(process.execPath, run([], 'node/score.mjs').concat(['runs/demo', 'It was']), { timeout: 120_000 });
    assert(/log P\(" whale" \| "It was"\) = -\d/.test(s), s);
    const servers: [string, string[]][] = [
      ['node/server.mjs', [process.execPath]],
      ['bun/server.ts', [bin('bun')]],
      ['hono/server.ts', [bin('bun')]],
      ['deno/server.ts', [bin('deno'), 'run', '-A', '--node-modules-dir=manual']],
    ];
    for (const [file, cmd] of servers) {
      const port = await freePort();
      const argv = run(cmd, file).concat(['runs/demo']);
      const p = spawn(argv[0], argv.slice(1), { cwd: proj, env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
      let log = '';
      p.stdout!.on('data', (d) => (log += d));
      p.stderr!.on('data', (d) => (log += d));
      try {
        const t0 = Date.now();
        while (
          !(await fetch(`http://127.0.0.1:${port}/health`).then(
            (r) => r.ok,
            () => false,
          ))
        ) {
          assert(p.exitCode === null && Date.now() - t0 < 60_000, `examples/${file} did not serve: ${log}`);
          await new Promise((r) => setTimeout(r, 200));
        }
        const r = await fetch(`http://127.0.0.1:${port}/v1/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ prompt: 'Call me', max_tokens: 5, temperature: 0 }),
        });
        const j = (await r.json()) as { choices?: { text: string }[] };
        assertEqual(r.status, 200, `examples/${file}: ${JSON.stringify(j)} ${log}`);
        assert(typeof j.choices?.[0].text === 'string', `examples/${file} completes`);
      } finally {
        p.kill('SIGTERM');
      }
    }
  }, 300_000);

  test('package: the consumer project is removed', () => {
    rmSync(proj, { recursive: true, force: true });
  });
}
