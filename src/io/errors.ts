// The one error type every reader throws for a file it refuses: the message starts with the file's
// path, and the path (plus the field, tensor, node or line when there is one) is kept as data, so that
// callers — and the fuzzer — can tell a clean rejection from a crash.

export class FileFormatError extends Error {
  /** the path of the file that was refused */
  readonly file: string;
  /** the field, tensor, initializer or node the problem is in, when there is one */
  readonly field?: string;
  /** 1-based line of a text file */
  readonly line?: number;

  constructor(file: string, detail: string, where: { field?: string; line?: number } = {}) {
    super(`${file}${where.line !== undefined ? ` line ${where.line}` : ''}: ${detail}`);
    this.name = 'FileFormatError';
    this.file = file;
    this.field = where.field;
    this.line = where.line;
  }
}

/** Re-throw anything a reader's helpers threw as a FileFormatError of `file` (ours pass through). */
export function asFileError(file: string, err: unknown, where: { field?: string; line?: number } = {}): FileFormatError {
  if (err instanceof FileFormatError) return err;
  return new FileFormatError(file, err instanceof Error ? err.message : String(err), where);
}

/** A value read from a file, for a message: its JSON cut to `max` characters. Never throws (a value nested
 *  20,000 deep parses, but overflows JSON.stringify's recursion). */
export function quote(v: unknown, max = 120): string {
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    s = undefined;
  }
  s ??= Array.isArray(v) ? '[…]' : v && typeof v === 'object' ? '{…}' : String(v);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** The JSON type of a value, for "must hold a JSON object, got …" messages. */
export function jsonKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return quote(v);
}

/** Parse JSON text; errors name the file (empty, not JSON). */
export function parseJSON(text: string, file: string): unknown {
  if (text.trim() === '') throw new FileFormatError(file, 'empty');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new FileFormatError(file, `not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** Parse JSON text that must hold an object: errors name the file (empty, not JSON, not an object). */
export function parseJSONObject(text: string, file: string): Record<string, unknown> {
  const v = parseJSON(text, file);
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new FileFormatError(file, `must hold a JSON object, got ${jsonKind(v)}`);
  return v as Record<string, unknown>;
}
