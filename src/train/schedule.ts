// The paper's learning-rate schedules (§4.1), the rate of update `step` (0-based) of `total`: both warm
// up linearly from 0 over `warmup` updates; pretraining then anneals to 0 by a cosine, fine-tuning
// decays linearly to 0. The training loops evaluate them at their own step (src/train/optim.ts).

export function learningRate(step: number, maxLr: number, warmup: number, total: number): number {
  if (step < warmup) return (maxLr * (step + 1)) / warmup;
  if (total <= warmup) return maxLr;
  const progress = Math.min(1, (step - warmup) / (total - warmup));
  return 0.5 * maxLr * (1 + Math.cos(Math.PI * progress));
}

/** Linear warm-up over `warmup` updates, then linear decay to 0 at `total` (the paper's fine-tuning schedule). */
export function finetuneLearningRate(step: number, maxLr: number, warmup: number, total: number): number {
  if (step < warmup) return (maxLr * (step + 1)) / warmup;
  return (maxLr * Math.max(0, total - step)) / Math.max(1, total - warmup);
}
