// GPT.forward returns the pass that reads it; the model keeps one set of activations, so what follows a
// forward (loss, backward, logits) is refused on a pass that another forward replaced, out of order, or twice.
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import { GPT } from '../../src/model/gpt.ts';
import { gradBatch, gradConfig, randomParams } from '../lib/gradcheck-util.ts';
import { assertEqual, assertRejects, assertThrows, test } from '../lib/harness.ts';

test('forward pass: stale, out-of-order and repeated loss/backward/logits throw clear errors; the current pass works', async () => {
  const cfg = gradConfig('pre-ln'),
    B = 2,
    T = 7;
  const model = new GPT(new ReferenceBackend(), cfg);
  model.writeParams(randomParams(model.specs, 1));
  const { ids, targets, weights } = gradBatch(cfg, B, T, 5);
  model.zeroGrad();

  const first = model.forward(ids, B, T);
  assertThrows(
    () => first.backward(),
    /backward\(\): no gradient of h on this pass; call loss\(targets, weights, gradScale\)/,
    'backward before any gradient of h',
  );
  assertThrows(() => first.loss(targets.subarray(1), weights), /loss\(\): 13 targets and 14 weights for a pass of B\*T = 14 positions/);
  const loss1 = (await model.be.read(first.loss(targets, weights)))[0];

  const second = model.forward(ids, B, T);
  const stale = /this forward pass is stale — another forward ran on the model since/;
  assertThrows(() => first.loss(targets, weights, 1), stale, 'loss on a replaced pass');
  assertThrows(() => first.backward(), stale, 'backward on a replaced pass');
  assertThrows(() => first.hiddenGrad(), stale, 'hiddenGrad on a replaced pass');
  await assertRejects(async () => first.allLogits(), stale, 'logits of a replaced pass');

  second.hiddenGrad();
  assertThrows(() => second.loss(targets, weights, 1), /loss\(\) with a gradient overwrites d\(h\): call it before hiddenGrad\(\)/);
  const third = model.forward(ids, B, T);
  assertEqual((await model.be.read(third.loss(targets, weights, 1)))[0], loss1, 'the same loss from a fresh pass');
  assertThrows(() => third.loss(targets, weights, 1), /the LM head's backward already ran on this pass/);
  third.backward();
  assertThrows(() => third.backward(), /this forward pass has run its backward/, 'a second backward');

  // freeing the activations (recompute switches their layout) makes the pass stale too
  const fourth = model.forward(ids, B, T);
  model.recompute = true;
  assertThrows(() => fourth.hidden(), stale, 'a pass whose activations were freed');
});

test('allLogits: in row chunks (a backend with a small logit chunk) the same values as in one chunk, and as lastLogits for the last row', async () => {
  const cfg = gradConfig('post-ln'),
    B = 2,
    T = 7,
    V = cfg.vocabSize;
  const one = new GPT(new ReferenceBackend(), cfg);
  const params = randomParams(one.specs, 3);
  one.writeParams(params);
  // 3 rows of logits at a time: chunks of 3, 3, 3, 3, 2 over the 14 positions
  const small = Object.assign(new ReferenceBackend(), { logitChunkElements: 3 * V });
  const chunked = new GPT(small, cfg);
  chunked.writeParams(params);
  const { ids } = gradBatch(cfg, B, T, 5);
  const whole = await one.forward(ids, B, T).allLogits();
  const parts = await chunked.forward(ids, B, T).allLogits();
  assertEqual(parts.length, B * T * V);
  assertEqual(Array.from(parts), Array.from(whole));
  const last = await one.forward(ids, B, T).lastLogits();
  assertEqual(Array.from(last.subarray(V)), Array.from(whole.subarray((2 * T - 1) * V)));
});
