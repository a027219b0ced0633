import { createHash } from 'node:crypto';
import type { IPublishPacket } from 'mqtt';

/**
 * Drops QoS 1 redeliveries (DUP flag set) of a message already handled within `windowMs`.
 * A message is known by topic, packet id and payload digest, so a reused packet id with
 * another payload is never mistaken for a duplicate.
 */
export class DuplicateFilter {
  private readonly seen = new Map<string, number>();
  private dropped = 0;

  constructor(private readonly windowMs: number) {}

  /** True when the message is a redelivery to drop; otherwise remembers it. */
  isDuplicate(topic: string, packet: IPublishPacket, now = Date.now()): boolean {
    if (packet.qos !== 1 || packet.messageId === undefined) return false;
    this.expire(now);
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const key = `${packet.messageId}\u0000${topic}\u0000${createHash('sha1').update(payload).digest('base64')}`;
    if (packet.dup && this.seen.has(key)) {
      this.dropped++;
      return true;
    }
    this.seen.set(key, now + this.windowMs);
    return false;
  }

  /** Redeliveries dropped so far. */
  get droppedCount(): number {
    return this.dropped;
  }

  private expire(now: number): void {
    // Entries are inserted in time order, so the oldest come first.
    for (const [key, expiry] of this.seen) {
      if (expiry > now) break;
      this.seen.delete(key);
    }
  }
}
