// The one optimizer (src/train/optim.ts) and the dropout streams (src/model/dropout.ts): AdamW over parameter
// groups clips by ONE global norm over every group, decays only the tensors marked for it, and saves and
// restores its state by name; fine-tuning updates the transformer and the task head with one such AdamW
// (the transformer is clipped by the norm of both, not by its own); dropout sites are allocated without
// overlap, and the stream formula is the one every run so far drew its masks from.
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import { GPT } from '../../src/model/gpt.ts';
import { checkDropoutSites, dropoutRng, HEAD_SITES, transformerSites } from '../../src/model/dropout.ts';
import type { ParamGroup } from '../../src/model/params.ts';
import { AdamW } from '../../src/train/optim.ts';
import { finetuneLearningRate } from '../../src/train/schedule.ts';
import {
  batchIndices,
  finetune,
  forwardBackward,
  makeBatch,
  TaskHead,
  type EncodedExample,
  type FinetuneModel,
  type TaskSpec,
} from '../../src/finetune/index.ts';
import type { GPTTokenizer } from '../../src/tokenizer/tokenizer.ts';
import { gradConfig, randomParams } from '../lib/gradcheck-util.ts';
import { assert, assertClose, assertEqual, assertThrows, rand, randn, test } from '../lib/harness.ts';

const HP = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };

/** a group of tensors with the given gradients (params 1 + i/10) */
function group(be: ReferenceBackend, name: string, grads: Float32Array[], decay: boolean[]): ParamGroup {
  return {
    name,
    tensors: grads.map((g, i) => {
      const param = be.alloc(g.length),
        grad = be.alloc(g.length);
      be.write(
        param,
        new Float32Array(g.length).map((_, j) => 1 + j / 10),
      );
      be.write(grad, g);
      return { name: `${name}.${i}`, param, grad, decay: decay[i], rowLength: g.length };
    }),
  };
}
const sumSq = (xs: Float32Array[]) => xs.reduce((s, x) => s + x.reduce((t, v) => t + v * v, 0), 0);

test('AdamW over groups: one global norm clips every group; weight decay only where marked', async () => {
  const be = new ReferenceBackend();
  const ga = [randn(7, 1, 3), randn(5, 2, 1)],
    gb = [randn(3, 3, 4), new Float32Array(4)];
  const a = group(be, 'a', ga, [true, false]),
    b = group(be, 'b', gb, [false, true]);
  const norm = Math.sqrt(sumSq([...ga, ...gb])),
    clip = norm / 4;
  const opt = new AdamW(be, [a, b]);
  opt.update({ ...HP, gradClip: clip });
  assertEqual(opt.step, 1);
  const st = (await opt.readState())!;
  // the first moment after one step is (1 - β1)·s·g, s = min(1, clip / (‖g‖ + 1e-6)) with ‖g‖ over both groups
  const s = clip / (norm + 1e-6);
  for (const [i, g] of [...ga, ...gb].entries()) {
    const t = [...a.tensors, ...b.tensors][i];
    assertClose(
      st.m.get(t.name)!,
      g.map((x) => 0.1 * s * x),
      { atol: 1e-7, rtol: 1e-5 },
      `m of ${t.name}`,
    );
  }
  const own = clip / (Math.sqrt(sumSq(ga)) + 1e-6);
  assert(Math.abs(own - s) > 0.05, `group a alone would be scaled by ${own}, not ${s}: the test tells the two apart`);
  // b.1 has no gradient: only weight decay moves it (p -= lr·wd·p); a.1 has a gradient but no decay
  const p = (await be.read(b.tensors[1].param)) as Float32Array;
  assertClose(
    p,
    new Float32Array(4).map((_, j) => Math.fround(1 + j / 10) * (1 - HP.lr * HP.weightDecay)),
    { rtol: 1e-6 },
    'decay only',
  );
  const zero = group(be, 'z', [new Float32Array(3)], [false]);
  const opt2 = new AdamW(be, [zero]);
  opt2.update({ ...HP, gradClip: 1 });
  assertEqual(
    Array.from((await be.read(zero.tensors[0].param)) as Float32Array),
    Array.from(new Float32Array(3).map((_, j) => 1 + j / 10)),
    'no gradient, no decay: unchanged',
  );
  opt.free();
  opt2.free();
});

test('AdamW state: read, restored into another optimizer, continues identically; names must be unique and complete', async () => {
  const run = async (split: boolean) => {
    const be = new ReferenceBackend();
    const mk = () => group(be, 'g', [randn(6, 4, 1), randn(2, 5, 1)], [true, false]);
    let g = mk(),
      opt = new AdamW(be, [g]);
    for (let i = 0; i < 3; i++) {
      if (split && i === 2) {
        // a new optimizer (as after loading a checkpoint) continues from the saved state
        const st = (await opt.readState())!;
        opt.free();
        opt = new AdamW(be, [g]);
        opt.writeState(st);
        assertEqual(opt.step, 2);
      }
      opt.update({ ...HP, gradClip: 0.5 });
      be.write(g.tensors[0].grad, randn(6, 10 + i, 1));
    }
    return be.read(g.tensors[0].param);
  };
  assertEqual(Array.from(await run(true)), Array.from(await run(false)), 'resumed = uninterrupted, bit for bit');
  const be = new ReferenceBackend();
  const g = group(be, 'g', [randn(2, 1, 1)], [true]);
  assertThrows(() => new AdamW(be, [g, { name: 'h', tensors: g.tensors }]), /tensor g\.0 of h has the name of one of g/);
  assertThrows(() => new AdamW(be, [g]).writeState({ m: new Map(), v: new Map(), step: 1 }), /no moments for g\.0/);
  assertEqual(await new AdamW(be, [g]).readState(), null, 'no state before the first update');
});

