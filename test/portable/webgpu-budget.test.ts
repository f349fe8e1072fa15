// The shape of a training step and of a decoding step on the WebGPU backend, recorded on a device that
// executes nothing (test/lib/webgpu-null-device.ts, the WebGPU spec's default limits): every dispatch must stay
// within the backend's stated budget (src/backend/webgpu/cost.ts: FLOPs and serial depth per dispatch), and
// the step must be no heavier than recorded in test/fixtures/webgpu-step-budget.json — more dispatches,
// submits, FLOPs or memory fail. When a change makes a step lighter, the test prints the new figures: write
// them into the fixture so the ratchet holds. Needs no GPU; runs in about a second.
import { DEFAULT_BUDGET } from '../../src/backend/webgpu/cost.ts';
import { assert, test } from '../lib/harness.ts';
import { recordDecode, recordStep, type StepShape } from '../lib/webgpu-step.ts';
import recorded from '../fixtures/webgpu-step-budget.json' with { type: 'json' };

type Fixture = Record<string, Pick<StepShape, 'dispatches' | 'submits' | 'flops' | 'heldBytes' | 'maxFlops' | 'maxDepth'>>;
const want = recorded as Fixture;

/** Fails on any figure over the fixture; prints the figures when some are under it. */
function ratchet(what: string, got: StepShape): void {
  const fixed = want[what];
  assert(fixed !== undefined, `${what}: not in test/fixtures/webgpu-step-budget.json; measured ${JSON.stringify(got)}`);
  const keys = ['dispatches', 'submits', 'flops', 'heldBytes', 'maxFlops', 'maxDepth'] as const;
  const heavier = keys.filter((k) => got[k] > fixed[k]);
  assert(heavier.length === 0, `${what} got heavier: ${heavier.map((k) => `${k} ${fixed[k]} -> ${got[k]}`).join(', ')}`);
  if (keys.some((k) => got[k] < fixed[k])) {
    console.log(
      `webgpu-budget: ${what} is lighter than recorded; new figures for the fixture: ${JSON.stringify(Object.fromEntries(keys.map((k) => [k, got[k]])))}`,
    );
  }
}

for (const [name, B, T] of [
  ['gpt1', 8, 512],
  ['gpt2', 8, 1024],
] as const) {
  test(`webgpu-budget: ${name} training step B ${B} × T ${T}: every dispatch within the budget, no heavier than recorded`, async () => {
    const step = await recordStep(name, B, T);
    for (const r of step.records) {
      assert(
        r.flops <= DEFAULT_BUDGET.dispatchFlops,
        `${r.kernel} ${JSON.stringify(r.groups)}: ${r.flops} FLOPs over the budget of ${DEFAULT_BUDGET.dispatchFlops}`,
      );
      assert(r.depth <= DEFAULT_BUDGET.depth, `${r.kernel} ${JSON.stringify(r.groups)}: serial depth ${r.depth} over the budget of ${DEFAULT_BUDGET.depth}`);
    }
    const { records, ...shape } = step;
    console.log(
      `webgpu-budget: ${name} B ${B} × T ${T}: ${shape.dispatches} dispatches in ${shape.submits} submits, ${(shape.flops / 1e12).toFixed(2)} TFLOP, ` +
        `heaviest ${(shape.maxFlops / 1e9).toFixed(2)} GFLOP (${shape.maxFlopsKernel}), deepest ${shape.maxDepth} (${shape.maxDepthKernel}), ${(shape.heldBytes / 1024 ** 3).toFixed(2)} GiB held`,
    );
    ratchet(`${name}-train-B${B}-T${T}`, shape);
  });
}

test('webgpu-budget: gpt2 decoding one token after 100 (f32 weights): no heavier than recorded', async () => {
  const shape = await recordDecode('gpt2', 1, 100);
  console.log(`webgpu-budget: gpt2 decode: ${shape.dispatches} dispatches, ${(shape.flops / 1e6).toFixed(0)} MFLOP`);
  ratchet('gpt2-decode-B1-after100', shape);
});

test('webgpu-budget: the ratchet fails a step that got heavier', () => {
  const fixed = want['gpt2-decode-B1-after100'];
  let msg = '';
  try {
    ratchet('gpt2-decode-B1-after100', { ...fixed, dispatches: fixed.dispatches + 1, maxFlopsKernel: 'matvec', maxDepthKernel: 'matvec' });
  } catch (e) {
    msg = (e as Error).message;
  }
  assert(msg.includes(`got heavier: dispatches ${fixed.dispatches} -> ${fixed.dispatches + 1}`), `got "${msg}"`);
});
