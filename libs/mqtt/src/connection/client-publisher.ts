import type { IClientPublishOptions, MqttClient, Packet, PacketCallback } from 'mqtt';
import { isConnectionClosed } from './mqtt-js-errors.js';
/** MQTT 5 §3.2.2.3.3: a CONNACK without Receive Maximum allows 65,535. */
const PROTOCOL_RECEIVE_MAXIMUM = 65_535;
/** Short connections in a row with a QoS 2 publish unacknowledged: the broker refuses QoS 2 by closing. */
const POISON_CLOSES = 3;

export type PublishDone = (error: Error | undefined, packet: Packet | undefined) => void;

interface Outgoing {
  readonly topic: string;
  readonly body: Buffer | string;
  readonly options: IClientPublishOptions;
  readonly done: PublishDone;
  settled: boolean;
  /** When it was sent on the current connection (ms); what `publishTimeout` counts from. */
  sentAt: number;
  /** mqtt.js's message id, to take a publish the broker refuses out of mqtt.js's store. */
  messageId?: number;
  /** Short connections in a row that closed with it unacknowledged (QoS 2 only). */
  shortCloses?: number;
}

/**
 * The one way a publish reaches mqtt.js. For QoS 1/2 it adds what mqtt.js lacks:
 * - flow control: at most `maxInflight` unacknowledged publishes, lowered to the broker's Receive
 *   Maximum on MQTT 5; the rest wait in order. mqtt.js sends them all at once, and a broker over its
 *   limit refuses them (MQTT 5: "Quota exceeded") or, on MQTT 3.1.1, acknowledges and drops them;
 * - a publish mqtt.js failed unsent with 'Connection closed' (queued behind the resend of its store
 *   when the connection fell again, mqtt.js #2015) is handed back; it was never written, so it cannot
 *   be duplicated, and it waits in the store for the next connection like any offline publish;
 * - an acknowledgement timeout (`publishTimeout`): a publish the broker has not acknowledged within it
 *   while connected fails and frees its slot, so a broker that never answers (NATS 2.9 and QoS 2) cannot
 *   hang callers or fill the window. One timer per client sweeps the oldest entries, not one per publish;
 * - a QoS 2 publish that the broker answers by closing the connection (NATS 2.9), which mqtt.js would send
 *   again on every reconnect, for ever: after three short connections in a row it fails and leaves the store.
 */
