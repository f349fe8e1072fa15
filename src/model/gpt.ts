// GPT, written once over the Backend interface, the way llm.c's train_gpt2.c reads: forward and backward
// call the ops in order, each op a forward/backward pair, shapes in comments. The update is the
// optimizer's (src/train/optim.ts), over the tensors `parameters()` hands it.
//
// The order llm.c's gpt2_forward(model, inputs, targets) → gpt2_backward(model) keeps is typed here:
//   const pass = model.forward(ids, B, T, { train });   // (B,T) → activations
//   const loss = pass.loss(targets, weights, 1);         // LM loss, and the LM head's backward
//   pass.backward();                                     // d(h) → parameter gradients
// A pass reads the model's one set of activations, so it refuses use once another forward replaced them.
//
//   h0 = U·W_e + W_p                                   (embedding, dropout)
//   GPT-1 (post-LN): n = LN(x + attn(x));  h = LN(n + mlp(n))
//   GPT-2 (pre-LN):  r = x + attn(LN(x));  h = r + mlp(LN(r));  final LN
//   P(u) = softmax(h_n · W_eᵀ)                          (output head tied to the token embedding)
import type { Arena, Backend, DropoutRng, DType, Tensor } from '../backend/backend.ts';
import type { QuantizedRows } from '../backend/quant.ts';
import type { GPTConfig } from './config.ts';
import { validateConfig } from './config.ts';
import { numel, paramSpecs, type ParamGroup, type ParamSpec } from './params.ts';
import { checkDropoutSites, dropoutRng, transformerSites, type DropoutSites, type TrainStep } from './dropout.ts';
import { activationSpecs, blockOutput, LAYER_ACTS, logitRows, type LayerActName } from './memory.ts';
import { Rng } from '../util/random.ts';
import type { CausalLM, CausalStep } from './causal-lm.ts';

/** parameters that may be stored in lower precision (GPTOptions.weights): they only feed matmul's b or the embedding */
export const HALF_WEIGHTS = /^wte\.weight$|\.(c_attn|c_proj|c_fc)\.weight$/;
/** the linear layers' weights, [in, out]: quantized, they are stored transposed (a row per output, K quantized) */
export const LINEAR_WEIGHTS = /\.(c_attn|c_proj|c_fc)\.weight$/;

/** How a model stores its matrices: f32 (training), or for inference f16, int8 (per output channel) or int4 (Q4_0 groups). */
export type WeightsKind = 'f32' | 'f16' | 'int8' | 'int4';
export const WEIGHTS_KINDS: WeightsKind[] = ['f32', 'f16', 'int8', 'int4'];
const STORAGE: Record<WeightsKind, DType> = { f32: 'f32', f16: 'f16', int8: 'q8', int4: 'q4' };

export interface GPTOptions {
  /**
   * Inference storage of the matrices (token embedding, attention and MLP weights; default 'f32'): 'f16'
   * halves their memory on backends with f16Storage; 'int8' and 'int4' quantize them (src/backend/quant.ts)
   * on backends with quantStorage. Such a model cannot be trained.
   */
  weights?: WeightsKind;
  /**
   * Storage of the KV caches newKVCache allocates (generation, serving; default 'f32'): 'f16' halves their
   * memory on backends with halfKVCache (WASM; the reference as the oracle); attention computes in f32.
   */
  kvCache?: 'f32' | 'f16';
}

/** What one block saves for its backward pass (names: memory.ts LAYER_ACTS; both LN layouts). */
interface LayerActs {
  ln1: Tensor;
  ln1Mean: Tensor;
  ln1Rstd: Tensor; // (B,T,C), (B,T), (B,T)
  qkv: Tensor; // (B,T,3C)
  atty: Tensor; // (B,T,C) attention output before the projection
  lse: Tensor; // (B,NH,T) softmax logsumexp
  attproj: Tensor; // (B,T,C)
  res2: Tensor; // (B,T,C) x + attn
  ln2: Tensor;
  ln2Mean: Tensor;
  ln2Rstd: Tensor; // (B,T,C), (B,T), (B,T)
  fch: Tensor;
  fchGelu: Tensor; // (B,T,4C)
  fcproj: Tensor; // (B,T,C)
  res3: Tensor; // (B,T,C)
}
type LayerActsRecord = Record<LayerActName, Tensor> & LayerActs;

interface Acts {
  capacity: number; // B*T the buffers hold
  encoded: Tensor; // (B,T,C)
  layers: LayerActs[];
  lnf: Tensor;
  lnfMean: Tensor;
  lnfRstd: Tensor;
  ids: Tensor;
  targets: Tensor;
  weights: Tensor;
  losses: Tensor; // (B,T)
  loss: Tensor; // (1)
  // backward scratch (absent for models that cannot train)
  dh: Tensor;
  gA: Tensor;
  gB: Tensor;
  gC: Tensor; // (B,T,C)
  gQKV: Tensor; // (B,T,3C)
  gF1: Tensor;
  gF2: Tensor; // (B,T,4C)
  /** the LM head's (rows, V) chunk, allocated by the first lmLoss */
  logits: Tensor | null;
}

