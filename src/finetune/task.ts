// The paper's four task families (§3.3) as data: what an example holds, what the head outputs.
//
//   classification   { text, label }                    <s> text <e>                    → softmax over labels
//   entailment       { premise, hypothesis, label }     <s> premise $ hypothesis <e>    → softmax over labels
//   similarity       { a, b, label }                    <s> a $ b <e>  +  <s> b $ a <e> → h summed → softmax
//   multiple-choice  { context, choices[k], label: i }  <s> context $ choice_j <e>, j<k → one score each → softmax over k
import { quote } from '../io/errors.ts';

export type TaskFamily = 'classification' | 'entailment' | 'similarity' | 'multiple-choice';
export const TASK_FAMILIES: readonly TaskFamily[] = ['classification', 'entailment', 'similarity', 'multiple-choice'];

export interface ClassificationExample { text: string; label?: string }
export interface EntailmentExample { premise: string; hypothesis: string; label?: string }
export interface SimilarityExample { a: string; b: string; label?: string }
/** `label` is the 0-based index of the right choice. */
export interface ChoiceExample { context: string; choices: string[]; label?: number }
export type Example = ClassificationExample | EntailmentExample | SimilarityExample | ChoiceExample;

export interface TaskSpec {
  family: TaskFamily;
  /** class names (classification, entailment, similarity); for binary tasks labels[1] is the positive class */
  labels: string[];
  /** multiple choice: candidates per example (fixed for a task) */
  choices?: number;
}

/** The text fields of each family, in input order (for readers and error messages). */
export const TEXT_FIELDS: Record<TaskFamily, string[]> = {
  classification: ['text'],
  entailment: ['premise', 'hypothesis'],
  similarity: ['a', 'b'],
  'multiple-choice': ['context'],
};

export function checkFamily(f: string): TaskFamily {
  if (!(TASK_FAMILIES as readonly string[]).includes(f)) throw new Error(`unknown task "${f}"; choose one of ${TASK_FAMILIES.join(', ')}`);
  return f as TaskFamily;
}

export function validateSpec(spec: TaskSpec): TaskSpec {
  checkFamily(spec.family);
  if (spec.family === 'multiple-choice') {
    if (!(Number.isInteger(spec.choices) && spec.choices! >= 2)) throw new Error(`a multiple-choice task needs choices >= 2, got ${spec.choices}`);
  } else {
    if (!Array.isArray(spec.labels) || spec.labels.length < 2) throw new Error(`a ${spec.family} task needs at least 2 labels, got ${quote(spec.labels)}`);
    if (new Set(spec.labels).size !== spec.labels.length) throw new Error(`labels must be distinct: ${quote(spec.labels)}`);
  }
  return spec;
}

/** Width of W_y: one logit per class, or one scalar score per candidate for multiple choice. */
export const headOutputs = (spec: TaskSpec): number => (spec.family === 'multiple-choice' ? 1 : spec.labels.length);
/** Classes the softmax runs over: labels, or candidates. */
export const numClasses = (spec: TaskSpec): number => (spec.family === 'multiple-choice' ? spec.choices! : spec.labels.length);
/** Sequences the transformer sees per example. */
export const seqsPerExample = (spec: TaskSpec): number => (spec.family === 'similarity' ? 2 : spec.family === 'multiple-choice' ? spec.choices! : 1);
