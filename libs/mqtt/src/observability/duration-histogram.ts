/**
 * Handler durations in fixed memory: 136 logarithmic buckets, four per doubling, from 1 µs to about
 * 10 minutes. A quantile is read as its bucket's upper bound, so it is at most 19% high, never low.
 * Recording is one log2 and one increment: cheap enough to run for every message.
 */
export class DurationHistogram {
  /** Buckets per doubling. */
  private static readonly STEPS = 4;
  private static readonly BUCKETS = 136;
  /** Float64: exact counts up to 2^53, far beyond what a process records. */
  private readonly counts = new Float64Array(DurationHistogram.BUCKETS);
  private total = 0;
  private maxMs = 0;

  record(ms: number): void {
    const micros = ms * 1000;
    let index = micros <= 1 ? 0 : Math.ceil(Math.log2(micros) * DurationHistogram.STEPS);
    if (index >= DurationHistogram.BUCKETS) index = DurationHistogram.BUCKETS - 1;
    this.counts[index]++;
    this.total++;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  get count(): number {
    return this.total;
  }

  get max(): number {
    return this.maxMs;
  }

  /** The duration in ms below which a fraction `q` (0..1) of the recorded ones fall; 0 when empty. */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let index = 0; index < DurationHistogram.BUCKETS; index++) {
      seen += this.counts[index];
      if (seen >= rank) return Math.min(this.maxMs, 2 ** (index / DurationHistogram.STEPS) / 1000);
    }
    return this.maxMs;
  }
}
