import { describe, expect, it } from '@jest/globals';
import type { IPublishPacket } from 'mqtt';
import { DEDUPE_MAX_BYTES, DEDUPE_MAX_ENTRIES, DuplicateFilter } from './duplicate-filter.js';

const packet = (messageId: number, payload: string, dup: boolean, qos: 0 | 1 | 2 = 1, topic = 't'): IPublishPacket => ({
  cmd: 'publish',
  topic,
  payload: Buffer.from(payload),
  qos,
  dup,
  retain: false,
  messageId,
});

describe('DuplicateFilter', () => {
  it('drops a QoS 1 redelivery of a message seen within the window, and only that', () => {
    const filter = new DuplicateFilter(1_000);
    expect(filter.isDuplicate('t', packet(7, 'a', false), 0)).toBe(false);
    expect(filter.isDuplicate('t', packet(7, 'a', true), 10)).toBe(true);
    // The same packet id reused for another payload is a new message.
    expect(filter.isDuplicate('t', packet(7, 'b', true), 20)).toBe(false);
    // A redelivery under a new packet id (a cluster node taking over the session) is the same message.
    expect(filter.isDuplicate('t', packet(42, 'a', true), 25)).toBe(true);
    // Another topic with the same payload is another message.
    expect(filter.isDuplicate('u', packet(42, 'a', true, 1, 'u'), 26)).toBe(false);
    // A first delivery without DUP is never dropped.
    expect(filter.isDuplicate('t', packet(7, 'a', false), 30)).toBe(false);
  });

  it('forgets messages after the window and ignores QoS 0 and 2', () => {
    const filter = new DuplicateFilter(100);
    filter.isDuplicate('t', packet(1, 'a', false), 0);
    expect(filter.isDuplicate('t', packet(1, 'a', true), 500)).toBe(false);
    expect(filter.isDuplicate('t', packet(2, 'x', true, 2), 0)).toBe(false);
    expect(filter.isDuplicate('t', packet(2, 'x', true, 2), 1)).toBe(false);
  });

  it('forgets a message once its window passed, also after a message seen earlier was refreshed', () => {
    const filter = new DuplicateFilter(100);
    filter.isDuplicate('t', packet(1, 'a', false), 0); // remembered until 100
    filter.isDuplicate('t', packet(2, 'b', false), 10); // until 110
    filter.isDuplicate('t', packet(1, 'a', false), 90); // packet id 1 reused for the same payload: until 190
    // At 150 message 2's window has passed, though message 1 (first in, refreshed) is still remembered.
    expect(filter.isDuplicate('t', packet(2, 'b', true), 150)).toBe(false);
    expect(filter.isDuplicate('t', packet(1, 'a', true), 160)).toBe(true);
  });

  it('remembers at most maxEntries messages, forgetting the oldest first', () => {
    const filter = new DuplicateFilter(60_000, { maxEntries: 3 });
    for (let id = 1; id <= 4; id++) expect(filter.isDuplicate('t', packet(id, `p${id}`, false), id)).toBe(false);
    expect(filter.isDuplicate('t', packet(1, 'p1', true), 10)).toBe(false); // forgotten: handled again
    // Handling message 1 again remembered it, which pushed out message 2, then the oldest.
    expect(filter.isDuplicate('t', packet(2, 'p2', true), 11)).toBe(false);
    expect(filter.isDuplicate('t', packet(4, 'p4', true), 12)).toBe(true);
    expect(filter.size).toBe(3);
  });

  it('remembers at most maxBytes, counting the topic, so long topics cannot pin memory', () => {
    const topic = (i: number) => `in/${i}/${'x'.repeat(60_000)}`;
    const filter = new DuplicateFilter(60_000, { maxBytes: 1024 * 1024 });
    for (let id = 1; id <= 200; id++) filter.isDuplicate(topic(id), packet(id, 'p', false, 1, topic(id)), id);
    expect(filter.isDuplicate(topic(200), packet(200, 'p', true, 1, topic(200)), 300)).toBe(true);
    expect(filter.isDuplicate(topic(1), packet(1, 'p', true, 1, topic(1)), 301)).toBe(false);
    expect(filter.retainedBytes).toBeLessThanOrEqual(1024 * 1024);
    expect(filter.size).toBeGreaterThanOrEqual(4); // each entry counts about 120 KB (two bytes per character)
    expect(filter.size).toBeLessThan(10);
  });

  it('has defaults that bound a flood of short topics by count and of long ones by bytes', () => {
    const filter = new DuplicateFilter(86_400_000);
    for (let id = 0; id < DEDUPE_MAX_ENTRIES + 1_000; id++) filter.isDuplicate('t', packet(id % 65_536, String(id), false), id);
    expect(filter.size).toBe(DEDUPE_MAX_ENTRIES);
    const long = 'y'.repeat(65_535);
    for (let id = 0; id < 300; id++) filter.isDuplicate(long, packet(id, `p${id}`, false, 1, long), 1e6 + id);
    expect(filter.retainedBytes).toBeLessThanOrEqual(DEDUPE_MAX_BYTES);
    expect(filter.size).toBeLessThan(DEDUPE_MAX_ENTRIES);
  });
});
