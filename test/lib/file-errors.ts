// The refusal every file reader owes bad input: a FileFormatError naming the file (src/io/errors.ts).
import { FileFormatError } from '../../src/io/errors.ts';
import { assert, assertEqual, AssertionError } from './harness.ts';

/**
 * `fn` must throw (or reject with) a FileFormatError naming `file` — the message starting with it —
 * whose message matches `pattern`. Returns the error.
 */
export async function assertFileError(fn: () => unknown, file: string, pattern: RegExp): Promise<FileFormatError> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  if (err === undefined) throw new AssertionError(`expected a FileFormatError matching ${pattern}, none came`);
  if (!(err instanceof FileFormatError))
    throw new AssertionError(`expected a FileFormatError, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  assertEqual(err.file, file, 'the error names the file');
  assert(err.message.startsWith(file), `the message starts with the file: ${err.message}`);
  assert(pattern.test(err.message), `"${err.message}" does not match ${pattern}`);
  return err;
}
