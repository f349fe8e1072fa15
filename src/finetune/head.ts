// The task head (§3.3): a linear layer W_y (C,K) + b (K) on h_n at the extract token(s), with the
// paper's classifier dropout, written as a forward/backward pair over backend ops like the model:
//
//   x (R,C)       = Σ_g gather(h, idx_g)          similarity sums the two orders' states; others g = 1
//   x             = dropout(x, clfPdrop)
//   logits (R,K)  = x·W_y + b
//   L2            = Σ_n w_n · CE(logits_n, y_n)   over (N, nClass): for multiple choice (R,1) = (N,k)
//
// Backward: dlogits → dW_y += xᵀ·dlogits, db += Σ dlogits, dx = dlogits·W_yᵀ → undo dropout →
// scatter-add into dh at every gathered row. The update is the optimizer's (src/train/optim.ts): the
// head's `parameters()` train beside the transformer's, clipped by one norm over both.
import type { Backend, DropoutRng, Tensor } from '../backend/backend.ts';
import { dropoutRng, HEAD_SITES, type DropoutSites, type TrainStep } from '../model/dropout.ts';
import type { ParamGroup } from '../model/params.ts';
import { Rng } from '../util/random.ts';

export class TaskHead {
  readonly W: Tensor;
  readonly b: Tensor; // (C,K), (K)
  readonly dW: Tensor;
  readonly db: Tensor;
  /** the dropout stream of a training step the head draws from: the last, apart from the transformer's */
  readonly dropoutSites: DropoutSites = HEAD_SITES;
  private cap = { R: 0, G: 0, N: 0 };
  private s!: { idx: Tensor[]; x: Tensor; tmp: Tensor; dx: Tensor; logits: Tensor; labels: Tensor; weights: Tensor; losses: Tensor; loss: Tensor };
  private last: { R: number; N: number; nClass: number; groups: number; rng: DropoutRng | null } | null = null;

  constructor(
    readonly be: Backend,
    readonly C: number,
    readonly K: number,
    readonly pdrop = 0.1,
  ) {
    if (!(Number.isInteger(K) && K >= 1)) throw new Error(`task head: K must be a positive integer, got ${K}`);
    if (!(pdrop >= 0 && pdrop < 1)) throw new Error(`task head: dropout must be in [0, 1), got ${pdrop}`);
    this.W = be.alloc(C * K);
    this.b = be.alloc(K);
    this.dW = be.alloc(C * K);
    this.db = be.alloc(K);
  }

  /** W_y ~ N(0, std²), b = 0 (the paper's initialisation of new weights). */
  init(seed: number, std = 0.02): this {
    const rng = new Rng(seed),
      w = new Float32Array(this.C * this.K);
    for (let i = 0; i < w.length; i++) w[i] = rng.normal() * std;
    this.be.write(this.W, w);
    this.be.fill(this.b, 0);
    return this;
  }

  private scratch(R: number, G: number, N: number) {
    if (R <= this.cap.R && G <= this.cap.G && N <= this.cap.N) return this.s;
    const be = this.be;
    if (this.s) be.free(...this.s.idx, this.s.x, this.s.tmp, this.s.dx, this.s.logits, this.s.labels, this.s.weights, this.s.losses, this.s.loss);
    const r = Math.max(R, this.cap.R),
      g = Math.max(G, this.cap.G),
      n = Math.max(N, this.cap.N);
    this.cap = { R: r, G: g, N: n };
    this.s = {
      idx: Array.from({ length: g }, () => be.alloc(r, 'i32')),
      x: be.alloc(r * this.C),
      tmp: be.alloc(r * this.C),
      dx: be.alloc(r * this.C),
      logits: be.alloc(r * this.K),
      labels: be.alloc(n, 'i32'),
      weights: be.alloc(n),
      losses: be.alloc(n),
      loss: be.alloc(1),
    };
    return this.s;
  }

  zeroGrad(): void {
    this.be.fill(this.dW, 0);
    this.be.fill(this.db, 0);
  }

  /** W_y (decayed) and b (not decayed) with their gradients, for the optimizer; named as in head.safetensors. */
  parameters(): ParamGroup {
    return {
      name: 'the task head',
      tensors: [
        { name: 'W_y', param: this.W, grad: this.dW, decay: true, rowLength: this.K },
        { name: 'b_y', param: this.b, grad: this.db, decay: false, rowLength: this.K },
      ],
    };
  }

