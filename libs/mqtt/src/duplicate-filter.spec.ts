import { describe, expect, it } from '@jest/globals';
import type { IPublishPacket } from 'mqtt';
import { DuplicateFilter } from './duplicate-filter.js';

const packet = (messageId: number, payload: string, dup: boolean, qos: 0 | 1 | 2 = 1): IPublishPacket => ({
  cmd: 'publish',
  topic: 't',
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
    // A first delivery without DUP is never dropped.
    expect(filter.isDuplicate('t', packet(7, 'a', false), 30)).toBe(false);
    expect(filter.droppedCount).toBe(1);
  });

  it('forgets messages after the window and ignores QoS 0 and 2', () => {
    const filter = new DuplicateFilter(100);
    filter.isDuplicate('t', packet(1, 'a', false), 0);
    expect(filter.isDuplicate('t', packet(1, 'a', true), 500)).toBe(false);
    expect(filter.isDuplicate('t', packet(2, 'x', true, 2), 0)).toBe(false);
    expect(filter.isDuplicate('t', packet(2, 'x', true, 2), 1)).toBe(false);
  });
});
