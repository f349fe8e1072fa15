// GPT, written once over the Backend interface, the way llm.c's train_gpt2.c reads: forward, backward
// and update call the ops in order, each op a forward/backward pair, shapes in comments.
//
//   h0 = U·W_e + W_p                                   (embedding, dropout)
//   GPT-1 (post-LN): n = LN(x + attn(x));  h = LN(n + mlp(n))
//   GPT-2 (pre-LN):  r = x + attn(LN(x));  h = r + mlp(LN(r));  final LN
//   P(u) = softmax(h_n · W_eᵀ)                          (output head tied to the token embedding)
import type { Arena, Backend, DropoutRng, Tensor } from '../backend/backend.ts';
import type { GPTConfig } from './config.ts';
import { validateConfig } from './config.ts';
import { numel, paramSpecs, type ParamSpec } from './params.ts';
import { activationSpecs, blockOutput, LAYER_ACTS, logitRows, type LayerActName } from './memory.ts';
import { Rng } from '../util/random.ts';

/** parameters that may be stored in f16 (GPTOptions.weights) */
const HALF_WEIGHTS = /^wte\.weight$|\.(c_attn|c_proj|c_fc)\.weight$/;

export interface GPTOptions {
  /** 'f16' halves the weights' memory for inference on backends with f16Storage (default 'f32') */
  weights?: 'f32' | 'f16';
}

/** What one block saves for its backward pass (names: memory.ts LAYER_ACTS; both LN layouts). */
interface LayerActs {
  ln1: Tensor; ln1Mean: Tensor; ln1Rstd: Tensor; // (B,T,C), (B,T), (B,T)
  qkv: Tensor; // (B,T,3C)
  atty: Tensor; // (B,T,C) attention output before the projection
  lse: Tensor; // (B,NH,T) softmax logsumexp
  attproj: Tensor; // (B,T,C)
  res2: Tensor; // (B,T,C) x + attn
  ln2: Tensor; ln2Mean: Tensor; ln2Rstd: Tensor; // (B,T,C), (B,T), (B,T)
  fch: Tensor; fchGelu: Tensor; // (B,T,4C)
  fcproj: Tensor; // (B,T,C)
  res3: Tensor; // (B,T,C)
}
type LayerActsRecord = Record<LayerActName, Tensor> & LayerActs;

interface Acts {
  capacity: number; // B*T the buffers hold
  encoded: Tensor; // (B,T,C)
  layers: LayerActs[];
  lnf: Tensor; lnfMean: Tensor; lnfRstd: Tensor;
  ids: Tensor; targets: Tensor; weights: Tensor; losses: Tensor; // (B,T)
  loss: Tensor; // (1)
  logits: Tensor; // (rows, V) chunk
  // backward scratch
  dh: Tensor; gA: Tensor; gB: Tensor; gC: Tensor; // (B,T,C)
  gQKV: Tensor; // (B,T,3C)
  gF1: Tensor; gF2: Tensor; // (B,T,4C)
}

export interface ForwardOptions {
  /**
   * dropout on, with masks drawn from (seed, step); a micro-batch passes `row0`, its first row's place
   * in the whole batch, and draws the masks the whole batch would for its rows
   */
  train?: { seed: number; step: number; row0?: number };
  /** with `train`: run the LM head's backward too, scaling its gradient by this (λ for L3) */
  lmGradScale?: number;
  /**
   * Continuous batching (inference, with a cache of S slots): the ids (B = 1, T = N) are runs of several
   * sequences, run r being `length` tokens of cache slot `slot` from position `pos` on — a chunk of a
   * prompt, or one decoded token. Each run attends to its own slot only; cache.pos is not used.
   */
  ragged?: { slot: number; pos: number; length: number }[];
}

export interface KVCache {
  B: number;
  Tmax: number;
  k: Tensor[]; // per layer (B,Tmax,C)
  v: Tensor[];
  pos: number; // positions filled
}

export class GPT {
  readonly cfg: GPTConfig;
  readonly be: Backend;
  readonly specs: ParamSpec[];
  readonly params: Arena;
  grads: Arena | null = null;
  private moments: { m: Arena; v: Arena } | null = null;
  private acts: Acts | null = null;
  private normSq: Tensor | null = null;
  /** optimizer steps taken (AdamW bias correction) */
  step = 0;

  /** 'f16': the matrices (token embedding, attention and MLP weights) are stored in half precision */
  readonly weights: 'f32' | 'f16';

