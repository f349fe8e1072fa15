// A fine-tuning task: a family (families.ts, one object each) with its class labels, or its number of
// candidates for multiple choice. What the rest of src/finetune needs to know about a task, answered
// from the family object.
import { quote } from '../io/errors.ts';
import { FAMILIES, type TaskFamily, type TaskFamilyDef } from './families.ts';

export {
  FAMILIES,
  InputError,
  type TaskFamily,
  type TaskFamilyDef,
  type Example,
  type ClassificationExample,
  type EntailmentExample,
  type SimilarityExample,
  type ChoiceExample,
  type RowReader,
  type EncodeText,
} from './families.ts';

export const TASK_FAMILIES: readonly TaskFamily[] = Object.keys(FAMILIES) as TaskFamily[];

export interface TaskSpec {
  family: TaskFamily;
  /** class names (classification, entailment, similarity); for binary tasks labels[1] is the positive class */
  labels: string[];
  /** multiple choice: candidates per example (fixed for a task) */
  choices?: number;
}

/** The text fields of each family, in input order (for readers and error messages). */
export const TEXT_FIELDS: Readonly<Record<TaskFamily, readonly string[]>> = Object.fromEntries(TASK_FAMILIES.map((f) => [f, FAMILIES[f].fields])) as Record<
  TaskFamily,
  readonly string[]
>;

export function checkFamily(f: string): TaskFamily {
  if (!(TASK_FAMILIES as readonly string[]).includes(f)) throw new Error(`unknown task "${f}"; choose one of ${TASK_FAMILIES.join(', ')}`);
  return f as TaskFamily;
}

/** The family object of a task (or of a family name). */
export function familyOf(task: TaskSpec | TaskFamily): TaskFamilyDef {
  return FAMILIES[checkFamily(typeof task === 'string' ? task : task.family)];
}

/** A task from what task.json (and the ONNX metadata) record: the family, its labels or its number of choices. */
export function taskSpec(family: string, labels: string[], choices: number | null | undefined): TaskSpec {
  const f = checkFamily(family);
  return FAMILIES[f].classes === 'choices' ? { family: f, labels: [], choices: Number(choices) } : { family: f, labels };
}

export function validateSpec(spec: TaskSpec): TaskSpec {
  if (familyOf(spec).classes === 'choices') {
    if (!(Number.isInteger(spec.choices) && spec.choices! >= 2)) throw new Error(`a ${spec.family} task needs choices >= 2, got ${spec.choices}`);
  } else {
    if (!Array.isArray(spec.labels) || spec.labels.length < 2) throw new Error(`a ${spec.family} task needs at least 2 labels, got ${quote(spec.labels)}`);
    if (new Set(spec.labels).size !== spec.labels.length) throw new Error(`labels must be distinct: ${quote(spec.labels)}`);
  }
  return spec;
}

/** Width of W_y: one logit per class, or one scalar score per candidate for multiple choice. */
export const headOutputs = (spec: TaskSpec): number => (familyOf(spec).classes === 'choices' ? 1 : spec.labels.length);
/** Classes the softmax runs over: labels, or candidates. */
export const numClasses = (spec: TaskSpec): number => (familyOf(spec).classes === 'choices' ? spec.choices! : spec.labels.length);
/** Sequences the transformer sees per example. */
export const seqsPerExample = (spec: TaskSpec): number => familyOf(spec).sequences(spec);
/** The names of the classes: the labels, or "choice 0", "choice 1", ... */
export const classNames = (spec: TaskSpec): string[] =>
  familyOf(spec).classes === 'choices' ? Array.from({ length: spec.choices! }, (_, i) => `choice ${i}`) : spec.labels;
/** What the head's outputs are, for messages: "3 labels" or "one score per candidate". */
export const headDescription = (spec: TaskSpec): string => (familyOf(spec).classes === 'choices' ? 'one score per candidate' : `${spec.labels.length} labels`);
/** The task's classes, for messages: `labels ["neg","pos"]` or "4 choices". */
export const describeClasses = (spec: TaskSpec): string =>
  familyOf(spec).classes === 'choices' ? `${spec.choices} choices` : `labels ${JSON.stringify(spec.labels)}`;
