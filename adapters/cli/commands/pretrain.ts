// gptedge pretrain: tokenizer (trained on the fly, GPT-2's, or a file) → token cache → L1 training
// with progress, validation, checkpoints, a loss curve, and sample generations at the end.
import { numArg as num } from '../args.ts';
import type { CommandContext } from '../context.ts';
import { GPT } from '../../../src/model/gpt.ts';
import { preset, presets } from '../../../src/model/config.ts';
import { GPTTokenizer } from '../../../src/tokenizer/tokenizer.ts';
import { gpt2TokenizerJSON } from '../../../src/tokenizer/gpt2.ts';
import { trainTokenizerFromTexts } from '../../../src/tokenizer/train.ts';
import { TokenDataset, unigramEntropy } from '../../../src/train/data.ts';
import { checkSameData, NonFiniteLossError, pretrain, resumeSettings, type DataIdentity, type HistoryPoint } from '../../../src/train/pretrain.ts';
import { describe } from '../../../src/train/accumulate.ts';
import { mib } from '../../../src/model/memory.ts';
import { lossCurveSVG } from '../../../src/train/plot.ts';
import { saveCheckpoint, resolveModelDir } from '../../../src/io/checkpoint.ts';
import { loadModel } from '../../../src/model/load.ts';
import { generate } from '../../../src/infer/generate.ts';
import { join, readTextChecked } from '../../../src/io/fs.ts';
import { FILE_LIMITS } from '../../../src/io/limits.ts';
import { FileFormatError } from '../../../src/io/errors.ts';
import type { OptimizerState, TrainState } from '../../../src/io/checkpoint.ts';
import { modelOptimizer } from '../../../src/train/optim.ts';
import { gpt2TokenizerFiles, loadCorpus } from '../corpora.ts';
import { tokenizeCached, tokenSource } from '../../../src/train/token-cache.ts';
import { ProgressBar, formatDuration } from '../progress.ts';

const HELP = `usage: gptedge pretrain --corpus <moby-dick|sotu|file...> --out <dir> [options]

  --preset NAME        ${Object.keys(presets).join(' | ')} (default demo)
  --corpus SRC         moby-dick, sotu, or a text file; repeat for several (default moby-dick)
  --encoding E         the text files' encoding (default utf-8; e.g. latin1, utf-16le): bytes that are
                       not valid in it are an error naming the offset
  --tokenizer T        "train" (learn a BPE on the corpus, default), "gpt2", or a tokenizer.json path
  --vocab N            vocabulary size when training a tokenizer (default: the preset's)
  --out DIR            run folder: checkpoints, loss.svg, log (default runs/<preset>)
  --steps N            optimizer steps (default 600)
  --batch N            sequences per batch (default 16)
  --micro-batch N      sequences per forward pass; gradients accumulate over the batch (default = --batch)
  --recompute          keep only each block's output and recompute the rest during backward
                       (about a third more compute, far less memory)
  --seq N              tokens per sequence, ≤ the context window (default: the context window)
  --lr X               peak learning rate (default 2.5e-4, the paper's; small models like 1e-3)
  --warmup N           linear warm-up steps (default min(2000, steps/10))
  --seed N             seed for init, batches and dropout (default 1)
  --eval-every N       validation every N steps (default 100)
  --ckpt-every N       checkpoint every N steps (default 200)
  --minutes X          stop early (checkpointing) after X minutes
  --val-fraction X     held-out share of the corpus (default 0.05)
  --backend B          auto | wasm | webgpu | reference (default auto)
  --resume             continue the run in --out exactly where its last checkpoint left it (refuses when
                       its train_state.json, optimizer.safetensors or corpus does not match); with --steps N
                       (more than it was run for) a finished run goes on to step N
  --reset-optimizer    with --resume: start Adam's moments afresh (when optimizer.safetensors is lost);
                       the run then no longer repeats an uninterrupted one
  --overwrite          start afresh in an --out that holds a run (its checkpoints are replaced)
  --samples N          sample generations printed at the end (default 3)`;

