// gptedge finetune: a pretrained model folder + labelled data (JSONL/CSV) → L3 = L2 + λ·L1 fine-tuning
// → a fine-tuned folder (model files + head.safetensors + task.json). gptedge eval: metrics of a
// fine-tuned folder on labelled data (accuracy; F1 for binary tasks; confusion matrix).
import { numArg as num } from '../args.ts';
import type { CommandContext } from '../context.ts';
import { loadModel } from '../../../src/model/load.ts';
import { finetuneDefaults } from '../../../src/model/config.ts';
import {
  checkFamily,
  describeClasses,
  encodeAll,
  evaluateEncoded,
  finetune,
  formatMetrics,
  loadFinetuned,
  prepareFinetune,
  readDatasetFile,
  saveFinetuned,
  type Dataset,
  type ReadOptions,
  type TaskFamily,
} from '../../../src/finetune/index.ts';

const FT_HELP = `usage: gptedge finetune --task <family> --model <pretrained dir> --train <file> --out <dir> [options]

  --task T             classification | entailment | similarity | multiple-choice
  --model DIR          pretrained model folder or run folder (its latest checkpoint)
  --train FILE         labelled data, .jsonl or .csv (schema per task: docs/finetune.md)
  --eval FILE          held-out data, evaluated during and after training
  --out DIR            where the fine-tuned model is written
  --labels A,B,...     the declared label set, in order (default: the training file's labels, sorted);
                       for binary tasks the second label is the positive class of F1
  --epochs N           (default ${finetuneDefaults.epochs})          --batch N   examples per update (default ${finetuneDefaults.batchSize})
  --micro-batch N      examples per forward pass; gradients accumulate (default = --batch)
  --steps N            optimizer steps (default epochs × ⌈n / batch⌉)
  --lr X               peak learning rate (default ${finetuneDefaults.lr})
  --lambda X           weight of the auxiliary LM loss in L3 (default ${finetuneDefaults.lmCoef}; 0 = off)
  --warmup-fraction X  linear warm-up share of the updates (default ${finetuneDefaults.warmupFraction})
  --clf-pdrop X        classifier dropout (default ${finetuneDefaults.clfPdrop})
  --max-len N          tokens per sequence, longer inputs truncated (default: the context window)
  --eval-every N       evaluate every N steps (default: only at the end)
  --seed N             (default 1)    --backend B   auto | wasm | webgpu | reference (default auto)`;

const EVAL_HELP = `usage: gptedge eval --model <fine-tuned dir> --data <file> [--batch N] [--backend B] [--json]

  prints accuracy, F1 (binary tasks, positive class = the second label), loss and the confusion matrix`;

async function readData(ctx: CommandContext, file: string, family: TaskFamily, opts: ReadOptions): Promise<Dataset> {
  if (!(await ctx.fs.exists(file))) throw new Error(`${file}: not found`);
  return readDatasetFile(ctx.fs, file, family, opts);
}