export interface ForwardOptions {
  /**
   * dropout on, with masks drawn from (seed, step); a micro-batch passes `row0`, its first row's place
   * in the whole batch, and draws the masks the whole batch would for its rows
   */
  train?: TrainStep;
  /** inference: ids are the next T positions after cache.pos, whose keys and values the cache keeps */
  cache?: KVCache;
  /**
   * Continuous batching (inference, with a cache of S slots): the ids (B = 1, T = N) are runs of several
   * sequences, run r being `length` tokens of cache slot `slot` from position `pos` on — a chunk of a
   * prompt, or one decoded token. Each run attends to its own slot only; cache.pos is not used.
   */
  ragged?: { slot: number; pos: number; length: number }[];
}

/**
 * One forward pass, as GPT.forward returns it: what can follow a forward, in the only order that is
 * sound — loss (with the LM head's backward), then backward; or logits read back. The model keeps one
 * set of activations, so a pass is usable until the next forward (or a change that frees them): after
 * that, and after its backward, every call throws.
 */
export interface ForwardPass extends CausalStep {
  readonly B: number;
  readonly T: number;
  /** h_n (B,T,C): the hidden states of the last position-wise layer (after ln_f for pre-LN) */
  hidden(): Tensor;
  /**
   * The LM loss Σ_n w_n · CE(h_n·W_eᵀ, target_n) over the B*T positions into a (1) tensor; targets -1 are
   * ignored. With `gradScale`, also the head's backward (once per pass, before hiddenGrad): d(h) is
   * overwritten and dW_e accumulated.
   */
  loss(targets: Int32Array, weights: Float32Array, gradScale?: number): Tensor;
  /** d(h_n) (B,T,C), where task heads add their gradients before `backward` (after loss's, if any) */
  hiddenGrad(): Tensor;
  /** d(h) back through the transformer into the parameter gradients (accumulated), with the forward's dropout masks */
  backward(): void;
  /** Logits (R,V) of the given rows (positions b*T + t), read back. */
  rowLogits(rows: Int32Array): Promise<Float32Array>;
  /** Logits (B*T, V) of every position, read back (scoring, tests). */
  allLogits(): Promise<Float32Array>;
}

export interface KVCache {
  B: number;
  Tmax: number;
  k: Tensor[]; // per layer (B,Tmax,C)
  v: Tensor[];
  pos: number; // positions filled
}

export class GPT implements CausalLM<KVCache> {
  readonly cfg: GPTConfig;
  readonly be: Backend;
  readonly specs: ParamSpec[];
  readonly params: Arena;
  grads: Arena | null = null;
  private acts: Acts | null = null;
  /** the dropout streams of a training step this model draws from (src/model/dropout.ts) */
  readonly dropoutSites: DropoutSites;

  /** how the matrices (token embedding, attention and MLP weights) are stored */
  readonly weights: WeightsKind;
  /** quantized: the linear weights are stored transposed, (out, in), and multiplied with transB */
  private readonly quantized: boolean;
  /** how the KV caches of newKVCache store k and v */
  readonly kvCache: 'f32' | 'f16';

  constructor(be: Backend, cfg: GPTConfig, opts: GPTOptions = {}) {
    this.cfg = validateConfig({ ...cfg });
    this.be = be;
    this.specs = paramSpecs(this.cfg);
    this.weights = opts.weights ?? 'f32';
    if (!WEIGHTS_KINDS.includes(this.weights)) throw new Error(`weights must be one of ${WEIGHTS_KINDS.join(', ')}, got ${JSON.stringify(this.weights)}`);
    if (this.weights === 'f16' && !be.f16Storage)
      throw new Error(`f16 weights: backend ${be.name} has no f16 storage (use WebGPU on an adapter with shader-f16)`);
    this.quantized = this.weights === 'int8' || this.weights === 'int4';
    if (this.quantized && !be.quantStorage)
      throw new Error(`${this.weights} weights: backend ${be.name} has no quantized storage (use the WASM backend, or the reference)`);
    this.kvCache = opts.kvCache ?? 'f32';
    if (this.kvCache !== 'f32' && this.kvCache !== 'f16') throw new Error(`kvCache must be f32 or f16, got ${JSON.stringify(this.kvCache)}`);
    if (this.kvCache === 'f16' && !be.halfKVCache) throw new Error(`an f16 KV cache: backend ${be.name} has none (use the WASM backend)`);
    this.params = this.paramArena(STORAGE[this.weights]);
    const c = this.cfg;
    this.dropoutSites = transformerSites(c.nLayer, c.embdPdrop > 0 || c.attnPdrop > 0 || c.residPdrop > 0);
  }

  /**
   * An arena shaped like the parameters (weights, gradients); rows let a backend split a
   * large one. With a `storage` other than f32, the matrices that only ever feed matmul's b operand or the
   * embedding gather take it (quantized linears transposed: rows of `in`); position embeddings, biases
   * and LayerNorm stay f32.
   */
  private paramArena(storage: DType = 'f32'): Arena {
    return this.be.allocArena(
      this.specs.map((s) => {
        const low = storage !== 'f32' && HALF_WEIGHTS.test(s.name);
        return {
          name: s.name,
          length: numel(s.shape),
          rowLength: low && this.storedTransposed(s.name) ? s.shape[0] : s.shape[s.shape.length - 1],
          dtype: low ? storage : 'f32',
        };
      }),
    );
  }

