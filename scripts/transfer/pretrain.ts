// Parts 1–2 of the transfer study: the pretraining corpus with its tokenizer, and the pretraining run
// (checkpoints every PRETRAIN.ckptEvery steps, kept for the zero-shot part; a killed run resumes
// exactly from its last checkpoint, optimizer moments included).
import { existsSync, readFileSync } from 'node:fs';
import { NodeFileSystem } from '../../adapters/node/fs.ts';
import type { Backend } from '../../src/backend/backend.ts';
import { loadCheckpoint, saveCheckpoint, stepDirName } from '../../src/io/checkpoint.ts';
import { GPT } from '../../src/model/gpt.ts';
import { paramCount } from '../../src/model/params.ts';
import { trainTokenizerFromTexts } from '../../src/tokenizer/train.ts';
import { TokenDataset } from '../../src/train/data.ts';
import { pretrain, type HistoryPoint } from '../../src/train/pretrain.ts';
import { buildPretrainCorpus, checkSources } from './corpus.ts';
import { DATA_SEED, MERGES, OUT, PRETRAIN, TOKENIZER_FILE, loadTokenizer, log, modelConfig, once, readJSON, writeAtomicBytes } from './common.ts';

export interface CorpusSummary {
  docs: number;
  chars: Record<string, number>;
  tokens: number;
  trainTokens: number;
  valTokens: number;
  vocabSize: number;
  heldOut: { mobyDickChapters: number[]; bibleBooks: string[] };
  /** entropy of the training tokens' unigram distribution, nats/token: the loss of a model that knows only token frequencies */
  unigramEntropy: number;
  /** the same distribution's cross-entropy on the validation tokens (unseen tokens get add-one counts) */
  unigramValLoss: number;
  seconds: { corpus: number; bpe: number; encode: number };
}

const TOKENS_FILE = `${OUT}/tokens.bin`;
export const PRETRAIN_DIR = `${OUT}/pretrain`;

export async function corpusPart(): Promise<CorpusSummary> {
  return once(`${OUT}/corpus.json`, 'corpus + tokenizer', async () => {
    checkSources();
    let t = Date.now();
    const c = buildPretrainCorpus(DATA_SEED, 7);
    const corpus = (Date.now() - t) / 1000;
    log(
      `corpus: ${c.docs.length} documents, ${Object.entries(c.chars)
        .map(([k, v]) => `${k} ${(v / 1e6).toFixed(2)} MB`)
        .join(', ')}`,
    );
    t = Date.now();
    const tok = trainTokenizerFromTexts(
      c.docs.map((d) => d.text),
      MERGES,
    );
    const bpe = (Date.now() - t) / 1000;
    writeAtomicBytes(TOKENIZER_FILE, new TextEncoder().encode(tok.toJSON()));
    log(`BPE: ${MERGES} merges in ${bpe.toFixed(0)} s, vocabulary ${tok.vocabSize}`);
    t = Date.now();
    const eot = tok.specialId('endOfText')!,
      parts: number[][] = [];
    for (const d of c.docs) parts.push(tok.encode(d.text), [eot]);
    const ids = Int32Array.from(parts.flat());
    const encode = (Date.now() - t) / 1000;
    writeAtomicBytes(TOKENS_FILE, new Uint8Array(ids.buffer));
    const ds = new TokenDataset(ids, PRETRAIN.seq, 0.05);
    const counts = new Float64Array(tok.vocabSize);
    for (const id of ds.train) counts[id]++;
    let H = 0;
    for (const n of counts) if (n > 0) H -= (n / ds.train.length) * Math.log(n / ds.train.length);
    let val = 0;
    const denom = ds.train.length + tok.vocabSize;
    for (const id of ds.val) val -= Math.log((counts[id] + 1) / denom);
    return {
      docs: c.docs.length,
      chars: c.chars,
      tokens: ids.length,
      trainTokens: ds.train.length,
      valTokens: ds.val.length,
      vocabSize: tok.vocabSize,
      heldOut: c.heldOut,
      unigramEntropy: H,
      unigramValLoss: val / ds.val.length,
      seconds: { corpus, bpe, encode },
    };
  });
}

