// Labelled data files for fine-tuning, JSONL or CSV: each row holds its family's fields (families.ts
// reads them; the schema per family is in docs/finetune.md) and a label — a class name, or for
// multiple choice the 0-based index of the right choice.
//
// Every error is a FileFormatError naming the file, the line (1-based; a CSV record by the line it
// starts on) and the field: a missing field, an empty text, a label outside the declared set, an
// example larger than DATA_LIMITS. Labels may be strings or numbers (compared as strings). Without
// declared labels, the set is the distinct labels of the file, sorted.
import { FileFormatError, quote } from '../io/errors.ts';
import type { Example, RowReader, TaskFamily, TaskSpec } from './task.ts';
import { familyOf } from './task.ts';

/**
 * Per-example caps, checked as a file is read: every candidate of a multiple-choice example is a
 * sequence the model runs, so thousands of choices from a 40 KB file would take gigabytes.
 * (Real tasks have 2–5 choices; texts are truncated to the context window anyway.)
 */
export const DATA_LIMITS = { choices: 32, fieldChars: 1_000_000 } as const;

export type DataFormat = 'jsonl' | 'csv';

export interface Row {
  line: number;
  fields: Record<string, unknown>;
}

export function formatOf(file: string): DataFormat {
  if (/\.jsonl?$/i.test(file)) return 'jsonl';
  if (/\.csv$/i.test(file)) return 'csv';
  throw new FileFormatError(file, 'unknown data format (use a .jsonl or .csv file)');
}

export function parseJSONL(text: string, file = 'data.jsonl'): Row[] {
  const rows: Row[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (raw.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (err) {
      throw new FileFormatError(file, `not valid JSON (${err instanceof Error ? err.message : String(err)})`, { line: i + 1 });
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new FileFormatError(file, 'expected a JSON object', { line: i + 1 });
    rows.push({ line: i + 1, fields: v as Record<string, unknown> });
  });
  return rows;
}

/** RFC 4180 CSV: a header row, quoted fields with "" escapes and newlines inside quotes, CRLF or LF. */
export function parseCSV(text: string, file = 'data.csv'): Row[] {
  const records: { line: number; cells: string[] }[] = [];
  let cells: string[] = [],
    cell = '',
    quoted = false,
    line = 1,
    start = 1,
    i = 0,
    any = false;
  const endCell = () => {
    cells.push(cell);
    cell = '';
  };
  const endRecord = () => {
    endCell();
    if (any || cells.length > 1 || cells[0] !== '') records.push({ line: start, cells });
    cells = [];
    any = false;
  };
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  for (; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === '\n') line++;
        cell += ch;
      }
      continue;
    }
    if (ch === '"' && cell === '') {
      quoted = true;
      any = true;
    } else if (ch === ',') {
      endCell();
      any = true;
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      start = line;
    } else cell += ch;
  }
  if (quoted) throw new FileFormatError(file, 'a quoted field is not closed', { line: start });
  if (cell !== '' || cells.length > 0 || any) endRecord();
  if (records.length === 0) throw new FileFormatError(file, 'empty (a CSV file needs a header row)');
  const header = records[0].cells.map((h) => h.trim());
  const rows: Row[] = [];
  for (const r of records.slice(1)) {
    if (r.cells.length !== header.length) throw new FileFormatError(file, `${r.cells.length} fields, the header has ${header.length}`, { line: r.line });
    const fields: Record<string, unknown> = {};
    header.forEach((h, j) => (fields[h] = r.cells[j]));
    rows.push({ line: r.line, fields });
  }
  return rows;
}

export interface ReadOptions {
  /** the declared label set (from --labels, or the model's task.json); else the file's labels, sorted */
  labels?: string[];
  /** multiple choice: candidates per example (else taken from the first row) */
  choices?: number;
  /** false: rows may lack labels (prediction) */
  requireLabels?: boolean;
  /** multiple choice: at most this many candidates per example (default DATA_LIMITS.choices) */
  maxChoices?: number;
}

export interface Dataset {
  spec: TaskSpec;
  examples: Example[];
  lines: number[];
  file: string;
}

/** Parse and validate a data file's text into examples of one family. */
export function readDataset(text: string, family: TaskFamily, file: string, o: ReadOptions = {}): Dataset {
  const fam = familyOf(family);
  const rows = formatOf(file) === 'jsonl' ? parseJSONL(text, file) : parseCSV(text, file);
  if (rows.length === 0) throw new FileFormatError(file, 'no examples');
  const requireLabels = o.requireLabels ?? true;
  const maxChoices = o.maxChoices ?? DATA_LIMITS.choices;
  const reader = (r: Row): RowReader => {
    const fail = (detail: string, field?: string): never => {
      throw new FileFormatError(file, detail, { line: r.line, field });
    };
    return {
      fields: r.fields,
      fail,
      text(f, v = r.fields[f]) {
        if (v === undefined || v === null) fail(`missing field "${f}"`, f);
        if (typeof v !== 'string') fail(`field "${f}" must be a string, got ${quote(v)}`, f);
        const s = v as string;
        if (s.length > DATA_LIMITS.fieldChars) fail(`field "${f}" has ${s.length} characters, more than the limit of ${DATA_LIMITS.fieldChars}`, f);
        if (s.trim() === '') fail(`field "${f}" is empty`, f);
        return s;
      },
    };
  };
  const labelOf = (r: Row, row: RowReader): string | undefined => {
    const v = r.fields.label;
    if (v === undefined || v === null || v === '') {
      if (requireLabels) row.fail('missing field "label"', 'label');
      return undefined;
    }
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
      row.fail(`field "label" must be a string or number, got ${quote(v)}`, 'label');
    return String(v);
  };
  const examples: Example[] = [];
  let k = o.choices; // candidates per example (multiple choice): the first row's unless declared
  const seen = new Set<string>();
  for (const r of rows) {
    const row = reader(r),
      ex = fam.read(row, maxChoices) as Example & { label?: string | number };
    if (fam.classes === 'choices') {
      const n = (ex as { choices: string[] }).choices.length;
      k ??= n;
      if (n !== k) row.fail(`${n} choices, expected ${k} (every example of a task has the same number)`, 'choices');
      if (k < 2) row.fail(`a ${family} example needs at least 2 choices`, 'choices');
    }
    const label = labelOf(r, row);
    if (label !== undefined) {
      if (fam.classes === 'choices') {
        const i = Number(label);
        if (!(Number.isInteger(i) && i >= 0 && i < k!)) row.fail(`label ${quote(r.fields.label)} is not a choice index in 0..${k! - 1}`, 'label');
        ex.label = i;
      } else {
        if (o.labels && !o.labels.includes(label)) row.fail(`label ${quote(label)} is not one of the declared labels ${quote(o.labels)}`, 'label');
        seen.add(label);
        ex.label = label;
      }
    }
    examples.push(ex);
  }
  const lines = rows.map((r) => r.line);
  if (fam.classes === 'choices') return { spec: { family, labels: [], choices: k }, examples, lines, file };
  const labels = o.labels ?? [...seen].sort();
  if (labels.length < 2) throw new FileFormatError(file, `a ${family} task needs at least 2 labels; found ${quote(labels)}`);
  return { spec: { family, labels }, examples, lines, file };
}
