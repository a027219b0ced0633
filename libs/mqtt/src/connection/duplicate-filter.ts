import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { IPublishPacket } from 'mqtt';
import { MQTT_DEFAULTS } from '../options/mqtt-defaults.js';

/** Defaults from MQTT_DEFAULTS (the one place for them): a QoS 1 flood with a day-long window stays bounded. */
export const DEDUPE_MAX_ENTRIES = MQTT_DEFAULTS.dedupeMaxEntries;
export const DEDUPE_MAX_BYTES = MQTT_DEFAULTS.dedupeMaxBytes;

/** What one remembered message is counted at beyond its key: Map entry, expiry and string headers (230 to 290 measured on Node 20). */
const ENTRY_OVERHEAD_BYTES = 300;

export interface DuplicateFilterLimits {
  /** Messages remembered at most; default DEDUPE_MAX_ENTRIES. */
  readonly maxEntries?: number;
  /** Estimated bytes remembered at most (keys at two bytes per character, plus ENTRY_OVERHEAD_BYTES each); default DEDUPE_MAX_BYTES. */
  readonly maxBytes?: number;
}

/**
 * Drops QoS 1 redeliveries (DUP flag set) of a message already handled within `windowMs`.
 * A message is known by its topic and payload digest, not by its packet id: a clustered broker that
 * redelivers from another node after a failover (RabbitMQ with quorum queues) uses a new packet id, and
 * a reused packet id with another payload is a new message. So a DUP copy whose topic and payload equal
 * a message handled within the window is dropped, even when it was a distinct message with the same
 * content (payloads that carry a sequence number or a timestamp never are).
 *
 * Memory is bounded whatever the window and the message rate: at most `maxEntries` messages and
 * at most `maxBytes` of estimated memory, topics included (a topic may be 64 KiB, and every
 * message of a flood is remembered). Past either bound the oldest messages are forgotten first,
 * before their window ends; a redelivery of one of those is then handled again, as QoS 1 allows.
 * Entries are kept in expiry order (a message seen again moves to the end), so expiry stops at the
 * first entry still inside its window. Time is monotonic (performance.now()), not the wall clock.
 */
export class DuplicateFilter {
  /** key -> expiry, oldest first. */
  private readonly seen = new Map<string, number>();
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private bytes = 0;

  constructor(
    private readonly windowMs: number,
    limits: DuplicateFilterLimits = {},
  ) {
    this.maxEntries = limits.maxEntries ?? DEDUPE_MAX_ENTRIES;
    this.maxBytes = limits.maxBytes ?? DEDUPE_MAX_BYTES;
  }

  /** True when the message is a redelivery to drop; otherwise remembers it. */
  isDuplicate(topic: string, packet: IPublishPacket, now = performance.now()): boolean {
    if (packet.qos !== 1 || packet.messageId === undefined) return false;
    this.expire(now);
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const key = `${topic}\u0000${createHash('sha1').update(payload).digest('base64')}`;
    if (this.seen.has(key)) {
      if (packet.dup) return true;
      // Seen again: delete first, so the new expiry goes to the end and the Map stays in expiry order.
      this.seen.delete(key);
    } else {
      this.bytes += entryBytes(key);
    }
    this.seen.set(key, now + this.windowMs);
    this.evict();
    return false;
  }

  /** Messages remembered now. */
  get size(): number {
    return this.seen.size;
  }

  /** Estimated bytes remembered now (see DuplicateFilterLimits.maxBytes). */
  get retainedBytes(): number {
    return this.bytes;
  }

  private expire(now: number): void {
    for (const [key, expiry] of this.seen) {
      if (expiry > now) break;
      this.forget(key);
    }
  }

  private evict(): void {
    while (this.seen.size > this.maxEntries || (this.bytes > this.maxBytes && this.seen.size > 0)) {
      this.forget(this.seen.keys().next().value as string);
    }
  }

  private forget(key: string): void {
    this.seen.delete(key);
    this.bytes -= entryBytes(key);
  }
}

/** Two bytes per character: V8 keeps a string with any character beyond Latin-1 at two bytes each. */
function entryBytes(key: string): number {
  return 2 * key.length + ENTRY_OVERHEAD_BYTES;
}