export async function finetuneCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const { values: a } = ctx.parse({
    args: argv,
    options: {
      task: { type: 'string' },
      model: { type: 'string' },
      train: { type: 'string' },
      eval: { type: 'string' },
      out: { type: 'string' },
      labels: { type: 'string' },
      epochs: { type: 'string' },
      batch: { type: 'string' },
      'micro-batch': { type: 'string' },
      steps: { type: 'string' },
      lr: { type: 'string' },
      lambda: { type: 'string' },
      'warmup-fraction': { type: 'string' },
      'clf-pdrop': { type: 'string' },
      'max-len': { type: 'string' },
      'eval-every': { type: 'string' },
      seed: { type: 'string', default: '1' },
      backend: { type: 'string', default: 'auto' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (a.help) {
    console.log(FT_HELP);
    return 0;
  }
  for (const k of ['task', 'model', 'train', 'out'] as const) if (!a[k]) throw new Error(`finetune: --${k} is required\n\n${FT_HELP}`);
  const family = checkFamily(a.task!);
  const labels = a.labels
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const train = await readData(ctx, a.train!, family, { labels });
  const backend = await ctx.createBackend(a.backend!);
  const pre = await loadModel(ctx.fs, a.model!, backend);
  const seed = num('seed', a.seed)!;
  const ft = await prepareFinetune(pre.model, pre.tokenizer, train.spec, {
    seed,
    clfPdrop: num('clf-pdrop', a['clf-pdrop']),
    maxLen: num('max-len', a['max-len']),
  });
  if (ft.model !== pre.model) pre.model.free(); // the vocabulary grew: the old model's buffers are dead
  const trainEnc = encodeAll(ft, train.examples, (i) => `${a.train} line ${train.lines[i]}`);
  let evalEnc;
  if (a.eval) {
    const ev = await readData(ctx, a.eval, family, { labels: train.spec.labels, choices: train.spec.choices });
    evalEnc = encodeAll(ft, ev.examples, (i) => `${a.eval} line ${ev.lines[i]}`);
  }
  console.log(
    `${family}: ${trainEnc.length} training examples (${describeClasses(train.spec)})${evalEnc ? `, ${evalEnc.length} held out` : ''}; model ${pre.checkpoint.dir} (${ft.model.cfg.nLayer}×${ft.model.cfg.nEmbd}, vocabulary ${ft.model.cfg.vocabSize}) on ${backend.name}`,
  );
  const t0 = Date.now();
  const res = await finetune(ft, trainEnc, {
    epochs: num('epochs', a.epochs),
    batchSize: num('batch', a.batch),
    microBatch: num('micro-batch', a['micro-batch']),
    steps: num('steps', a.steps),
    lr: num('lr', a.lr),
    lmCoef: num('lambda', a.lambda),
    warmupFraction: num('warmup-fraction', a['warmup-fraction']),
    seed,
    evalSet: evalEnc,
    evalEvery: num('eval-every', a['eval-every']),
    onStep: (e) => {
      if (e.step === 1 || e.step % 10 === 0 || e.step === e.steps) {
        console.log(
          `step ${e.step}/${e.steps} epoch ${e.epoch + 1}  L2 ${e.l2.toFixed(4)}${e.l1 !== null ? `  L1 ${e.l1.toFixed(4)}` : ''}  L3 ${e.l3.toFixed(4)}  lr ${e.lr.toExponential(2)}  ${e.elapsedSec.toFixed(0)} s`,
        );
      }
    },
    onEval: (e) =>
      console.log(
        `step ${e.step}: held-out accuracy ${(100 * e.metrics.accuracy).toFixed(2)}%${e.metrics.f1 !== undefined ? `, F1 ${e.metrics.f1.toFixed(4)}` : ''}`,
      ),
  });
  await ctx.fs.mkdir(a.out!.includes('/') ? a.out!.slice(0, a.out!.lastIndexOf('/')) : '.');
  await saveFinetuned(ctx.fs, a.out!, ft, {
    pretrained: pre.checkpoint.dir,
    train: a.train,
    steps: res.steps,
    lambda: num('lambda', a.lambda) ?? finetuneDefaults.lmCoef,
    seed,
  });
  console.log(`done: ${res.steps} steps in ${((Date.now() - t0) / 1000).toFixed(0)} s → ${a.out}`);
  const last = res.evals.at(-1);
  if (last) console.log(formatMetrics(last.metrics));
  return 0;
}

export async function evalCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const { values: a } = ctx.parse({
    args: argv,
    options: {
      model: { type: 'string' },
      data: { type: 'string' },
      batch: { type: 'string', default: '16' },
      backend: { type: 'string', default: 'auto' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (a.help) {
    console.log(EVAL_HELP);
    return 0;
  }
  if (!a.model || !a.data) throw new Error(`eval: --model and --data are required\n\n${EVAL_HELP}`);
  const ft = await loadFinetuned(ctx.fs, a.model, await ctx.createBackend(a.backend!));
  const data = await readData(ctx, a.data, ft.spec.family, { labels: ft.spec.labels, choices: ft.spec.choices });
  const m = await evaluateEncoded(
    ft,
    encodeAll(ft, data.examples, (i) => `${a.data} line ${data.lines[i]}`),
    { batchSize: num('batch', a.batch) },
  );
  console.log(a.json ? JSON.stringify(m) : `${ft.spec.family} model ${a.model} on ${a.data}\n${formatMetrics(m)}`);
  return 0;
}
