// The paper's four task families (§3.3), ONE object each: what an example holds, its input
// transformation into token sequences, how a data file's row and an API input become an example, and
// what the head scores. The rest of gptedge — reading data, batching, the head, metrics, the HTTP
// routes, the ONNX export and the ONNX Runtime path — asks these objects (through task.ts) and never
// names a family, so adding one is adding it here (and testing it).
//
//   classification   { text, label }                    <s> text <e>                    → softmax over labels
//   entailment       { premise, hypothesis, label }     <s> premise $ hypothesis <e>    → softmax over labels
//   similarity       { a, b, label }                    <s> a $ b <e>  +  <s> b $ a <e> → h summed → softmax
//   multiple-choice  { context, choices[k], label: i }  <s> context $ choice_j <e>, j<k → one score each → softmax over k
import type { TaskSpec } from './task.ts';
import { frame, truncateSegments, type SpecialIds } from './frame.ts';

export type TaskFamily = 'classification' | 'entailment' | 'similarity' | 'multiple-choice';

export interface ClassificationExample {
  text: string;
  label?: string;
}
export interface EntailmentExample {
  premise: string;
  hypothesis: string;
  label?: string;
}
export interface SimilarityExample {
  a: string;
  b: string;
  label?: string;
}
/** `label` is the 0-based index of the right choice. */
export interface ChoiceExample {
  context: string;
  choices: string[];
  label?: number;
}
export type Example = ClassificationExample | EntailmentExample | SimilarityExample | ChoiceExample;

/** The fields of one row of a data file, and the checks that name the file, line and field. */
export interface RowReader {
  readonly fields: Record<string, unknown>;
  /** a non-empty text field within the size limit (`value` when given: an element of an array field) */
  text(field: string, value?: unknown): string;
  fail(detail: string, field?: string): never;
}

/** An API input (HTTP body, classify() argument) that does not fit the model's family; `param` is the offending path. */
export class InputError extends TypeError {
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(message);
    this.name = 'InputError';
  }
}

/** A text segment's tokens; errors name `field` (a missing, empty or tokenless text). */
export type EncodeText = (value: unknown, field: string) => number[];

export interface TaskFamilyDef {
  readonly name: TaskFamily;
  /** the example's text fields, in input order (multiple choice also holds `choices`) */
  readonly fields: readonly string[];
  /**
   * What the head scores: one logit per declared label (softmax over the labels), or one score per
   * candidate sequence (softmax over an example's k candidates).
   */
  readonly classes: 'labels' | 'choices';
  /** consecutive sequences of an example whose extract states are summed before the head (1, or 2 for both orders) */
  readonly sumSequences: number;
  /** token sequences per example */
  sequences(spec: TaskSpec): number;
  /** the input transformation: the example's token sequences, framed by <s> $ <e> and truncated to maxLen */
  encode(ex: Example, text: EncodeText, ids: SpecialIds, maxLen: number, spec: TaskSpec, where: string): Int32Array[];
  /** a data file's row as an example (its label is read by the caller); multiple choice: at most maxChoices */
  read(row: RowReader, maxChoices: number): Example;
  /** an API input (a string, or an object of the fields) as an example, or an InputError */
  input(x: unknown, param: string): Example;
}

const article = (w: string) => (/^[aeiou]/.test(w) ? 'an' : 'a');

/** A family whose head scores declared labels from the texts of `fields`, framed as `encode` says. */
function labelled(name: TaskFamily, fields: string[], o: { sumSequences?: number; encode?: TaskFamilyDef['encode'] } = {}): TaskFamilyDef {
  const sumSequences = o.sumSequences ?? 1;
  return {
    name,
    fields,
    classes: 'labels',
    sumSequences,
    sequences: () => sumSequences,
    encode:
      o.encode ??
      ((ex, text, ids, maxLen) => [
        frame(
          fields.map((f) => text((ex as unknown as Record<string, unknown>)[f], f)),
          ids,
          maxLen,
        ),
      ]),
    read: (row) => Object.fromEntries(fields.map((f) => [f, row.text(f)])) as unknown as Example,
    input(x, param) {
      if (fields.length === 1) {
        if (typeof x !== 'string') throw new InputError(`'${param}' must be a string for ${article(name)} ${name} model`, param);
        return { [fields[0]]: x } as unknown as Example;
      }
      if (!x || typeof x !== 'object' || Array.isArray(x))
        throw new InputError(
          `'${param}' must be an object {${fields.join(', ')}} for ${article(name)} ${name} model, got ${Array.isArray(x) ? 'an array' : typeof x}`,
          param,
        );
      const o = x as Record<string, unknown>;
      for (const f of fields) if (typeof o[f] !== 'string') throw new InputError(`'${param}.${f}' must be a string`, `${param}.${f}`);
      return Object.fromEntries(fields.map((f) => [f, o[f]])) as unknown as Example;
    },
  };
}