  /** whether parameter `name` is stored as the transpose of its [in, out] shape (quantized linears) */
  storedTransposed(name: string): boolean {
    return this.quantized && LINEAR_WEIGHTS.test(name);
  }
  /** whether parameter `name` is held quantized (readQuantizedParam / writeQuantizedParam apply) */
  isQuantizedParam(name: string): boolean {
    return this.quantized && HALF_WEIGHTS.test(name);
  }

  private trainable(what: string): void {
    if (this.weights !== 'f32') throw new Error(`${what}: this model's weights are stored in ${this.weights}, for inference; train with f32 weights`);
  }

  /** The paper's init: weights N(0, initStd), biases 0, LN gains 1. */
  init(seed: number): this {
    const rng = new Rng(seed);
    for (const s of this.specs) {
      const a = new Float32Array(numel(s.shape));
      if (s.init === 'ones') a.fill(1);
      else if (s.init === 'normal') for (let i = 0; i < a.length; i++) a[i] = rng.normal() * this.cfg.initStd;
      this.be.write(this.params[s.name], a);
    }
    return this;
  }

  p(name: string): Tensor {
    const t = this.params[name];
    if (!t) throw new Error(`no parameter named ${name}`);
    return t;
  }
  private g(name: string): Tensor {
    return this.grads![name];
  }

  // ---- memory -------------------------------------------------------------------------------------
  /**
   * Activation recomputation: keep only each block's output, and run the block's forward again during
   * backward (about a third more compute; the activations of one block instead of all). Gradients are
   * the same, bit for bit: the recomputed forward repeats the same ops on the same inputs and masks.
   */
  get recompute(): boolean {
    return this.recomputeBlocks;
  }
  set recompute(on: boolean) {
    if (on === this.recomputeBlocks) return;
    this.recomputeBlocks = on;
    this.freeActs();
  }
  private recomputeBlocks = false;

  private ensureActs(BT: number): Acts {
    if (this.acts && this.acts.capacity >= BT) return this.acts;
    this.freeActs();
    // a model that cannot train needs no backward: its layers share one set of activations (each layer
    // reads its input before overwriting the buffer that held it), and its LM-head chunk waits for lmLoss
    const training = this.weights === 'f32',
      L = this.cfg.nLayer,
      out = blockOutput(this.cfg),
      rc = training && this.recomputeBlocks;
    const a = this.be.allocArena(activationSpecs(this.cfg, BT, { recompute: rc, inference: !training, be: this.be }));
    this.actsArena = a;
    const layers: LayerActs[] = [];
    for (let l = 0; l < L; l++) {
      const la = {} as LayerActsRecord;
      for (const n of LAYER_ACTS) la[n] = a[!training ? `0.${n}` : rc && n !== out ? `w.${n}` : `${l}.${n}`];
      layers.push(la);
    }
    this.acts = {
      capacity: BT,
      encoded: a.encoded,
      layers,
      lnf: a.lnf,
      lnfMean: a.lnfMean,
      lnfRstd: a.lnfRstd,
      ids: a.ids,
      targets: a.targets,
      weights: a.weights,
      losses: a.losses,
      loss: a.loss,
      dh: a.dh,
      gA: a.gA,
      gB: a.gB,
      gC: a.gC,
      gQKV: a.gQKV,
      gF1: a.gF1,
      gF2: a.gF2,
      logits: a.logits ?? null,
    };
    return this.acts;
  }
  private actsArena: Arena | null = null;
  private freeActs(): void {
    this.passes++; // the activations a pass reads are gone
    if (this.actsArena) this.be.free(...Object.values(this.actsArena));
    if (this.acts?.logits && !this.actsArena?.logits) this.be.free(this.acts.logits);
    this.acts = this.actsArena = null;
  }

  private ensureGrads(): Arena {
    this.trainable('gradients');
    if (!this.grads) this.grads = this.paramArena();
    return this.grads;
  }

  zeroGrad(): void {
    const g = this.ensureGrads();
    for (const s of this.specs) this.be.fill(g[s.name], 0);
  }

  /** Every parameter with its gradient, for an optimizer (allocates the gradients; f32 models only). */
  parameters(): ParamGroup {
    this.trainable('parameters');
    const g = this.ensureGrads();
    return {
      name: 'the transformer',
      tensors: this.specs.map((s) => ({ name: s.name, param: this.params[s.name], grad: g[s.name], decay: s.decay, rowLength: s.shape[s.shape.length - 1] })),
    };
  }

  // ---- forward ------------------------------------------------------------------------------------
  /** forwards run (and activation frees): a pass is current while this still holds its number */
  private passes = 0;