export async function pretrainCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const { values: a } = ctx.parse({
    args: argv,
    options: {
      preset: { type: 'string', default: 'demo' },
      corpus: { type: 'string', multiple: true },
      tokenizer: { type: 'string', default: 'train' },
      vocab: { type: 'string' },
      out: { type: 'string' },
      steps: { type: 'string', default: '600' },
      batch: { type: 'string', default: '16' },
      'micro-batch': { type: 'string' },
      recompute: { type: 'boolean', default: false },
      seq: { type: 'string' },
      lr: { type: 'string' },
      warmup: { type: 'string' },
      seed: { type: 'string', default: '1' },
      'eval-every': { type: 'string', default: '100' },
      'ckpt-every': { type: 'string', default: '200' },
      minutes: { type: 'string' },
      'val-fraction': { type: 'string', default: '0.05' },
      backend: { type: 'string', default: 'auto' },
      resume: { type: 'boolean', default: false },
      overwrite: { type: 'boolean', default: false },
      'reset-optimizer': { type: 'boolean', default: false },
      encoding: { type: 'string' },
      samples: { type: 'string', default: '3' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (a.help) {
    console.log(HELP);
    return 0;
  }
  const fs = ctx.fs;
  const out = a.out ?? `runs/${a.preset}`;
  if (a.resume && a.overwrite) throw new Error('pretrain: --resume and --overwrite contradict each other');
  if (!a.resume && !a.overwrite && (await fs.exists(join(out, 'latest.json')))) {
    throw new Error(`pretrain: ${out} already holds a run; pass --resume to continue it (--steps N to extend a finished one) or --overwrite to start afresh`);
  }
  if (a.overwrite && (await fs.exists(out))) {
    // only what a run writes: a stale step folder would outlive the new run's pruning (names sort by step)
    for (const n of await fs.readdir(out)) if (/^step-\d+$|^latest\.json$|^loss\.svg$|^\.step-.*\.tmp$/.test(n)) await fs.remove(join(out, n));
  }
  const stepsAsked = argv.some((x) => x === '--steps' || x.startsWith('--steps=')) ? num('steps', a.steps) : undefined;
  const backend = await ctx.createBackend(a.backend!);
  const bar = new ProgressBar();

  let model: GPT,
    tokenizer: GPTTokenizer,
    startStep = 0,
    history: HistoryPoint[] = [];
  if (a['reset-optimizer'] && !a.resume) throw new Error('--reset-optimizer only applies with --resume');
  const corpus = await loadCorpus(a.corpus ?? ['moby-dick'], { encoding: a.encoding });
  let seed = num('seed', a.seed)!,
    steps = num('steps', a.steps)!,
    batch = num('batch', a.batch)!;
  let seq = num('seq', a.seq),
    lr = num('lr', a.lr),
    warmup = num('warmup', a.warmup),
    micro = num('micro-batch', a['micro-batch']);
  let resumed: { state: TrainState; file: string; optimizer: OptimizerState | null } | undefined;

  if (a.resume) {
    const loaded = await loadModel(fs, out, backend, { withOptimizer: true, resetOptimizer: a['reset-optimizer'] });
    const dir = loaded.checkpoint.dir,
      file = join(dir, 'train_state.json');
    resumed = { state: loaded.checkpoint.trainState!, file, optimizer: loaded.checkpoint.optimizer };
    ({ model, tokenizer } = loaded);
    // the run's own settings win: a resumed run continues the same schedule and batches
    const r = resumeSettings(resumed.state, file);
    ({ steps, batchSize: batch, seqLen: seq, lr, warmupSteps: warmup, seed, step: startStep, history } = r);
    // a memory knob: another micro-batch gives the same steps up to summation order (the same bits when equal)
    micro ??= r.microBatch;
    if (stepsAsked !== undefined) {
      if (stepsAsked < startStep) throw new Error(`pretrain --resume --steps ${stepsAsked}: the run is already at step ${startStep}`);
      // the cosine schedule now ends at the new last step: from here the learning rate follows that curve
      steps = stepsAsked;
    }
    if (seq > model.cfg.nCtx)
      throw new FileFormatError(file, `options.seqLen ${seq} exceeds the model's context window of ${model.cfg.nCtx}`, { field: 'options.seqLen' });
    bar.log(`resuming ${dir} at step ${startStep}/${steps}${a['reset-optimizer'] ? ' with a fresh optimizer state (--reset-optimizer)' : ''}`);
  } else {
    const cfg0 = preset(a.preset!);
    if (a.tokenizer === 'gpt2') {
      const f = await gpt2TokenizerFiles();
      tokenizer = GPTTokenizer.fromJSON(gpt2TokenizerJSON(f.encoder, f.vocabBpe));
    } else if (a.tokenizer === 'train') {
      const vocab = num('vocab', a.vocab) ?? cfg0.vocabSize;
      const merges = vocab - 256 - 4;
      if (merges < 1) throw new Error(`--vocab ${vocab} leaves no room for merges (256 bytes + 4 special tokens come first)`);
      const t0 = Date.now();
      tokenizer = trainTokenizerFromTexts(corpus.texts, merges);
      bar.log(`trained a byte-level BPE tokenizer: ${tokenizer.vocabSize} tokens in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    } else {
      tokenizer = GPTTokenizer.fromJSON(
        await readTextChecked(fs, a.tokenizer!, { maxBytes: FILE_LIMITS.tokenizer, what: 'a tokenizer.json may have' }),
        a.tokenizer!,
      );
    }
    const cfg = preset(a.preset!, { vocabSize: tokenizer.vocabSize });
    model = new GPT(backend, cfg).init(seed);
  }
  seq ??= model.cfg.nCtx;
  model.recompute = a.recompute!;
  warmup ??= Math.min(2000, Math.floor(steps / 10));

  const t0 = Date.now();
  const source = tokenSource(corpus.texts, tokenizer);
  const tokens = await tokenizeCached(fs, '.cache/gptedge/tokens', corpus.texts, tokenizer, { source, onRebuild: (why) => bar.log(`token cache ${why}`) });
  const identity: DataIdentity = { ...source, tokens: tokens.length };
  if (resumed && !checkSameData(resumed.state, identity, resumed.file)) {
    bar.log(`note: ${resumed.file} does not record the data the run trained on (an older gptedge); make sure --corpus is the same`);
  }
  const data = new TokenDataset(tokens, seq, num('val-fraction', a['val-fraction'])!);
  const h1 = unigramEntropy(data.val);
  bar.log(
    `corpus ${corpus.name}: ${tokens.length.toLocaleString('en-US')} tokens (${((Date.now() - t0) / 1000).toFixed(1)} s), validation ${data.val.length.toLocaleString('en-US')}; unigram entropy of the validation split ${h1.toFixed(3)} nats/token`,
  );
  const nParams = model.specs.reduce((n, s) => n + s.shape.reduce((x, y) => x * y, 1), 0);
  bar.log(
    `model ${a.preset} (${model.cfg.layout}, ${model.cfg.nLayer}×${model.cfg.nEmbd}, ${model.cfg.nHead} heads, context ${model.cfg.nCtx}): ${(nParams / 1e6).toFixed(2)}M parameters on the ${backend.name} backend`,
  );

  const tokJSON = tokenizer.toJSON();
  const writePlot = async (h: HistoryPoint[]) => {
    await fs.mkdir(out);
    await fs.writeFile(join(out, 'loss.svg'), lossCurveSVG(h, `gptedge pretrain ${a.preset} on ${corpus.name}`, { label: 'unigram entropy', value: h1 }));
  };
  let state;
  const optimizer = modelOptimizer(model, resumed?.optimizer);
  try {
    state = await pretrain(model, data, {
      steps,
      batchSize: batch,
      microBatch: micro,
      lr: lr ?? 2.5e-4,
      warmupSteps: warmup,
      seed,
      startStep,
      history,
      optimizer,
      onMemory: (m) =>
        bar.log(
          `memory: about ${mib(m.total)} for micro-batches of ${m.micro} × ${m.T} positions${m.recompute ? ', blocks recomputed' : ''} (${describe(m)})` +
            (m.limit !== undefined ? `; the ${backend.name} backend holds at most ${mib(m.limit)}` : ''),
        ),
      evalEvery: num('eval-every', a['eval-every']),
      checkpointEvery: num('ckpt-every', a['ckpt-every']),
      maxSeconds: a.minutes !== undefined ? num('minutes', a.minutes)! * 60 : undefined,
      onStep: (e) => bar.update(e),
      onEval: (e) => bar.log(`step ${e.step}: validation loss ${e.valLoss.toFixed(4)} (perplexity ${e.valPerplexity.toFixed(1)})`),
      checkpoint: async (st, opt) => {
        await fs.mkdir(out);
        const dir = await saveCheckpoint(fs, out, model, tokJSON, { ...st, data: identity }, { keep: 2, optimizer: opt });
        await writePlot(st.history);
        bar.log(`checkpoint ${dir}`);
      },
    });
  } catch (err) {
    bar.end();
    if (err instanceof NonFiniteLossError) {
      const last = await resolveModelDir(fs, out).catch(() => null);
      console.error(`gptedge: ${err.message}. ${last ? `The last good checkpoint is ${last}.` : 'No checkpoint was written before it.'}`);
      return 1;
    }
    throw err;
  } finally {
    optimizer.free();
  }
  bar.end();
  const lastVal = [...state.history].reverse().find((h) => h.valLoss !== undefined)?.valLoss;
  console.log(
    `done: ${state.step} steps in ${formatDuration((Date.now() - t0) / 1000)}; validation loss ${lastVal?.toFixed(4) ?? '?'} vs unigram entropy ${h1.toFixed(4)}; loss curve ${join(out, 'loss.svg')}`,
  );
  const nSamples = num('samples', a.samples)!;
  const prompts = ['Call me', 'The whale', 'It was', 'And the sea', 'I'];
  for (let i = 0; i < nSamples; i++) {
    const p = prompts[i % prompts.length];
    const g = await generate(model, tokenizer, p, { maxTokens: 40, temperature: 0.8, topK: 40, seed: i + 1 });
    console.log(`\n--- sample ${i + 1} ---\n${p}${g.text}`);
  }
  return 0;
}
