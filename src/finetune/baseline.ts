// Baselines for the four task families, trained on the same labelled examples as a fine-tuned GPT, so a
// reader sees what a task gives away without a language model: the majority class, and logistic
// regression on bags of words (hashed sparse features, AdaGrad, L2). Plain TypeScript, no backend.
//
// Features (each set of features L2-normalised; words = lower-cased runs of letters, digits, apostrophes):
//   classification   the text's words
//   entailment,      the first text's words (a:w), the second's (b:w), the words in both (both:w), and
//   similarity       the Jaccard overlap of the two word sets, so order and overlap are visible
//   multiple choice  per candidate: its words (c:w), the words it shares with the context (x:w) and the
//                    Jaccard overlap; one weight vector scores every candidate (a conditional logit)
// For labelled families the score of class k is W_k·φ(x) + b_k; for multiple choice, w·φ(x, choice_j).
import { Rng } from '../util/random.ts';
import type { ChoiceExample, ClassificationExample, EntailmentExample, Example, SimilarityExample, TaskSpec } from './task.ts';
import { numClasses } from './task.ts';

type Sparse = { idx: Int32Array; val: Float32Array };

export function bagOfWords(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const w of text.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? []) out.set(w, (out.get(w) ?? 0) + 1);
  return out;
}

/** FNV-1a of a string, reduced to `bits` bits: the feature's index. */
function hash(s: string, bits: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0) & ((1 << bits) - 1);
}

function sparse(feats: Map<string, number>, bits: number): Sparse {
  let norm = 0;
  for (const v of feats.values()) norm += v * v;
  norm = Math.sqrt(norm) || 1;
  const acc = new Map<number, number>();
  for (const [k, v] of feats) {
    const i = hash(k, bits);
    acc.set(i, (acc.get(i) ?? 0) + v / norm);
  }
  return { idx: Int32Array.from(acc.keys()), val: Float32Array.from(acc.values()) };
}

function pairFeatures(a: string, b: string, pa: string, pb: string): Map<string, number> {
  const A = bagOfWords(a),
    B = bagOfWords(b),
    f = new Map<string, number>();
  let both = 0;
  for (const [w, n] of A) f.set(`${pa}:${w}`, Math.log1p(n));
  for (const [w, n] of B) {
    f.set(`${pb}:${w}`, Math.log1p(n));
    if (A.has(w)) {
      f.set(`both:${w}`, 1);
      both++;
    }
  }
  const union = new Set([...A.keys(), ...B.keys()]).size;
  f.set('#jaccard', union ? (3 * both) / union : 0); // scaled so the one dense feature is not drowned by normalisation
  f.set('#bias', 1);
  return f;
}

/** φ for each candidate output: one vector (labelled families) or one per choice (multiple choice). */
export function bowFeatures(spec: TaskSpec, ex: Example, bits = 18): Sparse[] {
  switch (spec.family) {
    case 'classification': {
      const f = new Map<string, number>();
      for (const [w, n] of bagOfWords((ex as ClassificationExample).text)) f.set(w, Math.log1p(n));
      return [sparse(f, bits)];
    }
    case 'entailment': {
      const e = ex as EntailmentExample;
      return [sparse(pairFeatures(e.premise, e.hypothesis, 'a', 'b'), bits)];
    }
    case 'similarity': {
      const e = ex as SimilarityExample;
      return [sparse(pairFeatures(e.a, e.b, 'a', 'b'), bits)];
    }
    case 'multiple-choice': {
      const e = ex as ChoiceExample;
      return e.choices.map((c) => {
        const f = pairFeatures(e.context, c, 'ctx', 'c');
        for (const k of [...f.keys()]) if (k.startsWith('ctx:')) f.delete(k); // the same for every candidate: no signal
        return sparse(f, bits);
      });
    }
  }
}

export interface BowOptions {
  epochs?: number;
  lr?: number;
  l2?: number;
  seed?: number;
  bits?: number;
}

export interface BowModel {
  spec: TaskSpec;
  bits: number;
  W: Float32Array;
  b: Float32Array;
}

const labelOf = (spec: TaskSpec, ex: Example): number => {
  if (spec.family === 'multiple-choice') return (ex as ChoiceExample).label ?? -1;
  const l = (ex as ClassificationExample).label;
  return l === undefined ? -1 : spec.labels.indexOf(l);
};