  /** logits (R,K) of the rows `groups` pick from h (rows of C); dropout when `train`. */
  forward(h: Tensor, groups: Int32Array[], R: number, train?: TrainStep): Tensor {
    const be = this.be,
      C = this.C,
      s = this.scratch(R, groups.length, R); // N ≤ R for every family
    const x = be.slice(s.x, 0, R * C),
      tmp = be.slice(s.tmp, 0, R * C);
    groups.forEach((g, i) => {
      if (g.length !== R) throw new Error(`task head: index group ${i} has ${g.length} rows, expected ${R}`);
      const idx = be.slice(s.idx[i], 0, R);
      be.write(idx, g);
      be.gatherRows(i === 0 ? x : tmp, h, idx, R, C);
      if (i > 0) be.accumulate(x, tmp, R * C);
    });
    const rng = train && this.pdrop > 0 ? dropoutRng(train, this.dropoutSites.first) : null;
    if (rng) be.dropoutForward(x, x, R * C, this.pdrop, rng);
    const logits = be.slice(s.logits, 0, R * this.K);
    be.matmul(logits, x, this.W, this.b, R, C, this.K, false, false, 0);
    this.last = { R, N: 0, nClass: 0, groups: groups.length, rng };
    return logits;
  }

  /** L2 = Σ_n weights_n · CE over (N, nClass) (R·K = N·nClass) into a (1) tensor; labels -1 are ignored. */
  loss(labels: Int32Array, weights: Float32Array, nClass: number): Tensor {
    const be = this.be,
      N = labels.length,
      l = this.last!;
    if (N * nClass !== l.R * this.K) throw new Error(`task head: ${N} labels × ${nClass} classes do not match ${l.R} rows × ${this.K} outputs`);
    const s = this.s;
    be.write(be.slice(s.labels, 0, N), labels);
    be.write(be.slice(s.weights, 0, N), weights);
    be.fill(s.loss, 0);
    be.crossEntropyForward(be.slice(s.losses, 0, N), s.loss, be.slice(s.logits, 0, N * nClass), be.slice(s.labels, 0, N), be.slice(s.weights, 0, N), N, nClass);
    this.last = { ...l, N, nClass };
    return s.loss;
  }

  /**
   * Backward of `loss` then `forward`, gradient scaled by `scale`: dW_y, db accumulate; dh (the model's
   * hidden-state gradient, rows of C) gets the head's gradient ADDED at the gathered rows. Overwrites
   * the logits scratch (in-place dlogits), so read logits before calling this.
   */
  backward(dh: Tensor, groups: Int32Array[], scale: number): void {
    const be = this.be,
      C = this.C,
      K = this.K,
      l = this.last!,
      s = this.s,
      R = l.R;
    const logits = be.slice(s.logits, 0, R * K),
      x = be.slice(s.x, 0, R * C),
      dx = be.slice(s.dx, 0, R * C);
    be.crossEntropyBackward(logits, logits, be.slice(s.labels, 0, l.N), be.slice(s.weights, 0, l.N), l.N, l.nClass, scale);
    be.matmul(this.dW, x, logits, null, C, R, K, true, false, 1); // dW_y += xᵀ·dlogits
    be.biasBackward(this.db, logits, R, K);
    be.matmul(dx, logits, this.W, null, R, K, C, false, true, 0); // dx = dlogits·W_yᵀ
    if (l.rng) be.dropoutBackward(dx, dx, R * C, this.pdrop, l.rng);
    groups.forEach((g, i) => {
      const idx = be.slice(s.idx[i], 0, R);
      be.write(idx, g);
      be.scatterAddRows(dh, dx, idx, R, C);
    });
  }

  /** Release every buffer the head holds (weights, gradients, scratch); unusable afterwards. */
  free(): void {
    const be = this.be,
      s = this.s;
    be.free(this.W, this.b, this.dW, this.db);
    if (s) be.free(...s.idx, s.x, s.tmp, s.dx, s.logits, s.labels, s.weights, s.losses, s.loss);
  }

  async read(): Promise<{ W: Float32Array; b: Float32Array }> {
    return { W: (await this.be.read(this.W)) as Float32Array, b: (await this.be.read(this.b)) as Float32Array };
  }
  write(W: Float32Array, b: Float32Array): void {
    if (W.length !== this.C * this.K || b.length !== this.K)
      throw new Error(`task head: expected W (${this.C}×${this.K}) and b (${this.K}), got ${W.length} and ${b.length} values`);
    this.be.write(this.W, W);
    this.be.write(this.b, b);
  }
}
