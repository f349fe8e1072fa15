// A Cloudflare Worker (workerd) serving gptedge's HTTP app with the single-threaded WASM backend.
// workerd refuses to compile WebAssembly from bytes, so the kernels arrive as imported WASM modules, and
// the model as data/text modules; config.capnp (local workerd) and wrangler.toml (deploy) declare them.
// Built by `node scripts/build-edge.mjs` into dist/edge/worker.js (one ESM file, no node:*). For models too
// large for a script (GPT-2), worker-binding.ts loads the weights from a binding instead. API keys, CORS
// and the other settings: examples/workerd/app.ts.
import { workerApp, lazyApp, type AppEnv } from './app.ts';
import { createWasmBackend } from '../../src/backend/wasm/index.ts';
import { MemoryFileSystem } from '../../src/io/fs.ts';
import { loadModel } from '../../src/model/load.ts';
// @ts-ignore: modules the runtime provides
import simd128 from './gptedge-simd128.wasm';
// @ts-ignore
import relaxed from './gptedge-relaxed.wasm';
// @ts-ignore
import configJSON from './model/config.json';
// @ts-ignore
import tokenizerJSON from './model/tokenizer.json';
// @ts-ignore
import weights from './model/model.safetensors';

async function init(env: AppEnv) {
  const be = await createWasmBackend({ modules: { simd128: simd128 as WebAssembly.Module, relaxed: relaxed as WebAssembly.Module }, threads: 1 });
  const fs = new MemoryFileSystem();
  await fs.mkdir('model');
  const text = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v)); // a text module, or a JSON one (wrangler)
  await fs.writeFile('model/config.json', text(configJSON));
  await fs.writeFile('model/tokenizer.json', text(tokenizerJSON));
  await fs.writeFile('model/model.safetensors', new Uint8Array(weights as ArrayBuffer));
  const { model, tokenizer } = await loadModel(fs, 'model', be);
  return workerApp(env, model, tokenizer);
}

export default { fetch: lazyApp(init) };
