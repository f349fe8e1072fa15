// The framing every input transformation (§3.3) shares: text segments become one token sequence
// `<s> seg0 $ seg1 ... <e>`, the head reading h_n at <e>.
//
// Truncation policy (inputs longer than the context window `maxLen`): the special tokens are always
// kept, the extract token last. While the sequence is too long, one token is cut from the FRONT of the
// currently longest text segment (ties: the earlier segment). For a single text that keeps its end,
// next to <e>; for pairs the longer side gives way first, so a short hypothesis or answer survives a
// long premise or context.
import type { GPTTokenizer } from '../tokenizer/tokenizer.ts';

export interface SpecialIds {
  start: number;
  delimiter: number;
  extract: number;
}

export function specialIds(tok: GPTTokenizer): SpecialIds {
  return { start: tok.requireSpecialId('start'), delimiter: tok.requireSpecialId('delimiter'), extract: tok.requireSpecialId('extract') };
}

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