  /**
   * Runs the transformer on ids (B,T) and returns the pass that reads it: its loss, backward and logits.
   * With `opts.cache`, ids are the next T positions after cache.pos (inference only).
   */
  forward(ids: Int32Array, B: number, T: number, opts: ForwardOptions = {}): ForwardPass {
    this.passes++; // the previous pass is stale from here, even if this forward fails midway
    this.transformer(ids, B, T, opts);
    const n = ++this.passes,
      BT = B * T;
    let lossGrad = false,
      dhTaken = false,
      done = false;
    const live = (call: string): void => {
      const why = 'another forward ran on the model since (or its activations were freed); run forward again';
      if (n !== this.passes) throw new Error(`${call}: this forward pass is stale — ${why}`);
      if (done) throw new Error(`${call}: this forward pass has run its backward; run forward again`);
    };
    return {
      B,
      T,
      hidden: () => (live('hidden()'), this.hidden()),
      loss: (targets, weights, gradScale) => {
        live('loss()');
        if (targets.length !== BT || weights.length !== BT) {
          throw new Error(`loss(): ${targets.length} targets and ${weights.length} weights for a pass of B*T = ${BT} positions`);
        }
        if (gradScale !== undefined) {
          if (lossGrad) throw new Error("loss(): the LM head's backward already ran on this pass (it accumulates dW_e once per pass)");
          if (dhTaken) throw new Error('loss() with a gradient overwrites d(h): call it before hiddenGrad()');
          lossGrad = true;
        }
        return this.lmLoss(targets, weights, BT, gradScale);
      },
      hiddenGrad: () => {
        live('hiddenGrad()');
        this.trainable('hiddenGrad()');
        dhTaken = true;
        return this.acts!.dh;
      },
      backward: () => {
        live('backward()');
        if (!lossGrad && !dhTaken) {
          throw new Error('backward(): no gradient of h on this pass; call loss(targets, weights, gradScale) or write hiddenGrad() first');
        }
        this.backward(B, T, opts.train);
        done = true;
      },
      // async: a stale pass rejects; the check itself runs at the call, before the next forward can
      lastLogits: async () => (live('lastLogits()'), this.rowLogits(new Int32Array(B).map((_, b) => b * T + T - 1))),
      rowLogits: async (rows) => (live('rowLogits()'), this.rowLogits(rows)),
      allLogits: async () => (live('allLogits()'), this.allLogits(BT)),
    };
  }

  /** h_n (B,T,C) of the last forward. */
  private hidden(): Tensor {
    const a = this.acts!;
    return this.cfg.layout === 'pre-ln' ? a.lnf : a.layers[this.cfg.nLayer - 1].ln2;
  }

  /** The transformer on ids (B,T), into the activations; with a KV cache, the next T positions after cache.pos. */
  private transformer(ids: Int32Array, B: number, T: number, opts: ForwardOptions): void {
    const { nEmbd: C, nLayer: L } = this.cfg;
    const cache = opts.cache,
      pos0 = cache ? cache.pos : 0,
      ragged = opts.ragged;
    if (ids.length !== B * T) throw new Error(`ids hold ${ids.length} tokens, expected B*T = ${B * T}`);
    if (ragged) this.checkRagged(ragged, B * T, cache);
    else if (pos0 + T > this.cfg.nCtx) throw new Error(`sequence of ${pos0 + T} tokens exceeds the context window of ${this.cfg.nCtx}`);
    for (let i = 0; i < ids.length; i++) {
      if (!(ids[i] >= 0 && ids[i] < this.cfg.vocabSize))
        throw new Error(`token id ${ids[i]} at position ${i} is outside the vocabulary of ${this.cfg.vocabSize}`);
    }
    const be = this.be,
      a = this.ensureActs(B * T),
      BT = B * T;
    const train = opts.train;
    be.write(a.ids, ids);
    let slotPos: Tensor | null = null;
    if (ragged) {
      // each run's tokens take the position embeddings from its own position on
      let off = 0;
      for (const r of ragged) {
        be.encoderForward(
          be.slice(a.encoded, off * C, r.length * C),
          be.slice(a.ids, off, r.length),
          this.p('wte.weight'),
          this.p('wpe.weight'),
          1,
          r.length,
          C,
          r.pos,
        );
        off += r.length;
      }
      slotPos = this.slotPositions(ragged, BT);
    } else be.encoderForward(a.encoded, a.ids, this.p('wte.weight'), this.p('wpe.weight'), B, T, C, pos0);
    if (train) checkDropoutSites([this.dropoutSites]);
    const rng = this.dropRng(train, 0, T * C);
    if (rng && this.cfg.embdPdrop > 0) be.dropoutForward(a.encoded, a.encoded, BT * C, this.cfg.embdPdrop, rng);
    let x = a.encoded;
    for (let l = 0; l < L; l++) x = this.blockForward(l, x, B, T, train, cache, slotPos);
    if (this.cfg.layout === 'pre-ln') {
      be.layernormForward(a.lnf, a.lnfMean, a.lnfRstd, x, this.p('ln_f.weight'), this.p('ln_f.bias'), BT, C, this.cfg.lnEps);
    }
    if (cache && !ragged) cache.pos += T;
  }