/** Scores of each class (or candidate) for one example's features. */
function logits(m: BowModel, feats: Sparse[]): Float64Array {
  const D = 1 << m.bits;
  if (m.spec.family === 'multiple-choice')
    return Float64Array.from(feats, (f) => {
      let s = 0;
      for (let j = 0; j < f.idx.length; j++) s += m.W[f.idx[j]] * f.val[j];
      return s;
    });
  const K = m.b.length,
    f = feats[0],
    out = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    let s = m.b[k];
    for (let j = 0; j < f.idx.length; j++) s += m.W[k * D + f.idx[j]] * f.val[j];
    out[k] = s;
  }
  return out;
}

function softmax(z: Float64Array): Float64Array {
  const mx = Math.max(...z),
    e = z.map((x) => Math.exp(x - mx)),
    s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/**
 * Multinomial (or, for multiple choice, conditional) logistic regression by AdaGrad on the softmax
 * cross-entropy with an L2 penalty; examples visited in a seeded order each epoch.
 */
export function trainBow(spec: TaskSpec, examples: Example[], o: BowOptions = {}): BowModel {
  const bits = o.bits ?? 18,
    D = 1 << bits,
    K = spec.family === 'multiple-choice' ? 1 : numClasses(spec);
  const lr = o.lr ?? 0.5,
    l2 = o.l2 ?? 1e-4,
    epochs = o.epochs ?? 10,
    rng = new Rng(o.seed ?? 1);
  if (examples.length === 0) throw new Error('trainBow: no training examples');
  const data = examples.map((ex, i) => {
    const y = labelOf(spec, ex);
    if (y < 0) throw new Error(`trainBow: example ${i + 1} has no (known) label`);
    return { feats: bowFeatures(spec, ex, bits), y };
  });
  const m: BowModel = { spec, bits, W: new Float32Array(K * D), b: new Float32Array(spec.family === 'multiple-choice' ? 0 : K) };
  const gW = new Float32Array(K * D),
    gb = new Float32Array(m.b.length);
  const order = data.map((_, i) => i);
  for (let ep = 0; ep < epochs; ep++) {
    for (let i = order.length - 1; i > 0; i--) {
      const k = rng.int(i + 1);
      [order[i], order[k]] = [order[k], order[i]];
    }
    for (const i of order) {
      const { feats, y } = data[i],
        p = softmax(logits(m, feats));
      const step = (arr: Float32Array, acc: Float32Array, at: number, g: number) => {
        g += l2 * arr[at];
        acc[at] += g * g;
        arr[at] -= (lr * g) / Math.sqrt(acc[at] + 1e-8);
      };
      if (spec.family === 'multiple-choice') {
        // d/dw of −log p_y = Σ_j (p_j − [j = y]) φ_j
        for (let j = 0; j < feats.length; j++) {
          const g = p[j] - (j === y ? 1 : 0);
          for (let t = 0; t < feats[j].idx.length; t++) step(m.W, gW, feats[j].idx[t], g * feats[j].val[t]);
        }
      } else {
        const f = feats[0];
        for (let k = 0; k < K; k++) {
          const g = p[k] - (k === y ? 1 : 0);
          for (let t = 0; t < f.idx.length; t++) step(m.W, gW, k * D + f.idx[t], g * f.val[t]);
          step(m.b, gb, k, g);
        }
      }
    }
  }
  return m;
}

/** Class (or candidate) probabilities of each example. */
export function predictBow(m: BowModel, examples: Example[]): Float32Array[] {
  return examples.map((ex) => Float32Array.from(softmax(logits(m, bowFeatures(m.spec, ex, m.bits)))));
}

/** The majority baseline: the most common training label (multiple choice: answer position), as probabilities. */
export function majorityBaseline(spec: TaskSpec, train: Example[]): Float32Array {
  const K = numClasses(spec),
    counts = new Array<number>(K).fill(0);
  for (const ex of train) {
    const y = labelOf(spec, ex);
    if (y >= 0) counts[y]++;
  }
  const best = counts.indexOf(Math.max(...counts)),
    p = new Float32Array(K);
  p[best] = 1;
  return p;
}
