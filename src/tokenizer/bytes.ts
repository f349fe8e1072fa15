// The byte-level alphabet and pre-tokenisation shared by the trainer and the encoder. Both must use the
// same split and the same byte<->symbol table, or a trained vocabulary would not encode what it learned.

/**
 * GPT-2's pre-tokenisation pattern (also r50k_base's and @huggingface/tokenizers' ByteLevel one): merges
 * never cross these boundaries, so a word, a number, a run of punctuation and whitespace stay apart.
 */
export const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** A fresh copy of the pattern: a global RegExp carries lastIndex, so sharing one between callers is unsafe. */
export function gpt2Pattern(): RegExp {
  return new RegExp(GPT2_PATTERN.source, GPT2_PATTERN.flags);
}

/**
 * GPT-2's bytes_to_unicode: each byte is shown as a printable character, so a token is a plain string in
 * tokenizer.json (byte 0x20, space, becomes "Ġ"). Index = byte value.
 */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const out = new Array<string>(256);
  for (const b of printable) out[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (out[b] === undefined) out[b] = String.fromCharCode(256 + n++);
  return out;
})();

/** Inverse of BYTE_TO_CHAR: symbol char code -> byte, -1 where the char is not a byte symbol. */
export const CHAR_TO_BYTE: Int16Array = (() => {
  const t = new Int16Array(512).fill(-1);
  BYTE_TO_CHAR.forEach((c, b) => (t[c.charCodeAt(0)] = b));
  return t;
})();

const encoder = new TextEncoder();

/** UTF-8 bytes of a string. Lone surrogates become U+FFFD (EF BF BD), as the WHATWG encoder defines. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Byte-level symbol string of some bytes, the form tokens take in tokenizer.json. */
export function bytesToSymbols(bytes: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += BYTE_TO_CHAR[bytes[i]];
  return s;
}

/** How many bytes a byte-level symbol string stands for, or -1 if a char is not one of the 256 byte symbols. */
export function symbolBytesLength(symbols: string): number {
  for (let i = 0; i < symbols.length; i++) {
    const c = symbols.charCodeAt(i);
    if (c >= 512 || CHAR_TO_BYTE[c] < 0) return -1;
  }
  return symbols.length;
}

/** Writes the bytes of a byte-level symbol string (checked by symbolBytesLength) into out from offset. */
export function writeSymbolBytes(symbols: string, out: Uint8Array, offset: number): void {
  for (let i = 0; i < symbols.length; i++) out[offset + i] = CHAR_TO_BYTE[symbols.charCodeAt(i)];
}
