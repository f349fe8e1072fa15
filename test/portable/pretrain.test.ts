// Pretraining: the loss falls on structured data; an interrupted and resumed run reproduces the
// uninterrupted loss sequence exactly (bit for bit); dropout masks are a function of (seed, step);
// bad input gets clear errors; a non-finite loss stops the run and keeps the last good checkpoint.
import { TokenDataset, unigramEntropy } from '../../src/train/data.ts';
import { pretrain, NonFiniteLossError, type PretrainState } from '../../src/train/pretrain.ts';
import { MEMORY_HEADROOM, type MemoryPlan } from '../../src/train/accumulate.ts';
import { trainingMemory } from '../../src/model/memory.ts';
import { learningRate } from '../../src/train/schedule.ts';
import { preset } from '../../src/model/config.ts';
import { MemoryFileSystem } from '../../src/io/fs.ts';
import { saveCheckpoint, resolveModelDir } from '../../src/io/checkpoint.ts';
import { loadModel } from '../../src/model/load.ts';
import { modelOptimizer } from '../../src/train/optim.ts';
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import { assert, assertEqual, assertThrows, assertRejects, test } from '../lib/harness.ts';
import { patternTokens, tinyModel, tinyTokenizerJSON } from '../lib/helpers.ts';

const data = () => new TokenDataset(patternTokens(4000, 67), 16, 0.1);

test('pretraining: validation loss falls well below the unigram entropy on structured data', async () => {
  const model = tinyModel({ embdPdrop: 0.1, attnPdrop: 0.1, residPdrop: 0.1 });
  const d = data();
  const evals: number[] = [];
  await pretrain(model, d, {
    steps: 150,
    batchSize: 8,
    lr: 5e-3,
    warmupSteps: 10,
    seed: 7,
    evalEvery: 50,
    evalBatches: 4,
    onEval: (e) => evals.push(e.valLoss),
  });
  const h = unigramEntropy(d.val);
  assert(evals.length === 3, `3 evaluations, got ${evals.length}`);
  assert(evals[2] < evals[0], `validation loss should fall: ${evals}`);
  assert(evals[2] < 0.6 * h, `final validation loss ${evals[2]} should be well below the unigram entropy ${h}`);
});

for (const [what, microBatch, recompute] of [
  ['', undefined, false],
  [', micro-batches of 2, blocks recomputed', 2, true],
] as const) {
  test(`resume: an interrupted run continues with exactly the same loss sequence (dropout on${what})`, async () => {
    const cfg = { embdPdrop: 0.1, attnPdrop: 0.1, residPdrop: 0.1 };
    const opts = { steps: 8, batchSize: 4, microBatch, lr: 1e-3, warmupSteps: 3, seed: 11 };
    const model = (m = tinyModel(cfg)) => ((m.recompute = recompute), m);
    const full = await pretrain(model(), data(), opts);

    const fs = new MemoryFileSystem();
    const first = model();
    let saved: PretrainState | null = null;
    await pretrain(first, data(), {
      ...opts,
      maxSeconds: Infinity,
      checkpointEvery: 4,
      checkpoint: async (st, optimizer) => {
        if (st.step === 4) {
          saved = st;
          await saveCheckpoint(fs, 'run', first, tinyTokenizerJSON(), { ...st }, { optimizer });
        }
      },
    });
    assert(saved !== null, 'checkpoint at step 4 was written');
    const { model: resumed, checkpoint } = await loadModel(fs, 'run', new ReferenceBackend(), { withOptimizer: true });
    assertEqual(checkpoint.trainState!.step, 4);
    assertEqual((checkpoint.trainState!.options as Record<string, number>).microBatch, microBatch ?? 4, 'the micro-batch is part of the run state');
    const optimizer = modelOptimizer(resumed, checkpoint.optimizer);
    const second = await pretrain(model(resumed), data(), {
      ...opts,
      startStep: 4,
      history: checkpoint.trainState!.history as PretrainState['history'],
      optimizer,
    });
    const losses = (s: PretrainState) => s.history.filter((h) => h.loss !== undefined).map((h) => h.loss);
    assertEqual(losses(second), losses(full), 'loss sequence of resumed vs uninterrupted run');
  });
}