  /** Dropout site `site` of a training step; a batch row holds `perRow` of its draws (for micro-batches' offsets). */
  private dropRng(train: TrainStep | undefined, site: number, perRow: number): DropoutRng | null {
    return train ? dropoutRng(train, site, (train.row0 ?? 0) * perRow) : null;
  }

  /**
   * Block l on x (B,T,C): its activations into acts.layers[l]; returns its output. With a cache, new
   * positions only; with slotPos (ragged decode), BT tokens of several sequences, each in its slot.
   */
  private blockForward(l: number, x: Tensor, B: number, T: number, train: TrainStep | undefined, cache?: KVCache, slotPos?: Tensor | null): Tensor {
    const { nEmbd: C, nHead: NH, nInner: F } = this.cfg;
    const be = this.be,
      la = this.acts!.layers[l],
      BT = B * T,
      pos0 = cache ? cache.pos : 0;
    const P = (n: string) => this.p(`h.${l}.${n}`);
    const tw = this.quantized; // quantized linear weights are stored (out, in): multiplied with transB
    const dropout = (t: Tensor, n: number, p: number, site: number) => {
      const rng = this.dropRng(train, site, T * C);
      if (rng && p > 0) be.dropoutForward(t, t, n, p, rng);
    };
    const attention = (inp: Tensor) => {
      be.matmul(la.qkv, inp, P('attn.c_attn.weight'), P('attn.c_attn.bias'), BT, C, 3 * C, false, tw, 0);
      if (slotPos) be.attentionRagged(la.atty, la.qkv, cache!.k[l], cache!.v[l], slotPos, BT, C, NH, cache!.Tmax);
      else if (cache) be.attentionCached(la.atty, la.qkv, cache.k[l], cache.v[l], B, T, C, NH, pos0, cache.Tmax);
      else be.attentionForward(la.atty, la.lse, la.qkv, B, T, C, NH, train ? this.cfg.attnPdrop : 0, this.dropRng(train, 1 + 3 * l, NH * T * T));
      be.matmul(la.attproj, la.atty, P('attn.c_proj.weight'), P('attn.c_proj.bias'), BT, C, C, false, tw, 0);
      dropout(la.attproj, BT * C, this.cfg.residPdrop, 2 + 3 * l);
    };
    const mlp = (inp: Tensor) => {
      be.matmul(la.fch, inp, P('mlp.c_fc.weight'), P('mlp.c_fc.bias'), BT, C, F, false, tw, 0);
      be.geluForward(la.fchGelu, la.fch, BT * F);
      be.matmul(la.fcproj, la.fchGelu, P('mlp.c_proj.weight'), P('mlp.c_proj.bias'), BT, F, C, false, tw, 0);
      dropout(la.fcproj, BT * C, this.cfg.residPdrop, 3 + 3 * l);
    };
    const eps = this.cfg.lnEps;
    if (this.cfg.layout === 'post-ln') {
      attention(x);
      be.residualForward(la.res2, x, la.attproj, BT * C);
      be.layernormForward(la.ln1, la.ln1Mean, la.ln1Rstd, la.res2, P('ln_1.weight'), P('ln_1.bias'), BT, C, eps);
      mlp(la.ln1);
      be.residualForward(la.res3, la.ln1, la.fcproj, BT * C);
      be.layernormForward(la.ln2, la.ln2Mean, la.ln2Rstd, la.res3, P('ln_2.weight'), P('ln_2.bias'), BT, C, eps);
      return la.ln2;
    }
    be.layernormForward(la.ln1, la.ln1Mean, la.ln1Rstd, x, P('ln_1.weight'), P('ln_1.bias'), BT, C, eps);
    attention(la.ln1);
    be.residualForward(la.res2, x, la.attproj, BT * C);
    be.layernormForward(la.ln2, la.ln2Mean, la.ln2Rstd, la.res2, P('ln_2.weight'), P('ln_2.bias'), BT, C, eps);
    mlp(la.ln2);
    be.residualForward(la.res3, la.res2, la.fcproj, BT * C);
    return la.res3;
  }

  private checkRagged(runs: NonNullable<ForwardOptions['ragged']>, N: number, cache?: KVCache): void {
    if (!cache) throw new Error('a ragged batch needs a KV cache (its slots)');
    let n = 0;
    for (const r of runs) {
      if (!(Number.isInteger(r.slot) && r.slot >= 0 && r.slot < cache.B)) throw new Error(`ragged run in slot ${r.slot}: the cache has ${cache.B} slots`);
      if (!(Number.isInteger(r.pos) && r.pos >= 0 && Number.isInteger(r.length) && r.length >= 1 && r.pos + r.length <= Math.min(cache.Tmax, this.cfg.nCtx))) {
        throw new Error(
          `ragged run of ${r.length} tokens from position ${r.pos} in slot ${r.slot} exceeds the window of ${Math.min(cache.Tmax, this.cfg.nCtx)}`,
        );
      }
      n += r.length;
    }
    if (n !== N) throw new Error(`ragged runs hold ${n} tokens, the ids ${N}`);
  }

