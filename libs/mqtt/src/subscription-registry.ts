import type { ISubscriptionMap, MqttClient } from 'mqtt';
import { MqttSubscribeError } from './errors/mqtt-subscribe.error.js';
import type { QoS, TopicQos } from './interfaces/mqtt-message.interface.js';
import { TopicRouter } from './topic-router.js';

/** A subscription as asked for; `nl`, `rap` and `rh` are MQTT 5 subscription options. */
export interface SubscriptionRequest {
  readonly filter: string;
  readonly qos: QoS;
  /** No Local: do not receive our own publishes. */
  readonly nl?: boolean;
  /** Retain As Published: keep the retain flag as the publisher set it. */
  readonly rap?: boolean;
  /** Retain Handling: 0 send retained on subscribe, 1 only on a new subscription, 2 never. */
  readonly rh?: 0 | 1 | 2;
}

interface WantedSubscription extends SubscriptionRequest {
  /** MQTT 5 subscription identifier, stable per filter. */
  readonly id: number | undefined;
  /** Granted by the broker on the current session. */
  granted: boolean;
}

interface Waiter {
  resolve(value: TopicQos): void;
  reject(error: Error): void;
}

export interface SubscriptionEvents {
  subscribed(granted: TopicQos[]): void;
}

/** mqtt.js fails in-flight SUBSCRIBEs with this when the connection drops; they are resent on reconnect. */
const CONNECTION_CLOSED = 'Connection closed';

/**
 * Owns every subscription of one client: what the user wants, what the broker granted, and
 * restoring them after a reconnect. mqtt.js's own resubscription is off (`resubscribe: false`)
 * so that each filter is sent exactly once per connection, and so that `$share` filters are
 * restored even when the broker reports a present session (Mosquitto 2.0.11 forgets them).
 */
export class SubscriptionRegistry {
  private readonly wanted = new Map<string, WantedSubscription>();
  private readonly granted = new Map<string, TopicQos>();
  private readonly waiters = new Map<string, Waiter[]>();
  /** Dropped while offline: a present durable session still holds them, so they are unsubscribed on connect. */
  private readonly droppedOffline = new Set<string>();
  /** MQTT 5: subscription identifier per non-shared filter, to recognise one copy per message. */
  private readonly identifiers = new TopicRouter<number>();
  private nextIdentifier = 1;

  constructor(
    private readonly client: MqttClient,
    private readonly events: SubscriptionEvents,
    private readonly mqtt5: boolean,
  ) {}

  /** Granted subscriptions, filter -> { topic, qos }. */
  get topics(): ReadonlyMap<string, TopicQos> {
    return this.granted;
  }

  /** Subscribes now when connected, else on the next connection. Resolves when granted. */
  subscribe(requests: readonly SubscriptionRequest[]): Promise<TopicQos[]> {
    const toSend: WantedSubscription[] = [];
    const results = requests.map((request) => {
      const { filter, qos } = request;
      const current = this.wanted.get(filter);
      if (current?.granted && sameOptions(current, request)) {
        // Same filter, same options: a new SUBSCRIBE would only replay retained messages.
        return Promise.resolve(this.granted.get(filter) ?? { topic: filter, qos });
      }
      const wanted: WantedSubscription = { ...request, id: current?.id ?? this.identify(filter), granted: false };
      this.wanted.set(filter, wanted);
      this.droppedOffline.delete(filter);
      toSend.push(wanted);
      return new Promise<TopicQos>((resolve, reject) => {
        const list = this.waiters.get(filter);
        if (list) list.push({ resolve, reject });
        else this.waiters.set(filter, [{ resolve, reject }]);
      });
    });
    if (toSend.length > 0 && this.client.connected) {
      this.send(toSend);
    }
    return Promise.all(results);
  }

  /** Drops filters; sends UNSUBSCRIBE when connected. A dropped filter stays dropped across reconnects. */
  async unsubscribe(filters: readonly string[]): Promise<void> {
    const held = filters.filter((filter) => this.wanted.has(filter));
    for (const filter of held) {
      const id = this.wanted.get(filter)?.id;
      if (id !== undefined) this.identifiers.remove(filter, id);
      this.wanted.delete(filter);
      this.granted.delete(filter);
      this.settle(filter, undefined, new MqttSubscribeError(filter, 'unsubscribed before the broker granted it'));
    }
    if (held.length === 0) return;
    if (this.client.connected) {
      await this.client.unsubscribeAsync([...held]);
    } else {
      for (const filter of held) this.droppedOffline.add(filter);
    }
  }

  /** Every held filter. */
  filters(): string[] {
    return [...this.wanted.keys()];
  }

