// Evaluation of a fine-tuned model: accuracy, F1 of the positive class (binary tasks; the positive
// class is labels[1]), and the confusion matrix (rows = true class, columns = predicted).
import { argmax } from '../util/softmax.ts';

export interface Metrics {
  n: number;
  accuracy: number;
  /** binary tasks only */
  f1?: number;
  precision?: number;
  recall?: number;
  /** class names (for multiple choice: "choice 0", ...) */
  classes: string[];
  /** confusion[true][pred] */
  confusion: number[][];
  /** mean cross-entropy of the true class */
  loss: number;
}

export { argmax };

export function computeMetrics(probs: ArrayLike<number>[], labels: ArrayLike<number>, classes: string[], binary: boolean): Metrics {
  const K = classes.length,
    confusion = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  let correct = 0,
    nll = 0,
    n = 0;
  for (let i = 0; i < probs.length; i++) {
    const y = labels[i];
    if (y < 0) continue;
    const p = argmax(probs[i]);
    confusion[y][p]++;
    if (p === y) correct++;
    nll -= Math.log(Math.max(probs[i][y], 1e-30));
    n++;
  }
  if (n === 0) throw new Error('evaluation: no labelled examples');
  const m: Metrics = { n, accuracy: correct / n, classes, confusion, loss: nll / n };
  if (binary && K === 2) {
    const tp = confusion[1][1],
      fp = confusion[0][1],
      fn = confusion[1][0];
    m.precision = tp + fp > 0 ? tp / (tp + fp) : 0;
    m.recall = tp + fn > 0 ? tp / (tp + fn) : 0;
    m.f1 = m.precision + m.recall > 0 ? (2 * m.precision * m.recall) / (m.precision + m.recall) : 0;
  }
  return m;
}

/**
 * Macro-averaged F1 from a confusion matrix (rows = true class): the mean over classes of each class's
 * F1 against the rest, so a classifier that ignores a rare class scores low even when its accuracy is
 * high. A class never predicted and never present counts F1 = 0 (it is in the label set: it was missed).
 */
export function macroF1(confusion: number[][]): number {
  const K = confusion.length;
  if (K === 0) throw new Error('macroF1: the confusion matrix is empty');
  let sum = 0;
  for (let k = 0; k < K; k++) {
    const tp = confusion[k][k];
    let fp = 0,
      fn = 0;
    for (let j = 0; j < K; j++)
      if (j !== k) {
        fp += confusion[j][k];
        fn += confusion[k][j];
      }
    sum += tp > 0 ? (2 * tp) / (2 * tp + fp + fn) : 0;
  }
  return sum / K;
}

/** A plain-text report: accuracy, F1, and the confusion matrix as a table. */
export function formatMetrics(m: Metrics): string {
  const lines = [`examples ${m.n}  accuracy ${(100 * m.accuracy).toFixed(2)}%  loss ${m.loss.toFixed(4)}`];
  if (m.f1 !== undefined)
    lines.push(`F1 (positive class "${m.classes[1]}") ${m.f1.toFixed(4)}  precision ${m.precision!.toFixed(4)}  recall ${m.recall!.toFixed(4)}`);
  const w = Math.max(6, ...m.classes.map((c) => c.length), ...m.confusion.flat().map((x) => String(x).length)) + 2;
  lines.push('confusion (rows: true, columns: predicted)');
  lines.push(''.padEnd(w) + m.classes.map((c) => c.padStart(w)).join(''));
  m.confusion.forEach((row, i) => lines.push(m.classes[i].padEnd(w) + row.map((x) => String(x).padStart(w)).join('')));
  return lines.join('\n');
}
