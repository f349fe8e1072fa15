// Text files (corpora, task data) decoded strictly: UTF-8 unless an encoding is named, and bytes that
// are not valid UTF-8 are an error naming the offset — never silently replaced by U+FFFD, which would
// train a model on garbage. A NUL byte means a binary file, not text.
import { FileFormatError, quote } from './errors.ts';

/**
 * The offset of the first byte that does not start or continue a valid UTF-8 sequence (overlong forms,
 * surrogates and code points above U+10FFFF included), or -1 when all of `b` is valid.
 */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  const n = b.length;
  while (i < n) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let len: number,
      min: number,
      max = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) [len, min] = [2, 0x80];
    else if (c === 0xe0) [len, min] = [3, 0xa0];
    else if (c === 0xed)
      [len, min, max] = [3, 0x80, 0x9f]; // no UTF-16 surrogates
    else if (c >= 0xe1 && c <= 0xef) [len, min] = [3, 0x80];
    else if (c === 0xf0) [len, min] = [4, 0x90];
    else if (c >= 0xf1 && c <= 0xf3) [len, min] = [4, 0x80];
    else if (c === 0xf4)
      [len, min, max] = [4, 0x80, 0x8f]; // nothing above U+10FFFF
    else return i;
    if (i + len > n) return i;
    if (b[i + 1] < min || b[i + 1] > max) return i;
    for (let k = 2; k < len; k++) if (b[i + k] < 0x80 || b[i + k] > 0xbf) return i;
    i += len;
  }
  return -1;
}

const UTF8 = new Set(['utf-8', 'utf8', 'unicode-1-1-utf-8']);

/**
 * The text of a file's bytes: UTF-8 (a leading BOM dropped) unless `encoding` names another
 * (any WHATWG label: latin1 / windows-1252, utf-16le, shift_jis, ...). Errors name the file.
 */
export function decodeText(bytes: Uint8Array, file: string, encoding?: string): string {
  const label = (encoding ?? 'utf-8').trim().toLowerCase();
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(label);
  } catch {
    throw new FileFormatError(file, `unknown encoding ${quote(encoding)} (use a WHATWG label: utf-8, latin1, utf-16le, ...)`);
  }
  if (UTF8.has(label)) {
    const bad = firstInvalidUtf8(bytes);
    if (bad >= 0) {
      throw new FileFormatError(
        file,
        `not valid UTF-8 at byte ${bad} (0x${bytes[bad].toString(16).padStart(2, '0')}); pass --encoding (e.g. --encoding latin1) if the file is in another encoding`,
      );
    }
  }
  const asciiCompatible = decoder.encoding !== 'utf-16le' && decoder.encoding !== 'utf-16be';
  if (asciiCompatible) {
    const nul = bytes.indexOf(0);
    if (nul >= 0) throw new FileFormatError(file, `a NUL byte at byte ${nul}: a binary file, not text`);
  }
  const text = decoder.decode(bytes);
  if (!asciiCompatible) {
    const nul = text.indexOf('\0');
    if (nul >= 0) throw new FileFormatError(file, `a NUL character at character ${nul}: a binary file, not text`);
  }
  return text;
}