const classification = labelled('classification', ['text']);

const entailment = labelled('entailment', ['premise', 'hypothesis']);

/** both orders `<s> a $ b <e>` and `<s> b $ a <e>` (truncated alike), their states summed */
const similarity = labelled('similarity', ['a', 'b'], {
  sumSequences: 2,
  encode(ex, text, ids, maxLen) {
    const e = ex as SimilarityExample;
    const [a, b] = truncateSegments([text(e.a, 'a'), text(e.b, 'b')], maxLen - 3);
    return [frame([a, b], ids, maxLen), frame([b, a], ids, maxLen)];
  },
});

/** `<s> context $ choice_j <e>` for each of the k candidates, one score each */
const multipleChoice: TaskFamilyDef = {
  name: 'multiple-choice',
  fields: ['context'],
  classes: 'choices',
  sumSequences: 1,
  sequences: (spec) => spec.choices!,
  encode(ex, text, ids, maxLen, spec, where) {
    const e = ex as ChoiceExample,
      k = spec.choices!;
    if (!Array.isArray(e.choices)) throw new Error(`${where}: field "choices" is ${e.choices === undefined ? 'missing' : 'not an array'}`);
    if (e.choices.length !== k) throw new Error(`${where}: field "choices" holds ${e.choices.length} candidates, the task has ${k}`);
    const ctx = text(e.context, 'context');
    return e.choices.map((c, j) => frame([ctx, text(c, `choices[${j}]`)], ids, maxLen));
  },
  // JSONL: "choices" an array of strings; CSV: columns choice_0 .. choice_{k-1}
  read(row, maxChoices) {
    const context = row.text('context');
    const listed = row.fields.choices;
    if (listed !== undefined && !Array.isArray(listed)) row.fail('field "choices" must be an array of strings', 'choices');
    const cols =
      listed === undefined
        ? Object.keys(row.fields)
            .filter((f) => /^choice_\d+$/.test(f))
            .sort((x, y) => Number(x.slice(7)) - Number(y.slice(7)))
        : [];
    const n = listed === undefined ? cols.length : (listed as unknown[]).length;
    if (listed === undefined && n === 0) row.fail('missing field "choices" (JSONL) or "choice_0".."choice_k" (CSV)', 'choices');
    if (n > maxChoices) row.fail(`${n} choices, more than the limit of ${maxChoices} per example`, 'choices');
    const choices = listed === undefined ? cols.map((c) => row.text(c)) : (listed as unknown[]).map((v, j) => row.text(`choices[${j}]`, v));
    return { context, choices };
  },
  input(x, param) {
    if (!x || typeof x !== 'object' || Array.isArray(x))
      throw new InputError(`'${param}' must be an object {context, choices} for a multiple-choice model`, param);
    const o = x as Record<string, unknown>;
    if (typeof o.context !== 'string') throw new InputError(`'${param}.context' must be a string`, `${param}.context`);
    if (!Array.isArray(o.choices) || !o.choices.every((c) => typeof c === 'string'))
      throw new InputError(`'${param}.choices' must be an array of strings`, `${param}.choices`);
    return { context: o.context, choices: o.choices as string[] };
  },
};

/** Every family, by name. */
export const FAMILIES: Readonly<Record<TaskFamily, TaskFamilyDef>> = { classification, entailment, similarity, 'multiple-choice': multipleChoice };
