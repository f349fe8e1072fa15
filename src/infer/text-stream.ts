// The text of a generation as it grows token by token: what is safe to show so far, and where a stop
// string ends it. A token's text may be incomplete (a multi-byte character split across tokens decodes
// to U+FFFD until its last byte arrives), and the end of the text may be the start of a stop string:
// both are held back until the next tokens decide. Shared by generateStream (one sequence) and the
// serving scheduler (many), so both stream exactly the same text.
import type { GPTTokenizer } from '../tokenizer/tokenizer.ts';

export class TextStream {
  private readonly ids: number[] = [];
  private emitted = 0; // characters of the text already handed out
  private readonly stops: string[];
  private readonly holdBack: number;

  constructor(
    private readonly tok: GPTTokenizer,
    stop: string[] = [],
  ) {
    this.stops = stop.filter((s) => s.length > 0);
    this.holdBack = this.stops.reduce((m, s) => Math.max(m, s.length - 1), 0);
  }

  /** tokens added so far */
  get tokens(): number {
    return this.ids.length;
  }

  /** Adds a token: the new text safe to show, and whether a stop string ended the text (which then stops before it). */
  push(id: number): { text: string; stopped: boolean } {
    this.ids.push(id);
    const full = this.tok.decode(this.ids);
    const stopAt = this.stops.reduce((m, s) => {
      const i = full.indexOf(s);
      return i >= 0 && i < m ? i : m;
    }, Infinity);
    if (stopAt !== Infinity) {
      const text = full.slice(this.emitted, stopAt);
      this.emitted = full.length;
      return { text, stopped: true };
    }
    let safe = full.length - this.holdBack;
    while (safe > this.emitted && full.charCodeAt(safe - 1) === 0xfffd) safe--;
    if (safe <= this.emitted) return { text: '', stopped: false };
    const text = full.slice(this.emitted, safe);
    this.emitted = safe;
    return { text, stopped: false };
  }

  /** The text not handed out yet (the generation ended without a stop string). */
  rest(): string {
    const text = this.tok.decode(this.ids).slice(this.emitted);
    this.emitted += text.length;
    return text;
  }
}