export function loadTokens(): Int32Array {
  const b = readFileSync(TOKENS_FILE);
  return new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

export interface PretrainSummary {
  history: HistoryPoint[];
  steps: number;
  seconds: number;
  tokensPerSec: number;
  params: number;
  checkpoints: number[];
  finalValLoss: number;
}

export async function pretrainPart(be: Backend): Promise<PretrainSummary> {
  return once(`${OUT}/pretrain.json`, 'pretraining', async () => {
    const tok = loadTokenizer(),
      tokJSON = tok.toJSON(),
      cfg = modelConfig(tok.vocabSize),
      fs = new NodeFileSystem();
    const data = new TokenDataset(loadTokens(), PRETRAIN.seq, 0.05);
    const model = new GPT(be, cfg).init(PRETRAIN.initSeed);
    let startStep = 0,
      history: HistoryPoint[] = [],
      before = 0;
    const latest = readJSON<{ checkpoint: string }>(`${PRETRAIN_DIR}/latest.json`);
    if (latest && latest.checkpoint !== stepDirName(0)) {
      const ck = await loadCheckpoint(fs, `${PRETRAIN_DIR}/${latest.checkpoint}`, { resume: true });
      model.writeParams(ck.weights);
      if (ck.optimizer) model.writeMoments(ck.optimizer.m, ck.optimizer.v, ck.optimizer.step);
      startStep = ck.trainState!.step;
      history = ck.trainState!.history ?? [];
      before = Number(ck.trainState!.seconds ?? 0);
      log(`pretraining resumes at step ${startStep} (${before.toFixed(0)} s so far)`);
    } else {
      // step 0: the random init, the zero-shot curve's first point and the scratch arms' init scheme
      await saveCheckpoint(fs, PRETRAIN_DIR, model, tokJSON, { step: 0, seed: PRETRAIN.seed, history: [] });
    }
    log(
      `model ${cfg.layout} ${cfg.nLayer}×${cfg.nEmbd}, context ${cfg.nCtx}, ${paramCount(cfg)} parameters; ${data.train.length} training tokens; ${PRETRAIN.steps} steps × ${PRETRAIN.batch} × ${PRETRAIN.seq}`,
    );
    const t0 = Date.now();
    const elapsed = () => before + (Date.now() - t0) / 1000;
    const st = await pretrain(model, data, {
      steps: PRETRAIN.steps,
      batchSize: PRETRAIN.batch,
      lr: PRETRAIN.lr,
      warmupSteps: PRETRAIN.warmup,
      seed: PRETRAIN.seed,
      evalEvery: PRETRAIN.evalEvery,
      evalBatches: PRETRAIN.evalBatches,
      checkpointEvery: PRETRAIN.ckptEvery,
      startStep,
      history,
      onStep: (e) => {
        if (e.step % 50 === 0)
          log(`pretrain step ${e.step}/${e.steps}: loss ${e.loss.toFixed(3)}, ${e.tokensPerSec.toFixed(0)} tokens/s, eta ${(e.etaSec / 60).toFixed(0)} min`);
      },
      onEval: (e) => log(`pretrain step ${e.step}: validation loss ${e.valLoss.toFixed(3)}`),
      checkpoint: async (s) => {
        await saveCheckpoint(fs, PRETRAIN_DIR, model, tokJSON, { ...s, seconds: elapsed() });
      },
    });
    const seconds = elapsed();
    model.free();
    const val = st.history.filter((h) => h.valLoss !== undefined);
    const checkpoints = [0, ...Array.from({ length: Math.floor(PRETRAIN.steps / PRETRAIN.ckptEvery) }, (_, i) => (i + 1) * PRETRAIN.ckptEvery)];
    return {
      history: st.history,
      steps: st.step,
      seconds,
      tokensPerSec: (st.step * PRETRAIN.batch * PRETRAIN.seq) / seconds,
      params: paramCount(cfg),
      checkpoints,
      finalValLoss: val.at(-1)!.valLoss!,
    };
  });
}

/** The pretrained weights at `step` (0 = the random init the run started from). */
export async function pretrainedWeights(step: number): Promise<Map<string, Float32Array>> {
  const dir = `${PRETRAIN_DIR}/${stepDirName(step)}`;
  if (!existsSync(dir)) throw new Error(`${dir} is missing: run the pretrain part first`);
  return (await loadCheckpoint(new NodeFileSystem(), dir)).weights;
}