// ---- fine-tuning: one AdamW over the transformer and the head -------------------------------------
function ftModel(): FinetuneModel {
  const cfg = { ...gradConfig('pre-ln'), residPdrop: 0.1 }; // vocab 37 (specials 34, 35, 36), context 9
  const model = new GPT(new ReferenceBackend(), cfg);
  model.writeParams(randomParams(model.specs, 3));
  const head = new TaskHead(model.be, cfg.nEmbd, 3, 0.1).init(4, 0.5);
  return { model, tokenizer: null as unknown as GPTTokenizer, spec: SPEC, head, ids: { start: 34, delimiter: 35, extract: 36 }, maxLen: 9 };
}
const SPEC: TaskSpec = { family: 'classification', labels: ['a', 'b', 'c'] };
const r = rand(8);
const EXAMPLES: EncodedExample[] = [0, 1, 2, 3].map((i) => ({
  seqs: [Int32Array.from([34, ...Array.from({ length: 2 + i }, () => Math.floor(r() * 34)), 36])],
  label: i % 3,
}));

test('fine-tuning: one AdamW updates the transformer and the head, clipped by one norm over both', async () => {
  const clip = 0.05,
    lr = 3e-3;
  const params = async (ft: FinetuneModel) => [...(await ft.model.readParams()).values(), ...Object.values(await ft.head.read())];
  const viaFinetune = ftModel();
  await finetune(viaFinetune, EXAMPLES, { batchSize: 4, steps: 1, lr, gradClip: clip, lmCoef: 0.5, seed: 2, warmupFraction: 0.5 });

  // the same step by hand: gradients of L3, then AdamW over [transformer, head] with the fine-tuning rate
  const byHand = async (groups: (ft: FinetuneModel) => ParamGroup[][]) => {
    const ft = ftModel();
    ft.model.zeroGrad();
    ft.head.zeroGrad();
    const { idx } = batchIndices(EXAMPLES.length, 4, 0, 2);
    forwardBackward(
      ft,
      makeBatch(
        SPEC,
        idx.map((i) => EXAMPLES[i]),
      ),
      { lmCoef: 0.5, scale: 1, train: { seed: 2, step: 0 }, backward: true },
    );
    const rate = finetuneLearningRate(0, lr, 1, 1);
    const norms: number[] = [];
    for (const gs of groups(ft)) {
      const opt = new AdamW(ft.model.be, gs);
      norms.push(await opt.gradNorm());
      opt.update({ ...HP, lr: rate, weightDecay: 0.01, gradClip: clip });
    }
    return { values: await params(ft), norms };
  };
  const one = await byHand((ft) => [[ft.model.parameters(), ft.head.parameters()]]);
  const got = await params(viaFinetune);
  got.forEach((v, i) => assertEqual(Array.from(v), Array.from(one.values[i]), `tensor ${i}: finetune() = one AdamW over transformer + head`));
  // before issue 17 the transformer was clipped by its own norm (the head by both): a different step
  const two = await byHand((ft) => [[ft.model.parameters()], [ft.head.parameters()]]);
  assert(
    two.norms[0] < one.norms[0] && one.norms[0] > clip,
    `the joint norm ${one.norms[0]} exceeds the transformer's own ${two.norms[0]} and the clip ${clip}`,
  );
  const differs = got.slice(0, -2).some((v, i) => v.some((x, j) => x !== two.values[i][j]));
  assert(differs, 'clipping the transformer by its own norm gives other weights');
});

test('dropout sites: the transformer and the head claim disjoint streams of a step; overlaps and overflows are errors', () => {
  checkDropoutSites([transformerSites(340, true), HEAD_SITES]); // 0..1020 and 1023
  assertThrows(
    () => checkDropoutSites([transformerSites(341, true), HEAD_SITES]),
    /the task head \(site 1023\) and the transformer \(sites 0\.\.1023\) would draw the same masks/,
  );
  assertThrows(() => checkDropoutSites([transformerSites(400, true)]), /the transformer needs sites 0\.\.1200, but a training step has 1024 dropout streams/);
  checkDropoutSites([transformerSites(400, false), HEAD_SITES]); // no dropout, no sites
  // the formula every checkpoint's masks came from: stream = step·1024 + site, offset = the micro-batch's first draw
  assertEqual(dropoutRng({ seed: 5, step: 3 }, 7, 64), { seed: 5, stream: 3 * 1024 + 7, offset: 64 });
  assertEqual(dropoutRng({ seed: 5, step: 2 ** 22 }, 1023).stream, 1023, 'u32 wrap-around');
  const ft = ftModel();
  assertEqual(ft.model.dropoutSites, { owner: 'the transformer', first: 0, count: 7 });
  Object.defineProperty(ft.head, 'dropoutSites', { value: { owner: 'a head', first: 6, count: 1 } });
  assertThrows(
    () => forwardBackward(ft, makeBatch(SPEC, EXAMPLES), { lmCoef: 0, train: { seed: 1, step: 0 } }),
    /a head \(site 6\) and the transformer \(sites 0\.\.6\) would draw the same masks/,
  );
});
