import { describe, expect, it } from '@jest/globals';
import { OutageLog } from './outage-log.js';

describe('OutageLog', () => {
  it('logs the first error of an outage, counts repeats, and summarises them at most once per interval', () => {
    let now = 0;
    const log = new OutageLog(30_000, () => now);
    const lines: Array<string | undefined> = [];
    for (let attempt = 0; attempt < 47; attempt++) {
      lines.push(log.error('connect ECONNREFUSED 127.0.0.1:1883'));
      now += 1_000;
    }
    expect(lines.filter((line) => line !== undefined)).toEqual([
      'connect ECONNREFUSED 127.0.0.1:1883',
      'still failing after 31 attempts in 30 s: connect ECONNREFUSED 127.0.0.1:1883',
    ]);
    expect(log.connected()).toBe(' after 47 failed attempts in 47 s');
  });

  it('logs a different error at once, and starts afresh after a connection', () => {
    let now = 0;
    const log = new OutageLog(30_000, () => now);
    expect(log.error('connect ECONNREFUSED')).toBe('connect ECONNREFUSED');
    now += 500;
    expect(log.error('connect ECONNREFUSED')).toBeUndefined();
    expect(log.error('Connection refused: Not authorized')).toBe('Connection refused: Not authorized');
    expect(log.connected()).toBe(' after 3 failed attempts in 1 s');
    expect(log.error('connect ECONNREFUSED')).toBe('connect ECONNREFUSED');
    expect(log.connected()).toBeUndefined();
  });

  it('keeps one last error per broker of a failover list, so brokers failing in turn are summarised too', () => {
    let now = 0;
    const log = new OutageLog(30_000, () => now);
    const lines: Array<string | undefined> = [];
    for (let attempt = 0; attempt < 40; attempt++) {
      const port = attempt % 2 === 0 ? 1883 : 1884;
      lines.push(log.error(`connect ECONNREFUSED 127.0.0.1:${port}`, `mqtt://127.0.0.1:${port}`));
      now += 1_000;
    }
    expect(lines.filter((line) => line !== undefined)).toEqual([
      'connect ECONNREFUSED 127.0.0.1:1883',
      'connect ECONNREFUSED 127.0.0.1:1884',
      'still failing after 31 attempts in 30 s: connect ECONNREFUSED 127.0.0.1:1883',
      'still failing after 32 attempts in 31 s: connect ECONNREFUSED 127.0.0.1:1884',
    ]);
    expect(log.connected()).toBe(' after 40 failed attempts in 40 s');
    expect(log.error('connect ECONNREFUSED 127.0.0.1:1883', 'mqtt://127.0.0.1:1883')).toBe('connect ECONNREFUSED 127.0.0.1:1883');
  });
});
