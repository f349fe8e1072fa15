// The paper's learning-rate schedule: linear warm-up from 0 over `warmup` updates, then cosine
// annealing to 0 at `total` updates (§4.1).

export function learningRate(step: number, maxLr: number, warmup: number, total: number): number {
  if (step < warmup) return (maxLr * (step + 1)) / warmup;
  if (total <= warmup) return maxLr;
  const progress = Math.min(1, (step - warmup) / (total - warmup));
  return 0.5 * maxLr * (1 + Math.cos(Math.PI * progress));
}
