// Input transformations (§3.3): every task becomes one or more token sequences framed by the start
// token <s>, the delimiter $ and the extract token <e>; the head reads h_n at <e>.
//
// Truncation policy (inputs longer than the context window `maxLen`): the special tokens are always
// kept, the extract token last. While the sequence is too long, one token is cut from the FRONT of the
// currently longest text segment (ties: the earlier segment). For a single text that keeps its end,
// next to <e>; for pairs the longer side gives way first, so a short hypothesis or answer survives a
// long premise or context. Text that encodes to no tokens is an error, never an empty segment.
import type { GPTTokenizer } from '../tokenizer/tokenizer.ts';
import type { ChoiceExample, ClassificationExample, EntailmentExample, Example, SimilarityExample, TaskSpec } from './task.ts';
import { numClasses, seqsPerExample } from './task.ts';

export interface SpecialIds { start: number; delimiter: number; extract: number }

export function specialIds(tok: GPTTokenizer): SpecialIds {
  return { start: tok.requireSpecialId('start'), delimiter: tok.requireSpecialId('delimiter'), extract: tok.requireSpecialId('extract') };
}

/** One example as token sequences (1, 2 for similarity, k for multiple choice) and its class (-1: none). */
export interface EncodedExample { seqs: Int32Array[]; label: number }

/**
 * Cut tokens from the front of the longest segment until Σ lengths ≤ budget. Returns new arrays.
 * Throws when the budget cannot hold one token per segment.
 */
export function truncateSegments(segs: number[][], budget: number): number[][] {
  if (budget < segs.length) throw new Error(`the context window leaves ${budget} tokens for ${segs.length} text segment(s): too small`);
  const out = segs.map((s) => s.slice());
  let total = out.reduce((n, s) => n + s.length, 0);
  while (total > budget) {
    let li = 0;
    for (let i = 1; i < out.length; i++) if (out[i].length > out[li].length) li = i;
    const cut = Math.min(out[li].length - 1, total - budget, Math.max(1, out[li].length - secondLongest(out, li)));
    out[li] = out[li].slice(cut);
    total -= cut;
  }
  return out;
}

function secondLongest(segs: number[][], skip: number): number {
  let m = 0;
  for (let i = 0; i < segs.length; i++) if (i !== skip) m = Math.max(m, segs[i].length);
  return m;
}

/** `<s> seg0 $ seg1 $ ... <e>` after truncation to maxLen. */
export function frame(segs: number[][], ids: SpecialIds, maxLen: number): Int32Array {
  const cut = truncateSegments(segs, maxLen - 1 - segs.length); // <s>, <e> and (n-1) delimiters
  const out: number[] = [ids.start];
  cut.forEach((s, i) => {
    if (i > 0) out.push(ids.delimiter);
    out.push(...s);
  });
  out.push(ids.extract);
  return Int32Array.from(out);
}

function text(v: unknown, field: string, where: string): string {
  if (typeof v !== 'string') throw new Error(`${where}: field "${field}" is ${v === undefined ? 'missing' : `not a string (${JSON.stringify(v)})`}`);
  if (v.trim().length === 0) throw new Error(`${where}: field "${field}" is empty`);
  return v;
}

/** Encode one example with the family's layout. `where` names it in errors (e.g. "train.jsonl line 3"). */
export function encodeExample(tok: GPTTokenizer, ids: SpecialIds, spec: TaskSpec, ex: Example, maxLen: number, where = 'example'): EncodedExample {
  const enc = (v: unknown, field: string) => {
    const t = tok.encode(text(v, field, where));
    if (t.length === 0) throw new Error(`${where}: field "${field}" encodes to no tokens`);
    return t;
  };
  let label = -1;
  const rawLabel = (ex as { label?: unknown }).label;
  switch (spec.family) {
    case 'classification':
    case 'entailment':
    case 'similarity': {
      if (rawLabel !== undefined && rawLabel !== null) {
        label = spec.labels.indexOf(String(rawLabel));
        if (label < 0) throw new Error(`${where}: label ${JSON.stringify(rawLabel)} is not one of the declared labels ${JSON.stringify(spec.labels)}`);
      }
      if (spec.family === 'classification') {
        return { seqs: [frame([enc((ex as ClassificationExample).text, 'text')], ids, maxLen)], label };
      }
      if (spec.family === 'entailment') {
        const e = ex as EntailmentExample;
        return { seqs: [frame([enc(e.premise, 'premise'), enc(e.hypothesis, 'hypothesis')], ids, maxLen)], label };
      }
      const e = ex as SimilarityExample;
      const [a, b] = truncateSegments([enc(e.a, 'a'), enc(e.b, 'b')], maxLen - 3);
      return { seqs: [frame([a, b], ids, maxLen), frame([b, a], ids, maxLen)], label };
    }
    case 'multiple-choice': {
      const e = ex as ChoiceExample;
      const k = spec.choices!;
      if (!Array.isArray(e.choices)) throw new Error(`${where}: field "choices" is ${e.choices === undefined ? 'missing' : 'not an array'}`);
      if (e.choices.length !== k) throw new Error(`${where}: field "choices" holds ${e.choices.length} candidates, the task has ${k}`);
      if (rawLabel !== undefined && rawLabel !== null) {
        label = Number(rawLabel);
        if (!(Number.isInteger(label) && label >= 0 && label < k)) throw new Error(`${where}: label ${JSON.stringify(rawLabel)} is not a choice index in 0..${k - 1}`);
      }
      const ctx = enc(e.context, 'context');
      return { seqs: e.choices.map((c, j) => frame([ctx, enc(c, `choices[${j}]`)], ids, maxLen)), label };
    }
  }
}

/**
 * A padded micro-batch of N examples: S = N·seqsPerExample sequences of T = the longest one's length.
 * Padding (after <e>) repeats id 0 and is ignored: causal attention keeps it from every real position,
 * and its LM targets are -1. LM targets are the next tokens of each sequence, <e> included; weights
 * 1/((len-1)·S) make L1 the mean over real tokens of each sequence, averaged over sequences.
 */
export interface FinetuneBatch {
  N: number; S: number; T: number;
  ids: Int32Array; // (S,T)
  /** row indices (into the (S·T, C) hidden states) the head gathers; several groups are summed (similarity) */
  groups: Int32Array[]; // each (R)
  R: number; // head rows
  labels: Int32Array; // (N), -1 when unlabelled
  nClass: number;
  lmTargets: Int32Array; lmWeights: Float32Array; // (S,T)
}

export function makeBatch(spec: TaskSpec, examples: EncodedExample[]): FinetuneBatch {
  const N = examples.length, per = seqsPerExample(spec), S = N * per;
  if (N === 0) throw new Error('makeBatch: no examples');
  let T = 0;
  for (const e of examples) for (const s of e.seqs) T = Math.max(T, s.length);
  const ids = new Int32Array(S * T), lmTargets = new Int32Array(S * T).fill(-1), lmWeights = new Float32Array(S * T);
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
  if (spec.family === 'similarity') {
    const g0 = new Int32Array(N), g1 = new Int32Array(N);
    for (let n = 0; n < N; n++) { g0[n] = extract[2 * n]; g1[n] = extract[2 * n + 1]; }
    return { N, S, T, ids, groups: [g0, g1], R: N, labels, nClass: numClasses(spec), lmTargets, lmWeights };
  }
  return { N, S, T, ids, groups: [extract], R: S, labels, nClass: numClasses(spec), lmTargets, lmWeights };
}
