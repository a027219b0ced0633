import { describe, expect, it } from '@jest/globals';
import { ClientCounters } from './client-stats.js';

describe('ClientCounters', () => {
  it('keeps one entry per method, listing every filter it is bound to', () => {
    const counters = new ClientCounters();
    const method = {};
    const first = counters.handler(method, 'Rooms#temperature', 'home/+room/temperature');
    const second = counters.handler(method, 'Rooms#temperature', 'office/+room/temperature');
    expect(second).toBe(first);
    first.handled += 2;
    first.durations.record(3);
    first.fail('boom');
    const [entry] = counters.handlers();
    expect(entry).toMatchObject({
      handler: 'Rooms#temperature',
      filters: ['home/+room/temperature', 'office/+room/temperature'],
      handled: 2,
      failed: 1,
      refused: 0,
      lastError: { message: 'boom' },
      durationMs: { count: 1 },
    });
    expect(entry.lastError?.at).toBeInstanceOf(Date);
  });

  it('copies the counts out, so a snapshot does not change afterwards', () => {
    const counters = new ClientCounters();
    counters.received = 3;
    counters.duplicates = 1;
    const snapshot = counters.messages();
    counters.received++;
    expect(snapshot).toEqual({
      received: 3,
      handled: 0,
      failed: 0,
      dropped: { decode: 0, guard: 0, pipe: 0, duplicate: 1, unrouted: 0 },
      published: 0,
      acknowledged: 0,
      publishFailed: 0,
    });
  });

  it('forgets a handler that was unbound', () => {
    const counters = new ClientCounters();
    const key = {};
    counters.handler(key, 'observe', undefined);
    counters.forget(key);
    expect(counters.handlers()).toEqual([]);
  });
});
