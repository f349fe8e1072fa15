// Input transformations (§3.3): every task becomes one or more token sequences framed by the start
// token <s>, the delimiter $ and the extract token <e> (frame.ts, with its truncation policy); the
// family object (families.ts) says which segments, and the head reads h_n at <e>. Text that encodes to
// no tokens is an error, never an empty segment.
import type { GPTTokenizer } from '../tokenizer/tokenizer.ts';
import type { Example, TaskSpec } from './task.ts';
import { familyOf, numClasses, seqsPerExample } from './task.ts';
import type { SpecialIds } from './frame.ts';

export { frame, specialIds, truncateSegments, type SpecialIds } from './frame.ts';

/** One example as token sequences (1, 2 for similarity, k for multiple choice) and its class (-1: none). */
export interface EncodedExample {
  seqs: Int32Array[];
  label: number;
}

function text(v: unknown, field: string, where: string): string {
  if (typeof v !== 'string') throw new Error(`${where}: field "${field}" is ${v === undefined ? 'missing' : `not a string (${JSON.stringify(v)})`}`);
  if (v.trim().length === 0) throw new Error(`${where}: field "${field}" is empty`);
  return v;
}

/** Encode one example with the family's layout. `where` names it in errors (e.g. "train.jsonl line 3"). */
export function encodeExample(tok: GPTTokenizer, ids: SpecialIds, spec: TaskSpec, ex: Example, maxLen: number, where = 'example'): EncodedExample {
  const family = familyOf(spec);
  const enc = (v: unknown, field: string) => {
    const t = tok.encode(text(v, field, where));
    if (t.length === 0) throw new Error(`${where}: field "${field}" encodes to no tokens`);
    return t;
  };
  let label = -1;
  const rawLabel = (ex as { label?: unknown }).label;
  if (rawLabel !== undefined && rawLabel !== null) {
    if (family.classes === 'choices') {
      const k = spec.choices!;
      label = Number(rawLabel);
      if (!(Number.isInteger(label) && label >= 0 && label < k))
        throw new Error(`${where}: label ${JSON.stringify(rawLabel)} is not a choice index in 0..${k - 1}`);
    } else {
      label = spec.labels.indexOf(String(rawLabel));
      if (label < 0) throw new Error(`${where}: label ${JSON.stringify(rawLabel)} is not one of the declared labels ${JSON.stringify(spec.labels)}`);
    }
  }
  return { seqs: family.encode(ex, enc, ids, maxLen, spec, where), label };
}

/**
 * A padded micro-batch of N examples: S = N·seqsPerExample sequences of T = the longest one's length.
 * Padding (after <e>) repeats id 0 and is ignored: causal attention keeps it from every real position,
 * and its LM targets are -1. LM targets are the next tokens of each sequence, <e> included; weights
 * 1/((len-1)·S) make L1 the mean over real tokens of each sequence, averaged over sequences.
 */
export interface FinetuneBatch {
  N: number;
  S: number;
  T: number;
  ids: Int32Array; // (S,T)
  /** the row of each sequence's <e> in the (S·T, C) hidden states */
  extract: Int32Array; // (S)
  /** row indices (into the (S·T, C) hidden states) the head gathers; several groups are summed (similarity) */
  groups: Int32Array[]; // each (R)
  R: number; // head rows
  labels: Int32Array; // (N), -1 when unlabelled
  nClass: number;
  lmTargets: Int32Array;
  lmWeights: Float32Array; // (S,T)
}

export function makeBatch(spec: TaskSpec, examples: EncodedExample[]): FinetuneBatch {
  const N = examples.length,
    per = seqsPerExample(spec),
    S = N * per;
  if (N === 0) throw new Error('makeBatch: no examples');
  let T = 0;
  for (const e of examples) for (const s of e.seqs) T = Math.max(T, s.length);
  const ids = new Int32Array(S * T),
    lmTargets = new Int32Array(S * T).fill(-1),
    lmWeights = new Float32Array(S * T);
  const extract = new Int32Array(S);
  let s = 0;
  for (const e of examples) {
    if (e.seqs.length !== per) throw new Error(`makeBatch: an example has ${e.seqs.length} sequences, the task needs ${per}`);
    for (const q of e.seqs) {
      ids.set(q, s * T);
      for (let t = 0; t + 1 < q.length; t++) {
        lmTargets[s * T + t] = q[t + 1];
        lmWeights[s * T + t] = 1 / ((q.length - 1) * S);
      }
      extract[s] = s * T + q.length - 1;
      s++;
    }
  }
  const labels = Int32Array.from(examples, (e) => e.label);
  // sequences summed before the head (similarity's two orders) are consecutive: group g takes the g-th of each run
  const sum = familyOf(spec).sumSequences,
    R = S / sum;
  const groups = Array.from({ length: sum }, (_, g) => Int32Array.from({ length: R }, (_, r) => extract[r * sum + g]));
  return { N, S, T, ids, extract, groups, R, labels, nClass: numClasses(spec), lmTargets, lmWeights };
}
