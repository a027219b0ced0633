import { RECORD_FIELDS } from './load-protocol.js';

const PUBLISHED = 1;
const ACKED = 2;
const FAILED = 3;

export interface Latency {
  readonly samples: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** Counts over one phase, and the measured window's figures. */
export interface PhaseCounts {
  readonly published: number;
  readonly acked: number;
  readonly failed: number;
  /** Published, never settled by a PUBACK or an error. */
  readonly unsettled: number;
  /** Acknowledged by the broker and handled by no instance after the drain. */
  readonly lost: number;
  /** Handlings beyond the first of a message. */
  readonly duplicates: number;
  /** Records naming a message that was never published (a corrupted payload or a stray publisher). */
  readonly unknown: number;
  /** Messages sent in the window. */
  readonly sentInWindow: number;
  /** First handlings that started in the window, per instance. */
  readonly handledInWindow: readonly number[];
  /** Device send to handler start, of messages sent in the window. */
  readonly latency: Latency;
}

/** Which message is which: index = seq * devices + device, so one flat array per fact instead of a Map per message. */
export class LoadTracker {
  private readonly state: Uint8Array;
  private readonly sentAt: Float64Array;
  private readonly firstHandledAt: Float64Array;
  private readonly firstInstance: Int8Array;
  private readonly handlings: Uint8Array;
  published = 0;
  settled = 0;
  private acked = 0;
  private ackedHandled = 0;
  private duplicates = 0;
  private unknown = 0;

  constructor(
    private readonly devices: number,
    readonly capacity: number,
  ) {
    this.state = new Uint8Array(capacity);
    this.sentAt = new Float64Array(capacity);
    this.firstHandledAt = new Float64Array(capacity);
    this.firstInstance = new Int8Array(capacity);
    this.handlings = new Uint8Array(capacity);
  }

  onPublish(index: number, sentAt: number): void {
    this.state[index] = PUBLISHED;
    this.sentAt[index] = sentAt;
    this.published++;
  }

  onAck(index: number, ok: boolean): void {
    this.state[index] = ok ? ACKED : FAILED;
    this.settled++;
    if (ok) {
      this.acked++;
      if (this.handlings[index]! > 0) this.ackedHandled++;
    }
  }

  onBatch(instance: number, records: Float64Array): void {
    for (let at = 0; at < records.length; at += RECORD_FIELDS) {
      const index = records[at + 1]! * this.devices + records[at]!;
      if (!(index >= 0 && index < this.capacity && this.state[index] !== 0)) {
        this.unknown++;
        continue;
      }
      const count = this.handlings[index]!;
      if (count === 0) {
        this.firstHandledAt[index] = records[at + 3]!;
        this.firstInstance[index] = instance;
        if (this.state[index] === ACKED) this.ackedHandled++;
      } else {
        this.duplicates++;
      }
      this.handlings[index] = Math.min(255, count + 1);
    }
  }

  /** Drained: every publish settled and every acknowledged one handled. */
  get drained(): boolean {
    return this.settled === this.published && this.ackedHandled === this.acked;
  }

  /** Acknowledged messages handled so far: the drain's progress. */
  get progress(): number {
    return this.settled + this.ackedHandled;
  }

  counts(windowStart: number, windowEnd: number, instances: number): PhaseCounts {
    const latencies: number[] = [];
    const handledInWindow = new Array<number>(instances).fill(0);
    let sentInWindow = 0;
    let lost = 0;
    let failed = 0;
    for (let index = 0; index < this.capacity; index++) {
      const state = this.state[index]!;
      if (state === 0) continue;
      if (state === FAILED) failed++;
      const handled = this.handlings[index]! > 0;
      if (state === ACKED && !handled) lost++;
      const sentAt = this.sentAt[index]!;
      if (sentAt >= windowStart && sentAt < windowEnd) {
        sentInWindow++;
        if (handled) latencies.push(this.firstHandledAt[index]! - sentAt);
      }
      const handledAt = this.firstHandledAt[index]!;
      if (handled && handledAt >= windowStart && handledAt < windowEnd) handledInWindow[this.firstInstance[index]!]!++;
    }
    return {
      published: this.published,
      acked: this.acked,
      failed,
      unsettled: this.published - this.settled,
      lost,
      duplicates: this.duplicates,
      unknown: this.unknown,
      sentInWindow,
      handledInWindow,
      latency: percentiles(latencies),
    };
  }
}

/** Nearest-rank percentiles. */
function percentiles(values: number[]): Latency {
  const sorted = Float64Array.from(values).sort();
  const rank = (q: number) => sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
  return { samples: sorted.length, p50: rank(0.5), p99: rank(0.99), max: sorted.at(-1) ?? Number.NaN };
}