  /** (N,2) i32 slot and position of every token of the runs, on the device (kept between steps). */
  private slotPositions(runs: NonNullable<ForwardOptions['ragged']>, N: number): Tensor {
    if (!this.slotPos || this.slotPos.length < 2 * N) {
      if (this.slotPos) this.be.free(this.slotPos);
      this.slotPos = this.be.alloc(2 * Math.max(N, 16), 'i32');
    }
    const sp = new Int32Array(2 * N);
    let i = 0;
    for (const r of runs) for (let j = 0; j < r.length; j++, i += 2) (sp[i] = r.slot), (sp[i + 1] = r.pos + j);
    this.be.write(this.slotPos, sp);
    return this.be.slice(this.slotPos, 0, 2 * N);
  }
  private slotPos: Tensor | null = null;

  /** ForwardPass.loss: the (rows, V) logits exist one chunk at a time, forward and backward fused (llm.c's classifier). */
  private lmLoss(targets: Int32Array, weights: Float32Array, BT: number, gradScale?: number): Tensor {
    const be = this.be,
      a = this.acts!,
      { nEmbd: C, vocabSize: V } = this.cfg;
    if (gradScale !== undefined) this.trainable('the LM head backward');
    const h = this.hidden(),
      wte = this.p('wte.weight');
    be.write(a.targets, targets);
    be.write(a.weights, weights);
    be.fill(a.loss, 0);
    const logits = (a.logits ??= be.alloc(logitRows(a.capacity, V, be) * V));
    const rows = logits.length / V;
    for (let r0 = 0; r0 < BT; r0 += rows) {
      const n = Math.min(rows, BT - r0);
      const hc = be.slice(h, r0 * C, n * C),
        tc = be.slice(a.targets, r0, n),
        wc = be.slice(a.weights, r0, n);
      be.matmul(logits, hc, wte, null, n, C, V, false, true, 0); // (n,V) = h·W_eᵀ
      be.crossEntropyForward(be.slice(a.losses, r0, n), a.loss, logits, tc, wc, n, V);
      if (gradScale !== undefined) {
        be.crossEntropyBackward(logits, logits, tc, wc, n, V, gradScale); // in place: logits -> dlogits
        be.matmul(be.slice(a.dh, r0 * C, n * C), logits, wte, null, n, V, C, false, false, 0); // dh = dlogits·W_e
        be.matmul(this.g('wte.weight'), logits, hc, null, V, n, C, true, false, 1); // dW_e += dlogitsᵀ·h
      }
    }
    return a.loss;
  }

  private async rowLogits(rows: Int32Array): Promise<Float32Array> {
    const be = this.be,
      { nEmbd: C, vocabSize: V } = this.cfg,
      B = rows.length;
    // kept between calls (a capacity of rows): decoding asks once per token, and a GPU allocation per token is slow
    if (!this.lastScratch || this.lastScratch.B < B) {
      if (this.lastScratch) be.free(this.lastScratch.idx, this.lastScratch.last, this.lastScratch.logits);
      this.lastScratch = { B, idx: be.alloc(B, 'i32'), last: be.alloc(B * C), logits: be.alloc(B * V) };
    }
    const s = this.lastScratch,
      idx = be.slice(s.idx, 0, B),
      last = be.slice(s.last, 0, B * C),
      logits = be.slice(s.logits, 0, B * V);
    be.write(idx, rows);
    be.gatherRows(last, this.hidden(), idx, B, C);
    be.matmul(logits, last, this.p('wte.weight'), null, B, C, V, false, true, 0);
    return (await be.read(logits)) as Float32Array;
  }
  private lastScratch: { B: number; idx: Tensor; last: Tensor; logits: Tensor } | null = null;

  private async allLogits(BT: number): Promise<Float32Array> {
    const be = this.be,
      { nEmbd: C, vocabSize: V } = this.cfg;
    // row chunks, as in lmLoss: (BT,V) at once would be 205 MB for GPT-2 at 1,024 tokens
    const rows = logitRows(BT, V, be);
    const chunk = be.alloc(rows * V),
      h = this.hidden();
    // one chunk: read's copy is the answer (a second array and copy cost GPT-1's 512 positions ~50 ms)
    const out = rows === BT ? null : new Float32Array(BT * V);
    try {
      for (let r0 = 0; r0 < BT; r0 += rows) {
        const n = Math.min(rows, BT - r0);
        be.matmul(chunk, be.slice(h, r0 * C, n * C), this.p('wte.weight'), null, n, C, V, false, true, 0);
        const got = (await be.read(chunk)) as Float32Array;
        if (!out) return got;
        out.set(got.subarray(0, n * V), r0 * V);
      }
      return out!;
    } finally {
      be.free(chunk);
    }
  }