  /**
   * Called on every CONNACK. A clean or lost session gets every wanted filter again; a present
   * session gets only what it may lack: filters never granted, and `$share` filters.
   */
  onConnect(sessionPresent: boolean): void {
    if (sessionPresent && this.droppedOffline.size > 0) {
      this.client.unsubscribe([...this.droppedOffline]);
    }
    this.droppedOffline.clear();
    const resend: WantedSubscription[] = [];
    for (const wanted of this.wanted.values()) {
      if (!sessionPresent || !wanted.granted || wanted.filter.startsWith('$share/')) {
        wanted.granted = false;
        resend.push(wanted);
      }
    }
    if (resend.length > 0) this.send(resend);
  }

  /** Rejects everything still pending (the client is closing). */
  close(): void {
    for (const filter of [...this.waiters.keys()]) {
      this.settle(filter, undefined, new MqttSubscribeError(filter, 'the client closed before the broker granted it'));
    }
  }

  /**
   * MQTT 5 brokers deliver one copy of a message per matching subscription. Only the copy that
   * carries the lowest identifier among our non-shared filters matching the topic is handled, so
   * every handler runs once per message. Copies without identifiers are always handled.
   */
  isPrimaryCopy(topic: string, carried: number | number[] | undefined): boolean {
    if (carried === undefined) return true;
    const matching = this.identifiers.match(topic);
    if (matching.length === 0) return true;
    let lowest = matching[0];
    for (const id of matching) if (id < lowest) lowest = id;
    return Array.isArray(carried) ? carried.includes(lowest) : carried === lowest;
  }

  private identify(filter: string): number | undefined {
    // A shared subscription gets some messages and not others, so it never decides which copy counts.
    if (!this.mqtt5 || filter.startsWith('$share/')) return undefined;
    const id = this.nextIdentifier++;
    this.identifiers.add(filter, id);
    return id;
  }

  private send(entries: readonly WantedSubscription[]): void {
    if (!this.mqtt5) {
      this.sendPacket(entries);
      return;
    }
    // A subscription identifier belongs to a whole SUBSCRIBE packet: one packet per filter.
    for (const entry of entries) this.sendPacket([entry]);
  }

  private sendPacket(entries: readonly WantedSubscription[]): void {
    const map: ISubscriptionMap = {};
    for (const { filter, qos, nl, rap, rh } of entries) {
      map[filter] = { qos, ...(nl !== undefined ? { nl } : {}), ...(rap !== undefined ? { rap } : {}), ...(rh !== undefined ? { rh } : {}) };
    }
    const id = entries.length === 1 ? entries[0].id : undefined;
    this.client.subscribe(map, id !== undefined ? { qos: entries[0].qos, properties: { subscriptionIdentifier: id } } : {}, (error, _grants, packet) => {
      // SUBACK return codes, one per filter in the order sent (0x80 and up: refused).
      const codes = packet?.granted as number[] | undefined;
      if (!codes || codes.length !== entries.length) {
        if (error) this.fail(entries, error);
        return;
      }
      const accepted: TopicQos[] = [];
      codes.forEach((code, index) => {
        const entry = entries[index];
        if (this.wanted.get(entry.filter) !== entry) return; // replaced or dropped meanwhile
        if (code & 0x80) {
          this.wanted.delete(entry.filter);
          this.granted.delete(entry.filter);
          this.settle(entry.filter, undefined, new MqttSubscribeError(entry.filter, `refused by the broker (SUBACK 0x${code.toString(16)})`, code));
          return;
        }
        entry.granted = true;
        const topicQos: TopicQos = { topic: entry.filter, qos: entry.qos };
        this.granted.set(entry.filter, topicQos);
        accepted.push(topicQos);
        this.settle(entry.filter, topicQos);
      });
      if (accepted.length > 0) this.events.subscribed(accepted);
    });
  }

  private fail(entries: readonly WantedSubscription[], error: Error): void {
    if (error.message === CONNECTION_CLOSED) return; // stays wanted; onConnect sends it again
    for (const entry of entries) {
      if (this.wanted.get(entry.filter) !== entry) continue;
      this.wanted.delete(entry.filter);
      this.settle(entry.filter, undefined, new MqttSubscribeError(entry.filter, error.message, undefined, { cause: error }));
    }
  }

  private settle(filter: string, value: TopicQos | undefined, error?: Error): void {
    const list = this.waiters.get(filter);
    if (!list) return;
    this.waiters.delete(filter);
    for (const waiter of list) {
      if (error) waiter.reject(error);
      else waiter.resolve(value as TopicQos);
    }
  }
}

function sameOptions(a: SubscriptionRequest, b: SubscriptionRequest): boolean {
  return a.qos === b.qos && a.nl === b.nl && a.rap === b.rap && a.rh === b.rh;
}