export class ClientPublisher {
  private limit: number;
  private readonly inflight = new Set<Outgoing>();
  private readonly waiting: Outgoing[] = [];
  /** QoS 0 publishes mqtt.js queued while offline: it never calls them back if it is ended first. */
  private readonly queuedQos0 = new Set<Outgoing>();
  private pumping = false;
  private idleWaiters: Array<() => void> = [];
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: MqttClient,
    private readonly maxInflight: number,
    private readonly closed: () => boolean,
    /** `publishTimeout`: 0 waits forever. */
    private readonly ackTimeoutMs = 0,
  ) {
    this.limit = maxInflight;
  }

  /** On every CONNACK: the broker's Receive Maximum (MQTT 5) bounds the window of this connection. */
  connected(receiveMaximum: number | undefined): void {
    this.limit = Math.min(this.maxInflight, receiveMaximum ?? PROTOCOL_RECEIVE_MAXIMUM);
    // mqtt.js sends its unacknowledged publishes again now: their time starts again.
    const now = Date.now();
    for (const outgoing of this.inflight) outgoing.sentAt = now;
    this.pump();
  }

  /**
   * On every closed connection. `short`: the broker accepted it (CONNACK) and closed it soon after, when mqtt.js
   * had just sent its store again; a QoS 2 publish unacknowledged through several such closes is failed.
   */
  disconnected(short: boolean): void {
    for (const outgoing of this.inflight) {
      if (outgoing.options.qos !== 2) continue;
      outgoing.shortCloses = short ? (outgoing.shortCloses ?? 0) + 1 : 0;
      if (outgoing.shortCloses < POISON_CLOSES) continue;
      this.inflight.delete(outgoing);
      this.settle(
        outgoing,
        new Error(
          `the broker closed the connection ${POISON_CLOSES} times in a row while this QoS 2 publish was unacknowledged; it may not support QoS 2 (NATS before 2.10 does not)`,
        ),
        undefined,
      );
      // Out of mqtt.js's store, or it goes out again on the next connection; its callback finds it settled.
      if (outgoing.messageId !== undefined) this.client.removeOutgoingMessage(outgoing.messageId);
    }
    this.pump();
  }

  publish(topic: string, body: Buffer | string, options: IClientPublishOptions, done: PublishDone): void {
    if (!options.qos) {
      if (this.client.connected) {
        this.client.publish(topic, body, options, done);
        return;
      }
      const queued: Outgoing = { topic, body, options, done, settled: false, sentAt: 0 };
      this.queuedQos0.add(queued);
      this.client.publish(topic, body, options, (error, packet) => {
        this.queuedQos0.delete(queued);
        if (!queued.settled) this.settle(queued, error ?? undefined, packet);
      });
      return;
    }
    this.waiting.push({ topic, body, options, done, settled: false, sentAt: 0 });
    this.pump();
  }

  /** The flow-control window: QoS 1/2 publishes sent and not acknowledged, and how many may be. */
  get window(): { used: number; limit: number } {
    return { used: this.inflight.size, limit: this.limit };
  }

  /** QoS 1/2 publishes not acknowledged yet: waiting their turn or in flight. */
  get pending(): number {
    return this.waiting.length + this.inflight.size;
  }

  /** Resolves true once nothing is pending, or false after `timeoutMs`. */
  whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.pending === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const waiter = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((other) => other !== waiter);
        resolve(false);
      }, timeoutMs);
      this.idleWaiters.push(waiter);
    });
  }

  /**
   * The client has ended: fails whatever is still pending, so no publish promise hangs. mqtt.js
   * keeps a durable session's unacknowledged publishes without calling back when it is ended.
   */
  abandon(reason: string): void {
    const left = [...this.inflight, ...this.waiting.splice(0), ...this.queuedQos0];
    this.inflight.clear();
    this.queuedQos0.clear();
    this.stopSweeping();
    for (const outgoing of left) this.settle(outgoing, new Error(reason), undefined);
    this.notifyIdle();
  }

  private pump(): void {
    // Re-entrant calls (mqtt.js may call back synchronously) leave the work to the running loop.
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.waiting.length > 0 && this.inflight.size < this.limit) {
        const outgoing = this.waiting.shift() as Outgoing;
        this.inflight.add(outgoing);
        this.send(outgoing);
      }
    } finally {
      this.pumping = false;
    }
    this.notifyIdle();
  }

  private send(outgoing: Outgoing): void {
    outgoing.sentAt = Date.now();
    if (this.ackTimeoutMs > 0 && this.sweeper === undefined) this.startSweeping();
    const done: PacketCallback = (error, packet) => {
      if (outgoing.settled) return;
      if (isConnectionClosed(error) && !this.closed()) {
        // Not synchronously: mqtt.js calls back while it still empties that queue, and would drop it again.
        setImmediate(() => {
          if (!outgoing.settled) this.send(outgoing);
        });
        return;
      }
      this.inflight.delete(outgoing);
      this.settle(outgoing, error ?? undefined, packet);
      this.pump();
    };
    this.client.publish(outgoing.topic, outgoing.body, outgoing.options, done);
    if (outgoing.options.qos === 2) {
      // mqtt.js numbers a publish as it takes it; one queued behind its store has no id yet, and if the broker refuses
      // it, it fails all the same but stays in mqtt.js's store.
      const id = this.client.getLastMessageId();
      if (this.client.outgoing[id]?.cb === done) outgoing.messageId = id;
    }
  }

  private startSweeping(): void {
    // A quarter of the timeout: a publish fails between 1x and 1.25x publishTimeout after it was sent.
    const every = Math.max(10, Math.floor(this.ackTimeoutMs / 4));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  private stopSweeping(): void {
    if (this.sweeper === undefined) return;
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  private sweep(): void {
    if (this.inflight.size === 0) {
      this.stopSweeping();
      return;
    }
    // Offline, nothing is owed: the publishes go out again on the next connection.
    if (!this.client.connected) return;
    const expired = Date.now() - this.ackTimeoutMs;
    let freed = false;
    // A Set iterates in insertion order: the oldest sends first, so the sweep stops at the first one in time.
    for (const outgoing of this.inflight) {
      if (outgoing.sentAt > expired) break;
      this.inflight.delete(outgoing);
      freed = true;
      const qos = outgoing.options.qos ?? 0;
      this.settle(
        outgoing,
        new Error(`the broker did not acknowledge the QoS ${qos} publish within publishTimeout (${this.ackTimeoutMs} ms); it may not support QoS ${qos}`),
        undefined,
      );
    }
    if (freed) this.pump();
  }

  private settle(outgoing: Outgoing, error: Error | undefined, packet: Packet | undefined): void {
    outgoing.settled = true;
    outgoing.done(error, packet);
  }

  private notifyIdle(): void {
    if (this.pending > 0 || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const waiter of waiters) waiter();
  }
}
