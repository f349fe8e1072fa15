// A binary max-heap of (count, pair key) for the BPE trainer. Ties on count go to `before(x, y)`, which
// says whether pair x should come out before pair y; the trainer uses it for its documented tie-break.
export class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  constructor(private readonly before: (x: number, y: number) => boolean) {}

  get size(): number {
    return this.keys.length;
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    this.up(this.keys.length - 1);
  }

  pop(): { count: number; key: number } {
    const count = this.counts[0],
      key = this.keys[0];
    const lastC = this.counts.pop()!,
      lastK = this.keys.pop()!;
    if (this.keys.length > 0) {
      this.counts[0] = lastC;
      this.keys[0] = lastK;
      this.down(0);
    }
    return { count, key };
  }

  private higher(i: number, j: number): boolean {
    const ci = this.counts[i],
      cj = this.counts[j];
    return ci > cj || (ci === cj && this.before(this.keys[i], this.keys[j]));
  }

  private swap(i: number, j: number): void {
    const c = this.counts[i];
    this.counts[i] = this.counts[j];
    this.counts[j] = c;
    const k = this.keys[i];
    this.keys[i] = this.keys[j];
    this.keys[j] = k;
  }

  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.higher(i, p)) return;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const n = this.keys.length;
    for (;;) {
      const l = 2 * i + 1,
        r = l + 1;
      let m = i;
      if (l < n && this.higher(l, m)) m = l;
      if (r < n && this.higher(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}