  // ---- backward -----------------------------------------------------------------------------------
  /** ForwardPass.backward: dh (B,T,C) back through the blocks, each op's backward in reverse order. */
  private backward(B: number, T: number, train: TrainStep | undefined): void {
    this.trainable('backward');
    const be = this.be,
      a = this.acts!,
      BT = B * T;
    const { nEmbd: C, nHead: NH, nLayer: L, nInner: F } = this.cfg;
    // Dropout's backward applies the same mask; without dropout the gradient passes through unchanged.
    const undrop = (dst: Tensor, src: Tensor, n: number, p: number, site: number): Tensor => {
      const rng = this.dropRng(train, site, T * C);
      if (!rng || p === 0) return src;
      be.dropoutBackward(dst, src, n, p, rng);
      return dst;
    };
    const { gA, gB, gC, gQKV, gF1, gF2 } = a;

    // gA = d(output of the last block)
    if (this.cfg.layout === 'pre-ln') {
      const xL = a.layers[L - 1].res3;
      be.fill(gA, 0);
      be.layernormBackward(gA, this.g('ln_f.weight'), this.g('ln_f.bias'), a.dh, xL, this.p('ln_f.weight'), a.lnfMean, a.lnfRstd, BT, C);
    } else {
      be.copy(be.slice(gA, 0, BT * C), be.slice(a.dh, 0, BT * C));
    }

    for (let l = L - 1; l >= 0; l--) {
      const la = a.layers[l],
        x = l === 0 ? a.encoded : this.cfg.layout === 'post-ln' ? a.layers[l - 1].ln2 : a.layers[l - 1].res3;
      // the forward left the last block's activations in place; the others are computed again
      if (this.recomputeBlocks && l < L - 1) this.blockForward(l, x, B, T, train);
      const P = (n: string) => this.p(`h.${l}.${n}`),
        G = (n: string) => this.g(`h.${l}.${n}`);
      const attnP = train ? this.cfg.attnPdrop : 0;

      // mlp backward: dout (BT,C) -> d(mlp input) written to dIn (beta 0) or added (beta 1)
      const mlpBack = (dout: Tensor, inp: Tensor, dIn: Tensor, beta: 0 | 1) => {
        const dfc = undrop(gC, dout, BT * C, this.cfg.residPdrop, 3 + 3 * l);
        be.matmul(gF2, dfc, P('mlp.c_proj.weight'), null, BT, C, F, false, true, 0);
        be.matmul(G('mlp.c_proj.weight'), la.fchGelu, dfc, null, F, BT, C, true, false, 1);
        be.biasBackward(G('mlp.c_proj.bias'), dfc, BT, C);
        be.fill(gF1, 0);
        be.geluBackward(gF1, la.fch, gF2, BT * F);
        be.matmul(dIn, gF1, P('mlp.c_fc.weight'), null, BT, F, C, false, true, beta);
        be.matmul(G('mlp.c_fc.weight'), inp, gF1, null, C, BT, F, true, false, 1);
        be.biasBackward(G('mlp.c_fc.bias'), gF1, BT, F);
      };
      const attnBack = (dout: Tensor, inp: Tensor, dIn: Tensor, beta: 0 | 1) => {
        const dproj = undrop(gC, dout, BT * C, this.cfg.residPdrop, 2 + 3 * l);
        be.matmul(gB, dproj, P('attn.c_proj.weight'), null, BT, C, C, false, true, 0);
        be.matmul(G('attn.c_proj.weight'), la.atty, dproj, null, C, BT, C, true, false, 1);
        be.biasBackward(G('attn.c_proj.bias'), dproj, BT, C);
        be.attentionBackward(gQKV, gB, la.qkv, la.atty, la.lse, B, T, C, NH, attnP, this.dropRng(train, 1 + 3 * l, NH * T * T));
        be.matmul(dIn, gQKV, P('attn.c_attn.weight'), null, BT, 3 * C, C, false, true, beta);
        be.matmul(G('attn.c_attn.weight'), inp, gQKV, null, C, BT, 3 * C, true, false, 1);
        be.biasBackward(G('attn.c_attn.bias'), gQKV, BT, 3 * C);
      };

      if (this.cfg.layout === 'post-ln') {
        // h = LN2(res3), res3 = n + mlp(n), n = LN1(res2), res2 = x + attn(x)
        be.fill(gB, 0);
        be.layernormBackward(gB, G('ln_2.weight'), G('ln_2.bias'), gA, la.res3, P('ln_2.weight'), la.ln2Mean, la.ln2Rstd, BT, C);
        be.copy(be.slice(gA, 0, BT * C), be.slice(gB, 0, BT * C)); // gA = d(res3) = direct part of dn
        mlpBack(gB, la.ln1, gA, 1); // gA = dn
        be.fill(gB, 0);
        be.layernormBackward(gB, G('ln_1.weight'), G('ln_1.bias'), gA, la.res2, P('ln_1.weight'), la.ln1Mean, la.ln1Rstd, BT, C);
        be.copy(be.slice(gA, 0, BT * C), be.slice(gB, 0, BT * C)); // gA = d(res2) = direct part of dx
        attnBack(gA, x, gA, 1); // gA = dx (attnBack reads its dout before it adds into dIn)
      } else {
        // res2 = x + attn(LN1(x)), out = res2 + mlp(LN2(res2)); gA = d(out) = direct part of d(res2)
        mlpBack(gA, la.ln2, gB, 0); // gB = d(ln2)
        be.layernormBackward(gA, G('ln_2.weight'), G('ln_2.bias'), gB, la.res2, P('ln_2.weight'), la.ln2Mean, la.ln2Rstd, BT, C);
        attnBack(gA, la.ln1, gB, 0); // gB = d(ln1)
        be.layernormBackward(gA, G('ln_1.weight'), G('ln_1.bias'), gB, x, P('ln_1.weight'), la.ln1Mean, la.ln1Rstd, BT, C);
      }
    }
    const denc = undrop(gC, gA, BT * C, this.cfg.embdPdrop, 0);
    be.encoderBackward(this.g('wte.weight'), this.g('wpe.weight'), denc, a.ids, B, T, C);
  }

