// The supervised engine (src/serve/supervisor.ts): an engine that fails — its WebGPU device lost, its worker
// dead — is replaced by a new one built the same way, and the next requests are served by it. First with a
// failure injected into an engine on the reference backend, then with a real WebGPU device destroyed under
// the server (skipped, with the reason, where this runtime has no adapter).
import { createApp, LocalEngine, ModelRegistry } from '../../src/serve/index.ts';
import { SupervisedEngine, type FailingEngine } from '../../src/serve/supervisor.ts';
import { createWebGPUBackend } from '../../src/backend/webgpu/webgpu.ts';
import { GPT } from '../../src/model/gpt.ts';
import { preset } from '../../src/model/config.ts';
import { GPTTokenizer } from '../../src/tokenizer/tokenizer.ts';
import type { Backend } from '../../src/backend/backend.ts';
import { assert, assertEqual, test } from '../lib/harness.ts';
import { tinyModel, tinyTokenizerJSON, until } from '../lib/helpers.ts';
import { skip, webgpuDevice, releaseDevice } from '../lib/webgpu-util.ts';

const tok = () => GPTTokenizer.fromJSON(tinyTokenizerJSON());
const complete = async (app: ReturnType<typeof createApp>) => {
  const r = await app.request('/v1/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'ABC', max_tokens: 5, temperature: 0 }),
  });
  return { status: r.status, text: r.status === 200 ? ((await r.json()) as { choices: { text: string }[] }).choices[0].text : await r.text() };
};

test('supervisor: a request the failing engine cannot compute gets 503; the engine is replaced and the next requests are served by the new one', async () => {
  let built = 0,
    failFirst!: (reason: string) => void,
    broken = false;
  const lines: string[] = [];
  const engine = await SupervisedEngine.start(
    async () => {
      built++;
      const e: FailingEngine = new LocalEngine({ models: new ModelRegistry(new Map([['tiny', { model: tinyModel({}, 3), tokenizer: tok() }]])) });
      if (built > 1) return e;
      // the first engine's device goes away: what its backend then throws on every call
      const complete = e.complete.bind(e);
      return Object.assign(e, {
        failed: new Promise<string>((r) => (failFirst = r)),
        complete: (r: Parameters<typeof complete>[0], signal: AbortSignal) => {
          if (!broken) return complete(r, signal);
          const lost = new Error('WebGPU device lost (unknown): injected');
          lost.name = 'DeviceLostError';
          throw lost;
        },
      });
    },
    { log: (l) => lines.push(l), retryMs: 1 },
  );
  const app = createApp({ engine });
  const before = await complete(app);
  assertEqual(before.status, 200);
  broken = true;
  const during = await app.request('/v1/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'ABC', max_tokens: 5 }),
  });
  const err = (await during.json()) as { error: { code: string; message: string } };
  assertEqual([during.status, err.error.code], [503, 'engine_unavailable'], err.error.message);
  assert(
    /compute engine failed under this request \(WebGPU device lost \(unknown\): injected\); a new one is starting: retry/.test(err.error.message),
    err.error.message,
  );
  assertEqual(((await (await app.request('/health')).json()) as { errors: number }).errors, 1, 'counted as a failure of ours');
  const first = engine.engine;
  failFirst('WebGPU device lost (unknown): injected');
  await until(() => engine.engine !== first, 'the replacement');
  const after = await complete(app);
  assertEqual([after.status, after.text], [200, before.text], 'the same model, rebuilt, answers the same');
  assertEqual([built, engine.restarts], [2, 1]);
  assert(
    lines.some((l) => /the engine failed \(WebGPU device lost \(unknown\): injected\); starting a new one/.test(l)),
    lines.join(' | '),
  );
  assertEqual(engine.defaultModel, 'tiny', 'the default model is kept');
  await engine.close();
});

const gpu = await webgpuDevice();
if (!gpu.handle) skip('supervisor: a lost WebGPU device', gpu.reason);
else {
  test('supervisor: a lost WebGPU device is replaced — the next requests are served, the same, on a new device', async () => {
    const handles = [gpu.handle!];
    const model = (be: Backend) => new GPT(be, preset('tiny')).init(3);
    let backend: ReturnType<typeof createWebGPUBackend> | null = null;
    const engine = await SupervisedEngine.start(
      async () => {
        const h = backend === null ? handles[0] : (await webgpuDevice()).handle;
        if (!h) throw new Error('no new device');
        if (backend !== null) handles.push(h);
        backend = createWebGPUBackend(h.device, { name: 'webgpu-test' });
        return new LocalEngine({ models: new ModelRegistry(new Map([['tiny', { model: model(backend), tokenizer: tok() }]])) });
      },
      { retryMs: 10 },
    );
    const app = createApp({ engine });
    const before = await complete(app);
    assertEqual(before.status, 200, before.text);
    const first = backend!;
    handles[0].device.destroy(); // what a driver reset does to a server's device
    await first.lost;
    await until(() => engine.restarts === 1, 'a new engine on a new device', 30_000);
    assert(backend !== first, 'a new backend');
    const after = await complete(app);
    assertEqual([after.status, after.text], [200, before.text], 'served again, on the new device, with the same answer');
    await engine.close();
    for (const h of handles.slice(1)) await releaseDevice(h);
  }, 60_000);
}
