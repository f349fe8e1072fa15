// Headless Chromium (Debian `chromium`, driven by playwright-core) runs the WebGPU backend in a page served
// from 127.0.0.1: a few ops against the reference backend, then 25 pretraining steps of the package's tiny GPT
// whose loss must fall and follow the reference backend's losses. Node only (vitest):
//   npx vitest run test/browser/webgpu-browser.test.ts
// Skipped with the reason printed when Chromium or playwright-core is missing or the page finds no adapter;
// with GPTEDGE_REQUIRE_WEBGPU=1 those are failures. Chromium on a GPU-less Linux offers SwiftShader only.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { assert, runtime, test } from '../lib/harness.ts';
import { chromiumMissing, openPage } from './chromium.ts';
import { requireWebGPU, skip } from '../lib/webgpu-util.ts';

const missing = await chromiumMissing();

if (missing) {
  skip('webgpu-browser', missing, runtime !== 'node');
} else {
  test("webgpu-browser: ops match the reference and a tiny training run's loss falls in headless Chromium", async () => {
    const { build } = await import('esbuild');
    const bundle = await build({
      entryPoints: ['test/browser/webgpu-page.ts'],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'error',
    });
    const js = bundle.outputFiles[0].text;
    const html =
      '<!doctype html><meta charset="utf-8"><title>gptedge webgpu</title><script type="module">import { main } from "../page.js"; window.__result = main().catch((e) => ({ error: String(e) }));</script>';
    const server = createServer((req, res) => {
      if (req.url === '/page.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
      else if (req.url === '/') res.writeHead(200, { 'content-type': 'text/html' }).end(html);
      else res.writeHead(404).end();
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const { page, logs, close } = await openPage(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    try {
      const r = (await page.evaluate('window.__result', undefined)) as {
        error?: string;
        adapter?: string;
        ops?: Record<string, number>;
        gpuLosses?: number[];
        refLosses?: number[];
      };
      if (r.error === 'no WebGPU adapter in this browser' && !requireWebGPU) {
        console.warn(`SKIP webgpu-browser: Chromium offered no WebGPU adapter (${logs.join(' | ')})`);
        return;
      }
      assert(!r.error, `page failed: ${r.error}\n${logs.join('\n')}`);
      console.log(
        `webgpu-browser: adapter "${r.adapter}", op error / tolerance ${JSON.stringify(r.ops)}, losses ${r.gpuLosses!.map((l) => l.toFixed(4)).join(' ')}`,
      );
      for (const [op, err] of Object.entries(r.ops!)) assert(err <= 1, `${op}: error ${err}x the tolerance (atol 1e-4, rtol 1e-3) against the reference`);
      const g = r.gpuLosses!,
        ref = r.refLosses!;
      assert(g[g.length - 1] < 0.85 * g[0], `loss did not fall by 15%: ${g[0]} -> ${g[g.length - 1]}`);
      g.forEach((l, i) => assert(Math.abs(l - ref[i]) <= 1e-3 * Math.abs(ref[i]) + 1e-4, `step ${i + 1}: loss ${l} vs reference ${ref[i]}`));
    } finally {
      await close();
      server.close();
    }
  }, 180_000);
}