  // ---- state in and out ---------------------------------------------------------------------------
  /** Every parameter as f32 in its [in, out] / HF layout (quantized ones dequantized). */
  async readParams(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const s of this.specs) {
      const v = (await this.be.read(this.params[s.name])) as Float32Array;
      out.set(s.name, this.storedTransposed(s.name) ? transpose(v, s.shape[1], s.shape[0]) : v);
    }
    return out;
  }
  /** Writes every parameter from f32 values in the [in, out] / HF layout (quantizing where the model is quantized). */
  writeParams(values: Map<string, Float32Array>): void {
    for (const s of this.specs) {
      const v = values.get(s.name);
      if (!v) throw new Error(`missing parameter ${s.name}`);
      this.writeParam(s.name, v);
    }
  }
  /** Writes one parameter from f32 values in its [in, out] / HF layout. */
  writeParam(name: string, v: Float32Array): void {
    const s = this.spec(name);
    if (v.length !== numel(s.shape)) throw new Error(`parameter ${s.name}: ${v.length} values, expected ${numel(s.shape)} for shape [${s.shape}]`);
    this.be.write(this.params[s.name], this.storedTransposed(s.name) ? transpose(v, s.shape[0], s.shape[1]) : v);
  }
  /**
   * Writes values [offset, offset + v.length) of parameter `name` in its [in, out] / HF layout: a loader
   * streaming a tensor in pieces. Not for the linears a quantized model stores transposed (they need whole rows).
   */
  writeParamPart(name: string, v: Float32Array, offset: number): void {
    const s = this.spec(name);
    if (this.storedTransposed(name)) throw new Error(`parameter ${name} is stored transposed: write it whole (writeParam)`);
    if (!Number.isInteger(offset) || offset < 0 || offset + v.length > numel(s.shape))
      throw new Error(`parameter ${name}: values [${offset}, ${offset + v.length}) outside its ${numel(s.shape)}`);
    this.be.write(this.params[s.name], v, offset);
  }
  private spec(name: string): ParamSpec {
    const s = this.specs.find((x) => x.name === name);
    if (!s) throw new Error(`no parameter named ${name}`);
    return s;
  }
  /** A quantized parameter's codes and scales, rows = output channels (linears: [out, in]; wte: [V, C]). */
  readQuantizedParam(name: string): Promise<QuantizedRows> {
    if (!this.isQuantizedParam(name)) throw new Error(`parameter ${name} is not quantized in this ${this.weights} model`);
    return this.be.readQuantized!(this.p(name));
  }
  /** Stores codes and scales of a quantized parameter as they are, from row `firstRow` (a loader may stream rows). */
  writeQuantizedParam(name: string, q: QuantizedRows, firstRow = 0): void {
    if (!this.isQuantizedParam(name)) throw new Error(`parameter ${name} is not quantized in this ${this.weights} model`);
    this.be.writeQuantized!(this.p(name), q, firstRow);
  }
  /**
   * Release every buffer this model holds (parameters, gradients, activations). Needed on
   * backends whose memory is not garbage collected (WebGPU buffers, WASM linear memory), e.g. after a
   * vocabulary extension replaced the model. The model is unusable afterwards.
   */
  free(): void {
    for (const a of [this.params, this.grads]) if (a) this.be.free(...Object.values(a));
    this.freeActs();
    if (this.lastScratch) this.be.free(this.lastScratch.idx, this.lastScratch.last, this.lastScratch.logits);
    if (this.slotPos) this.be.free(this.slotPos);
    this.grads = this.lastScratch = this.slotPos = null;
  }

  newKVCache(B: number, Tmax = this.cfg.nCtx): KVCache {
    const C = this.cfg.nEmbd;
    const k: Tensor[] = [],
      v: Tensor[] = [];
    for (let l = 0; l < this.cfg.nLayer; l++) {
      k.push(this.be.alloc(B * Tmax * C, this.kvCache));
      v.push(this.be.alloc(B * Tmax * C, this.kvCache));
    }
    return { B, Tmax, k, v, pos: 0 };
  }
  freeKVCache(c: KVCache): void {
    this.be.free(...c.k, ...c.v);
  }
}

/** (rows, cols) row-major -> (cols, rows) */
function transpose(v: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(v.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = v[r * cols + c];
  return out;
}
