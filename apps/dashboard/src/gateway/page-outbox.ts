import type { MessageBatch, MessageView } from '../protocol.js';

/**
 * The messages waiting for one page: at most `messagesPerSecond` are taken (a token bucket, a second's worth of burst),
 * and at most that many wait at once (a page that cannot keep up); the rest are only counted, and reported as
 * `skipped` with the next batch. A message is rendered only once it is taken, so a flood costs a counter increment.
 */
export class PageOutbox {
  private pending: MessageView[] = [];
  private skipped = 0;
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly messagesPerSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = messagesPerSecond;
    this.refilledAt = now();
  }

  /** Takes the message `render` makes, or counts it as skipped. */
  offer(render: () => MessageView): void {
    this.refill();
    if (this.tokens < 1 || this.pending.length >= this.messagesPerSecond) {
      this.skipped += 1;
      return;
    }
    this.tokens -= 1;
    this.pending.push(render());
  }

  /** What to send now, or undefined when there is nothing to say; empties the outbox. */
  take(): MessageBatch | undefined {
    if (this.pending.length === 0 && this.skipped === 0) return undefined;
    const batch: MessageBatch = { messages: this.pending, skipped: this.skipped };
    this.pending = [];
    this.skipped = 0;
    return batch;
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.messagesPerSecond, this.tokens + ((now - this.refilledAt) / 1000) * this.messagesPerSecond);
    this.refilledAt = now;
  }
}