test("memory: over the backend's limit, pretraining names the micro-batch that fits before it allocates", async () => {
  const model = tinyModel();
  const d = data(),
    T = d.T;
  // a limit between the needs of micro-batches of 3 and 4 sequences (the headroom allowed for on top)
  const need = (m: number) => trainingMemory(model.cfg, m * T).total + MEMORY_HEADROOM;
  Object.defineProperty(model.be, 'memoryLimit', { value: (need(3) + need(4)) / 2, writable: true });
  let plan: MemoryPlan | null = null;
  await assertRejects(() => pretrain(model, d, { steps: 1, batchSize: 8 }), /a micro-batch of 3 fits \(--micro-batch 3;/);
  await pretrain(model, d, { steps: 1, batchSize: 8, microBatch: 3, onMemory: (p) => (plan = p) });
  assertEqual([plan!.micro, plan!.T, plan!.total], [3, T, need(3) - MEMORY_HEADROOM]);
  (model.be as { memoryLimit?: number }).memoryLimit = need(1) - 1;
  await assertRejects(
    () => pretrain(model, d, { steps: 1, batchSize: 8 }),
    /even one sequence at a time; with activation recomputation it fits \(--recompute\)/,
  );
});

test('non-finite loss: the run stops with a clear error and the last good checkpoint stays loadable', async () => {
  const fs = new MemoryFileSystem();
  const model = tinyModel();
  const err = await assertRejects(
    () =>
      pretrain(model, data(), {
        steps: 10,
        batchSize: 2,
        lr: 1e-3,
        warmupSteps: 1,
        checkpointEvery: 2,
        checkpoint: async (st, optimizer) => {
          await saveCheckpoint(fs, 'run', model, tinyTokenizerJSON(), { ...st }, { optimizer });
        },
        onStep: (e) => {
          if (e.step === 3) model.be.write(model.params['h.0.ln_1.weight'], new Float32Array(32).fill(NaN));
        },
      }),
    /step 4: the loss is NaN/,
  );
  assert(err instanceof NonFiniteLossError);
  assertEqual(await resolveModelDir(fs, 'run'), 'run/step-000002');
  const { model: back } = await loadModel(fs, 'run', new ReferenceBackend());
  const w = await back.be.read(back.params['h.0.ln_1.weight']);
  assert(Array.from(w).every(Number.isFinite), 'the kept checkpoint has finite weights');
});

test('bad input: empty corpus, corpus shorter than one context, unknown preset, bad schedule values', async () => {
  assertThrows(() => new TokenDataset(new Int32Array(0), 16), /corpus is empty/);
  assertThrows(() => new TokenDataset(new Int32Array(10), 16, 0), /10 tokens: too short for one training sequence of 17 tokens/);
  assertThrows(() => new TokenDataset(new Int32Array(30), 16, 0.1), /too short .* plus a validation split/);
  assertThrows(() => preset('gpt3'), /unknown preset "gpt3"; known presets: gpt1, gpt2/);
  assertThrows(() => preset('tiny', { nHead: 5 }), /divisible/);
  await assertRejects(() => pretrain(tinyModel(), data(), { steps: 0, batchSize: 2 }), /steps must be a positive integer/);
  await assertRejects(
    () => pretrain(tinyModel(), new TokenDataset(patternTokens(4000, 67), 32), { steps: 1, batchSize: 2 }),
    /exceeds the model's context window of 16/,
  );
});

test('batches are a pure function of (seed, step); validation windows are fixed and disjoint', () => {
  const d = data();
  assertEqual(Array.from(d.batch(5, 3, 9).inputs), Array.from(d.batch(5, 3, 9).inputs));
  assert(JSON.stringify(Array.from(d.batch(5, 3, 9).inputs)) !== JSON.stringify(Array.from(d.batch(6, 3, 9).inputs)), 'different steps differ');
  const b = d.batch(0, 2, 1);
  for (let i = 0; i < 15; i++) assertEqual(b.targets[i], b.inputs[i + 1], 'targets are inputs shifted by one');
  const vb = [...d.valBatches(4, 100)];
  assertEqual(
    vb.reduce((n, x) => n + x.B, 0),
    Math.floor((d.val.length - 1) / 16),
  );
});

test('schedule: linear warm-up then cosine to zero', () => {
  assertEqual(learningRate(0, 1, 10, 110), 0.1);
  assertEqual(learningRate(9, 1, 10, 110), 1);
  assert(Math.abs(learningRate(60, 1, 10, 110) - 0.5) < 1e-12, 'half way down the cosine');
  assert(learningRate(110, 1, 10, 110) < 1e-12, 'zero at the end');
});

test('GPT-1 and GPT-2 presets have the published sizes', () => {
  const g1 = preset('gpt1'),
    g2 = preset('gpt2');
  assertEqual([g1.nLayer, g1.nEmbd, g1.nHead, g1.nInner, g1.nCtx, g1.layout], [12, 768, 12, 3072, 512, 'post-ln']);
  assertEqual([g2.nCtx, g2.vocabSize, g2.layout], [1024, 50257, 'pre-ln']);
});