  constructor(be: Backend, cfg: GPTConfig, opts: GPTOptions = {}) {
    this.cfg = validateConfig({ ...cfg });
    this.be = be;
    this.specs = paramSpecs(this.cfg);
    this.weights = opts.weights ?? 'f32';
    if (this.weights === 'f16' && !be.f16Storage) throw new Error(`f16 weights: backend ${be.name} has no f16 storage (use WebGPU on an adapter with shader-f16)`);
    this.params = this.paramArena(this.weights === 'f16');
  }

  /**
   * An arena shaped like the parameters (weights, gradients, Adam moments); rows let a backend split a
   * large one. With `half`, the matrices that only ever feed matmul's b operand or the embedding gather
   * are f16; position embeddings, biases and LayerNorm stay f32.
   */
  private paramArena(half = false): Arena {
    return this.be.allocArena(this.specs.map((s) => ({
      name: s.name, length: numel(s.shape), rowLength: s.shape[s.shape.length - 1],
      dtype: half && HALF_WEIGHTS.test(s.name) ? 'f16' : 'f32',
    })));
  }

  private trainable(what: string): void {
    if (this.weights === 'f16') throw new Error(`${what}: this model's weights are stored in f16, for inference; train with f32 weights`);
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
    if (this.actsArena) this.be.free(...Object.values(this.actsArena));
    this.acts = this.actsArena = null;
  }
  private recomputeBlocks = false;

  private ensureActs(BT: number): Acts {
    if (this.acts && this.acts.capacity >= BT) return this.acts;
    if (this.acts) this.be.free(...Object.values(this.actsArena!));
    const L = this.cfg.nLayer, out = blockOutput(this.cfg), rc = this.recomputeBlocks;
    const a = this.be.allocArena(activationSpecs(this.cfg, BT, { recompute: rc, be: this.be }));
    this.actsArena = a;
    const layers: LayerActs[] = [];
    for (let l = 0; l < L; l++) {
      const la = {} as LayerActsRecord;
      for (const n of LAYER_ACTS) la[n] = a[rc && n !== out ? `w.${n}` : `${l}.${n}`];
      layers.push(la);
    }
    this.acts = {
      capacity: BT, encoded: a.encoded, layers, lnf: a.lnf, lnfMean: a.lnfMean, lnfRstd: a.lnfRstd,
      ids: a.ids, targets: a.targets, weights: a.weights, losses: a.losses, loss: a.loss, logits: a.logits,
      dh: a.dh, gA: a.gA, gB: a.gB, gC: a.gC, gQKV: a.gQKV, gF1: a.gF1, gF2: a.gF2,
    };
    return this.acts;
  }
  private actsArena: Arena | null = null;

  private ensureGrads(): Arena {
    this.trainable('gradients');
    if (!this.grads) this.grads = this.paramArena();
    return this.grads;
  }

  zeroGrad(): void {
    const g = this.ensureGrads();
    for (const s of this.specs) this.be.fill(g[s.name], 0);
  }

  // ---- forward ------------------------------------------------------------------------------------
  /** The hidden states h_n (B,T,C) of the last position-wise layer (after ln_f for pre-LN). */
  hidden(): Tensor {
    const a = this.acts!;
    return this.cfg.layout === 'pre-ln' ? a.lnf : a.layers[this.cfg.nLayer - 1].ln2;
  }

  /**
   * Runs the transformer on ids (B,T) and returns h_n (B,T,C). With a KV cache, ids are the next T
   * positions after cache.pos (inference only).
   */
  transformer(ids: Int32Array, B: number, T: number, opts: ForwardOptions = {}, cache?: KVCache): Tensor {
    const { nEmbd: C, nLayer: L } = this.cfg;
    const pos0 = cache ? cache.pos : 0, ragged = opts.ragged;
    if (ids.length !== B * T) throw new Error(`ids hold ${ids.length} tokens, expected B*T = ${B * T}`);
    if (ragged) this.checkRagged(ragged, B * T, cache);
    else if (pos0 + T > this.cfg.nCtx) throw new Error(`sequence of ${pos0 + T} tokens exceeds the context window of ${this.cfg.nCtx}`);
    for (let i = 0; i < ids.length; i++) {
      if (!(ids[i] >= 0 && ids[i] < this.cfg.vocabSize)) throw new Error(`token id ${ids[i]} at position ${i} is outside the vocabulary of ${this.cfg.vocabSize}`);
    }
    const be = this.be, a = this.ensureActs(B * T), BT = B * T;
    const train = opts.train;
    be.write(a.ids, ids);
    let slotPos: Tensor | null = null;
    if (ragged) {
      // each run's tokens take the position embeddings from its own position on
      let off = 0;
      for (const r of ragged) {
        be.encoderForward(be.slice(a.encoded, off * C, r.length * C), be.slice(a.ids, off, r.length), this.p('wte.weight'), this.p('wpe.weight'), 1, r.length, C, r.pos);
        off += r.length;
      }
      slotPos = this.slotPositions(ragged, BT);
    } else be.encoderForward(a.encoded, a.ids, this.p('wte.weight'), this.p('wpe.weight'), B, T, C, pos0);
    const rng = this.dropRng(train, 0, T * C);
    if (rng && this.cfg.embdPdrop > 0) be.dropoutForward(a.encoded, a.encoded, BT * C, this.cfg.embdPdrop, rng);
    let x = a.encoded;
    for (let l = 0; l < L; l++) x = this.blockForward(l, x, B, T, train, cache, slotPos);
    if (this.cfg.layout === 'pre-ln') {
      be.layernormForward(a.lnf, a.lnfMean, a.lnfRstd, x, this.p('ln_f.weight'), this.p('ln_f.bias'), BT, C, this.cfg.lnEps);
    }
    if (cache && !ragged) cache.pos += T;
    return this.hidden();
  }

