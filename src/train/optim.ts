// AdamW (Loshchilov & Hutter: Adam with decoupled weight decay) over parameter groups: the transformer's
// parameters when pretraining, the transformer's and the task head's when fine-tuning. The optimizer owns
// what an update needs beyond the model: the first and second moments (one allocation per group and
// moment, shaped like the group's tensors), the step count behind Adam's bias correction, and the
// gradient-norm scratch. Models do forward and backward only.
//
// One update (llm.c's gpt2_update, over every group):
//   normSq = Σ_tensors Σ g²                       on the device, when clipping (no readback inside a step)
//   g     *= min(1, gradClip / (√normSq + 1e-6))  one global norm over everything trained
//   m = β1·m + (1-β1)·g,  v = β2·v + (1-β2)·g²,  p -= lr·(m̂ / (√v̂ + ε) + wd·p)   wd only where `decay`
//
// The learning rate of each update comes from a schedule (src/train/schedule.ts), evaluated by the loop
// at its own step: a run resumed with fresh moments (--reset-optimizer) continues the schedule where the
// run was while the optimizer's step starts again at 0.
import type { Arena, Backend, Tensor } from '../backend/backend.ts';
import type { OptimizerState } from '../io/checkpoint.ts';
import type { GPT } from '../model/gpt.ts';
import type { ParamGroup, TrainableTensor } from '../model/params.ts';

/** AdamW's hyper-parameters for one update. */
export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** applied to the tensors with `decay` (matrices and embeddings; not biases or LN gains) */
  weightDecay: number;
  /** clip the gradients by one global norm over every group (> 0; absent or 0: no clipping) */
  gradClip?: number;
}

export class AdamW {
  readonly groups: readonly ParamGroup[];
  /** updates taken (the t of Adam's bias correction 1 - β^t) */
  step = 0;
  private moments: { m: Arena; v: Arena }[] | null = null;
  private normSq: Tensor | null = null;
  private readonly tensors: TrainableTensor[];

  constructor(
    readonly be: Backend,
    groups: ParamGroup[],
  ) {
    this.groups = groups;
    this.tensors = groups.flatMap((g) => g.tensors);
    const seen = new Map<string, string>();
    for (const g of groups) {
      for (const t of g.tensors) {
        const other = seen.get(t.name);
        if (other !== undefined)
          throw new Error(`AdamW: tensor ${t.name} of ${g.name} has the name of one of ${other}; the names of trained tensors must be unique`);
        seen.set(t.name, g.name);
        if (t.grad.length !== t.param.length) throw new Error(`AdamW: ${t.name} has ${t.param.length} values but a gradient of ${t.grad.length}`);
      }
    }
  }

  /** The moments, allocated when first needed: one arena per group for m and one for v, zero-filled. */
  private ensureMoments(): { m: Arena; v: Arena }[] {
    const arena = (g: ParamGroup) =>
      this.be.allocArena(g.tensors.map((t) => ({ name: t.name, length: t.param.length, rowLength: t.rowLength, dtype: 'f32' as const })));
    return (this.moments ??= this.groups.map((g) => ({ m: arena(g), v: arena(g) })));
  }

  /** One AdamW update of every tensor of every group. */
  update(hp: AdamWHyper): void {
    const be = this.be,
      moments = this.ensureMoments();
    this.step += 1;
    let clip = {};
    if (hp.gradClip !== undefined && hp.gradClip > 0) clip = { gradNormSq: this.sumSquares(), maxNorm: hp.gradClip };
    this.groups.forEach((g, i) => {
      for (const t of g.tensors) {
        be.adamw(t.param, t.grad, moments[i].m[t.name], moments[i].v[t.name], {
          lr: hp.lr,
          beta1: hp.beta1,
          beta2: hp.beta2,
          eps: hp.eps,
          weightDecay: t.decay ? hp.weightDecay : 0,
          step: this.step,
          ...clip,
        });
      }
    });
  }

  /** Σ g² over every trained tensor into a (1) tensor on the device. */
  private sumSquares(): Tensor {
    this.normSq ??= this.be.alloc(1);
    this.be.sumSquares(
      this.normSq,
      this.tensors.map((t) => t.grad),
    );
    return this.normSq;
  }

  /** The global gradient norm, read back (for logging; never needed inside a step). */
  async gradNorm(): Promise<number> {
    return Math.sqrt((await this.be.read(this.sumSquares()))[0]);
  }

  /** The moments and step, by tensor name (checkpoints: optimizer.safetensors); null before the first update. */
  async readState(): Promise<OptimizerState | null> {
    if (!this.moments) return null;
    const m = new Map<string, Float32Array>(),
      v = new Map<string, Float32Array>();
    for (const [i, g] of this.groups.entries()) {
      for (const t of g.tensors) {
        m.set(t.name, (await this.be.read(this.moments[i].m[t.name])) as Float32Array);
        v.set(t.name, (await this.be.read(this.moments[i].v[t.name])) as Float32Array);
      }
    }
    return { m, v, step: this.step };
  }

  /** Continue from saved moments and step: every trained tensor's m and v must be there. */
  writeState(s: OptimizerState): void {
    const moments = this.ensureMoments();
    for (const [i, g] of this.groups.entries()) {
      for (const t of g.tensors) {
        const m = s.m.get(t.name),
          v = s.v.get(t.name);
        if (!m || !v) throw new Error(`AdamW: the saved state has no moments for ${t.name}`);
        this.be.write(moments[i].m[t.name], m);
        this.be.write(moments[i].v[t.name], v);
      }
    }
    this.step = s.step;
  }

  /** Releases the moments and scratch (WASM and GPU memory are not garbage collected); the parameters stay. */
  free(): void {
    for (const { m, v } of this.moments ?? []) this.be.free(...Object.values(m), ...Object.values(v));
    if (this.normSq) this.be.free(this.normSq);
    this.moments = this.normSq = null;
  }
}

/**
 * AdamW over a model's parameters, continuing from a checkpoint's state when there is one
 * (loadModel(..., { withOptimizer: true }).checkpoint.optimizer): what resuming a pretraining run needs.
 */
export function modelOptimizer(model: GPT, state?: OptimizerState | null): AdamW {
  const opt = new AdamW(model.be, [model.parameters()]);
  if (state) opt.writeState(state);
  return opt;
}
