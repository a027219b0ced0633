import type { IClientPublishOptions, MqttClient, Packet } from 'mqtt';
import { isConnectionClosed } from './mqtt-js-errors.js';
/** MQTT 5 §3.2.2.3.3: a CONNACK without Receive Maximum allows 65,535. */
const PROTOCOL_RECEIVE_MAXIMUM = 65_535;

export type PublishDone = (error: Error | undefined, packet: Packet | undefined) => void;

interface Outgoing {
  readonly topic: string;
  readonly body: Buffer | string;
  readonly options: IClientPublishOptions;
  readonly done: PublishDone;
  settled: boolean;
}

/**
 * The one way a publish reaches mqtt.js. For QoS 1/2 it adds what mqtt.js lacks:
 * - flow control: at most `maxInflight` unacknowledged publishes, lowered to the broker's Receive
 *   Maximum on MQTT 5; the rest wait in order. mqtt.js sends them all at once, and a broker over its
 *   limit refuses them (MQTT 5: "Quota exceeded") or, on MQTT 3.1.1, acknowledges and drops them;
 * - a publish mqtt.js failed unsent with 'Connection closed' (queued behind the resend of its store
 *   when the connection fell again, mqtt.js #2015) is handed back; it was never written, so it cannot
 *   be duplicated, and it waits in the store for the next connection like any offline publish.
 */
export class ClientPublisher {
  private limit: number;
  private readonly inflight = new Set<Outgoing>();
  private readonly waiting: Outgoing[] = [];
  /** QoS 0 publishes mqtt.js queued while offline: it never calls them back if it is ended first. */
  private readonly queuedQos0 = new Set<Outgoing>();
  private pumping = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly client: MqttClient,
    private readonly maxInflight: number,
    private readonly closed: () => boolean,
  ) {
    this.limit = maxInflight;
  }

  /** On every CONNACK: the broker's Receive Maximum (MQTT 5) bounds the window of this connection. */
  connected(receiveMaximum: number | undefined): void {
    this.limit = Math.min(this.maxInflight, receiveMaximum ?? PROTOCOL_RECEIVE_MAXIMUM);
    this.pump();
  }

  publish(topic: string, body: Buffer | string, options: IClientPublishOptions, done: PublishDone): void {
    if (!options.qos) {
      if (this.client.connected) {
        this.client.publish(topic, body, options, done);
        return;
      }
      const queued: Outgoing = { topic, body, options, done, settled: false };
      this.queuedQos0.add(queued);
      this.client.publish(topic, body, options, (error, packet) => {
        this.queuedQos0.delete(queued);
        if (!queued.settled) this.settle(queued, error ?? undefined, packet);
      });
      return;
    }
    this.waiting.push({ topic, body, options, done, settled: false });
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
    this.client.publish(outgoing.topic, outgoing.body, outgoing.options, (error, packet) => {
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
    });
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
