import { describe, expect, it } from '@jest/globals';
import { DurationHistogram } from './duration-histogram.js';

describe('DurationHistogram', () => {
  it('reads 0 for every quantile when empty', () => {
    const histogram = new DurationHistogram();
    expect([histogram.count, histogram.quantile(0.5), histogram.quantile(0.99), histogram.max]).toEqual([0, 0, 0, 0]);
  });

  it('reads quantiles at most 19% high and never low', () => {
    const histogram = new DurationHistogram();
    // 1..1000 ms, one each: the true p50 is 500 ms and the true p99 is 990 ms.
    for (let ms = 1; ms <= 1000; ms++) histogram.record(ms);
    const p50 = histogram.quantile(0.5);
    const p99 = histogram.quantile(0.99);
    expect(p50).toBeGreaterThanOrEqual(500);
    expect(p50).toBeLessThanOrEqual(500 * 1.19);
    expect(p99).toBeGreaterThanOrEqual(990);
    expect(p99).toBeLessThanOrEqual(1000);
    expect(histogram.count).toBe(1000);
    expect(histogram.max).toBe(1000);
  });

  it('keeps sub-microsecond and very long durations in its end buckets', () => {
    const histogram = new DurationHistogram();
    histogram.record(0);
    histogram.record(0.0001);
    histogram.record(10_000_000);
    expect(histogram.quantile(0.5)).toBeLessThanOrEqual(0.001);
    expect(histogram.quantile(1)).toBe(10_000_000);
  });
});