  /** Dropout site `site` of a training step; a batch row holds `perRow` of its draws (for micro-batches' offsets). */
  private dropRng(train: ForwardOptions['train'], site: number, perRow: number): DropoutRng | null {
    if (!train) return null;
    return { seed: train.seed, stream: (train.step * 1024 + site) >>> 0, offset: ((train.row0 ?? 0) * perRow) % 2 ** 32 };
  }

  /**
   * Block l on x (B,T,C): its activations into acts.layers[l]; returns its output. With a cache, new
   * positions only; with slotPos (ragged decode), BT tokens of several sequences, each in its slot.
   */
  private blockForward(l: number, x: Tensor, B: number, T: number, train: ForwardOptions['train'], cache?: KVCache, slotPos?: Tensor | null): Tensor {
    const { nEmbd: C, nHead: NH, nInner: F } = this.cfg;
    const be = this.be, la = this.acts!.layers[l], BT = B * T, pos0 = cache ? cache.pos : 0;
    const P = (n: string) => this.p(`h.${l}.${n}`);
    const dropout = (t: Tensor, n: number, p: number, site: number) => {
      const rng = this.dropRng(train, site, T * C);
      if (rng && p > 0) be.dropoutForward(t, t, n, p, rng);
    };
    const attention = (inp: Tensor) => {
      be.matmul(la.qkv, inp, P('attn.c_attn.weight'), P('attn.c_attn.bias'), BT, C, 3 * C, false, false, 0);
      if (slotPos) be.attentionRagged(la.atty, la.qkv, cache!.k[l], cache!.v[l], slotPos, BT, C, NH, cache!.Tmax);
      else if (cache) be.attentionCached(la.atty, la.qkv, cache.k[l], cache.v[l], B, T, C, NH, pos0, cache.Tmax);
      else be.attentionForward(la.atty, la.lse, la.qkv, B, T, C, NH, train ? this.cfg.attnPdrop : 0, this.dropRng(train, 1 + 3 * l, NH * T * T));
      be.matmul(la.attproj, la.atty, P('attn.c_proj.weight'), P('attn.c_proj.bias'), BT, C, C, false, false, 0);
      dropout(la.attproj, BT * C, this.cfg.residPdrop, 2 + 3 * l);
    };
    const mlp = (inp: Tensor) => {
      be.matmul(la.fch, inp, P('mlp.c_fc.weight'), P('mlp.c_fc.bias'), BT, C, F, false, false, 0);
      be.geluForward(la.fchGelu, la.fch, BT * F);
      be.matmul(la.fcproj, la.fchGelu, P('mlp.c_proj.weight'), P('mlp.c_proj.bias'), BT, F, C, false, false, 0);
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
        throw new Error(`ragged run of ${r.length} tokens from position ${r.pos} in slot ${r.slot} exceeds the window of ${Math.min(cache.Tmax, this.cfg.nCtx)}`);
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

  /**
   * The LM loss Σ_n w_n · CE(h_n·W_eᵀ, target_n) into a (1) tensor; targets -1 are ignored. With
   * `gradScale`, also the head's backward: dh (B,T,C) is overwritten and dW_e accumulated — the
   * (rows, V) logits exist one chunk at a time, forward and backward fused (llm.c's classifier).
   */
  lmLoss(targets: Int32Array, weights: Float32Array, BT: number, gradScale?: number): Tensor {
    const be = this.be, a = this.acts!, { nEmbd: C, vocabSize: V } = this.cfg;
    if (gradScale !== undefined) this.trainable('the LM head backward');
    const h = this.hidden(), wte = this.p('wte.weight');
    be.write(a.targets, targets);
    be.write(a.weights, weights);
    be.fill(a.loss, 0);
    const rows = a.logits.length / V;
    for (let r0 = 0; r0 < BT; r0 += rows) {
      const n = Math.min(rows, BT - r0);
      const hc = be.slice(h, r0 * C, n * C), tc = be.slice(a.targets, r0, n), wc = be.slice(a.weights, r0, n);
      be.matmul(a.logits, hc, wte, null, n, C, V, false, true, 0); // (n,V) = h·W_eᵀ
      be.crossEntropyForward(be.slice(a.losses, r0, n), a.loss, a.logits, tc, wc, n, V);
      if (gradScale !== undefined) {
        be.crossEntropyBackward(a.logits, a.logits, tc, wc, n, V, gradScale); // in place: logits -> dlogits
        be.matmul(be.slice(a.dh, r0 * C, n * C), a.logits, wte, null, n, V, C, false, false, 0); // dh = dlogits·W_e
        be.matmul(this.g('wte.weight'), a.logits, hc, null, V, n, C, true, false, 1); // dW_e += dlogitsᵀ·h
      }
    }
    return a.loss;
  }

  /** Logits (B,V) of the last position of each row, read back for sampling. */
  async lastLogits(B: number, T: number): Promise<Float32Array> {
    return this.rowLogits(new Int32Array(B).map((_, b) => b * T + T - 1));
  }

  /** Logits (R,V) of the given rows (positions b*T + t) of the last forward pass, read back. */
  async rowLogits(rows: Int32Array): Promise<Float32Array> {
    const be = this.be, { nEmbd: C, vocabSize: V } = this.cfg, B = rows.length;
    // kept between calls (a capacity of rows): decoding asks once per token, and a GPU allocation per token is slow
    if (!this.lastScratch || this.lastScratch.B < B) {
      if (this.lastScratch) be.free(this.lastScratch.idx, this.lastScratch.last, this.lastScratch.logits);
      this.lastScratch = { B, idx: be.alloc(B, 'i32'), last: be.alloc(B * C), logits: be.alloc(B * V) };
    }
    const s = this.lastScratch, idx = be.slice(s.idx, 0, B), last = be.slice(s.last, 0, B * C), logits = be.slice(s.logits, 0, B * V);
    be.write(idx, rows);
    be.gatherRows(last, this.hidden(), idx, B, C);
    be.matmul(logits, last, this.p('wte.weight'), null, B, C, V, false, true, 0);
    return (await be.read(logits)) as Float32Array;
  }
  private lastScratch: { B: number; idx: Tensor; last: Tensor; logits: Tensor } | null = null;

  /** Logits (B*T, V) of every position of the last forward pass, read back (scoring, tests). */
  async allLogits(BT: number): Promise<Float32Array> {
    const be = this.be, { nEmbd: C, vocabSize: V } = this.cfg;
    // row chunks, as in lmLoss: (BT,V) at once would be 205 MB for GPT-2 at 1,024 tokens
    const rows = logitRows(BT, V, be);
    const chunk = be.alloc(rows * V), out = new Float32Array(BT * V), h = this.hidden();
    try {
      for (let r0 = 0; r0 < BT; r0 += rows) {
        const n = Math.min(rows, BT - r0);
        be.matmul(chunk, be.slice(h, r0 * C, n * C), this.p('wte.weight'), null, n, C, V, false, true, 0);
        out.set(((await be.read(chunk)) as Float32Array).subarray(0, n * V), r0 * V);
      }
    } finally {
      be.free(chunk);
    }
    return out;
  }

  /** d(h_n) (B,T,C), where task heads add their gradients before `backward`. */
  hiddenGrad(): Tensor {
    return this.acts!.dh;
  }

  // ---- backward -----------------------------------------------------------------------------------
  /** Backpropagates dh (B,T,C) through the transformer into the parameter gradients (accumulated). */
  backward(B: number, T: number, opts: ForwardOptions = {}): void {
    this.trainable('backward');
    const be = this.be, a = this.acts!, BT = B * T;
    const { nEmbd: C, nHead: NH, nLayer: L, nInner: F } = this.cfg;
    const train = opts.train;
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
      const la = a.layers[l], x = l === 0 ? a.encoded : this.cfg.layout === 'post-ln' ? a.layers[l - 1].ln2 : a.layers[l - 1].res3;
      // the forward left the last block's activations in place; the others are computed again
      if (this.recomputeBlocks && l < L - 1) this.blockForward(l, x, B, T, train);
      const P = (n: string) => this.p(`h.${l}.${n}`), G = (n: string) => this.g(`h.${l}.${n}`);
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

  // ---- optimizer ----------------------------------------------------------------------------------
  /** One AdamW update of every parameter; clipping by global norm is computed on the device. */
  update(hp: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; gradClip?: number }): void {
    const be = this.be;
    this.trainable('update');
    this.moments ??= { m: this.paramArena(), v: this.paramArena() };
    this.step += 1;
    let clip = {};
    if (hp.gradClip !== undefined && hp.gradClip > 0) {
      this.normSq ??= be.alloc(1);
      be.sumSquares(this.normSq, this.specs.map((s) => this.g(s.name)));
      clip = { gradNormSq: this.normSq, maxNorm: hp.gradClip };
    }
    for (const s of this.specs) {
      be.adamw(this.p(s.name), this.g(s.name), this.moments.m[s.name], this.moments.v[s.name], {
        lr: hp.lr, beta1: hp.beta1, beta2: hp.beta2, eps: hp.eps, weightDecay: s.decay ? hp.weightDecay : 0, step: this.step, ...clip,
      });
    }
  }

  /** Global gradient norm (reads back; for logging, not used inside a step). */
  async gradNorm(): Promise<number> {
    this.normSq ??= this.be.alloc(1);
    this.be.sumSquares(this.normSq, this.specs.map((s) => this.g(s.name)));
    return Math.sqrt((await this.be.read(this.normSq))[0]);
  }

  // ---- state in and out ---------------------------------------------------------------------------
  async readParams(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const s of this.specs) out.set(s.name, (await this.be.read(this.params[s.name])) as Float32Array);
    return out;
  }
  writeParams(values: Map<string, Float32Array>): void {
    for (const s of this.specs) {
      const v = values.get(s.name);
      if (!v) throw new Error(`missing parameter ${s.name}`);
      if (v.length !== numel(s.shape)) throw new Error(`parameter ${s.name}: ${v.length} values, expected ${numel(s.shape)} for shape [${s.shape}]`);
      this.be.write(this.params[s.name], v);
    }
  }
  /** Adam moments, for checkpoints that resume exactly. */
  async readMoments(): Promise<{ m: Map<string, Float32Array>; v: Map<string, Float32Array> } | null> {
    if (!this.moments) return null;
    const m = new Map<string, Float32Array>(), v = new Map<string, Float32Array>();
    for (const s of this.specs) {
      m.set(s.name, (await this.be.read(this.moments.m[s.name])) as Float32Array);
      v.set(s.name, (await this.be.read(this.moments.v[s.name])) as Float32Array);
    }
    return { m, v };
  }
  writeMoments(m: Map<string, Float32Array>, v: Map<string, Float32Array>, step: number): void {
    this.moments ??= { m: this.paramArena(), v: this.paramArena() };
    for (const s of this.specs) {
      this.be.write(this.moments.m[s.name], m.get(s.name)!);
      this.be.write(this.moments.v[s.name], v.get(s.name)!);
    }
    this.step = step;
  }

  /**
   * Release every buffer this model holds (parameters, gradients, moments, activations). Needed on
   * backends whose memory is not garbage collected (WebGPU buffers, WASM linear memory), e.g. after a
   * vocabulary extension replaced the model. The model is unusable afterwards.
   */
  free(): void {
    const arenas = [this.params, this.grads, this.moments?.m, this.moments?.v, this.actsArena];
    for (const a of arenas) if (a) this.be.free(...Object.values(a));
    if (this.normSq) this.be.free(this.normSq);
    if (this.lastScratch) this.be.free(this.lastScratch.idx, this.lastScratch.last, this.lastScratch.logits);
    if (this.slotPos) this.be.free(this.slotPos);
    this.grads = this.moments = this.acts = this.actsArena = this.normSq = this.lastScratch = this.slotPos = null;
  }

  newKVCache(B: number, Tmax = this.cfg.nCtx): KVCache {
    const C = this.cfg.nEmbd;
    const k: Tensor[] = [], v: Tensor[] = [];
    for (let l = 0; l < this.cfg.nLayer; l++) {
      k.push(this.be.alloc(B * Tmax * C));
      v.push(this.be.alloc(B * Tmax * C));
    }
    return { B, Tmax, k, v, pos: 0 };
  }
  freeKVCache(c: KVCache): void {
    this.be.free(...c.k, ...c.v);
  }
}
