// A one-line progress bar for long work: step, loss, tokens/s and ETA. On a terminal it redraws in
// place; elsewhere (CI logs, pipes) it prints a line every few seconds.

export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec)) return '?';
  const s = Math.round(sec),
    h = Math.floor(s / 3600),
    m = Math.floor((s % 3600) / 60),
    r = s % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}

export class ProgressBar {
  private lastPrint = 0;
  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly width = 24,
  ) {}

  update(e: { step: number; steps: number; loss: number; tokensPerSec: number; etaSec: number; lr?: number }): void {
    const frac = Math.min(1, e.step / e.steps);
    const filled = Math.round(frac * this.width);
    const bar = '='.repeat(Math.max(0, filled - 1)) + (filled ? '>' : '') + ' '.repeat(this.width - filled);
    const line = `step ${e.step}/${e.steps} [${bar}] loss ${e.loss.toFixed(4)} | ${Math.round(e.tokensPerSec).toLocaleString('en-US')} tok/s | ETA ${formatDuration(e.etaSec)}`;
    if (this.out.isTTY) {
      this.out.write(`\r${line}\x1b[K`);
    } else {
      const now = Date.now();
      if (now - this.lastPrint >= 5000 || e.step === e.steps || e.step === 1) {
        this.out.write(line + '\n');
        this.lastPrint = now;
      }
    }
  }

  /** print a message on its own line without garbling the bar */
  log(msg: string): void {
    this.out.write((this.out.isTTY ? '\r\x1b[K' : '') + msg + '\n');
  }

  end(): void {
    if (this.out.isTTY) this.out.write('\n');
  }
}
