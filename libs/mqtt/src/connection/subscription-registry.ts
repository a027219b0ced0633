import type { ISubscriptionMap, MqttClient } from 'mqtt';
import { MqttSubscribeError } from '../errors/mqtt-subscribe.error.js';
import type { QoS, TopicQos } from '../interfaces/mqtt-message.interface.js';
import { parseTopicFilter } from '../protocol/topic-filter.js';
import { TopicRouter } from '../protocol/topic-router.js';
import { BrokerFeatures } from './broker-features.js';
import { isConnectionClosed } from './mqtt-js-errors.js';

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
  /** MQTT 5 subscription identifier, stable per filter while it is held. */
  readonly id: number | undefined;
  /** Granted by the broker on the current session. */
  granted: boolean;
}

/** A held MQTT 5 subscription, as a received copy names it through its subscription identifier. */
export interface IdentifiedSubscription {
  readonly id: number;
  /** As sent to the broker: `$share/g/home/+/temp`. */
  readonly filter: string;
  /** What topics are matched against: `home/+/temp`. */
  readonly matchFilter: string;
  readonly shared: boolean;
}

/** What the dispatcher asks to route an MQTT 5 copy by the identifiers it carries. */
export interface SubscriptionIndex {
  /** The held subscription with this identifier; undefined for one this process did not hand out. */
  byId(id: number): IdentifiedSubscription | undefined;
  /** Held subscriptions with this match filter (several only when `$share` and plain ones coexist). */
  byMatchFilter(matchFilter: string): readonly IdentifiedSubscription[] | undefined;
  /** Identifiers of the held subscriptions whose filter matches `topic`. */
  idsMatching(topic: string): readonly number[];
  /** Changes whenever an identifier is handed out or freed, so readers can keep what they derived. */
  readonly version: number;
}

/** MQTT 5 §3.8.2.1.2: identifiers run from 1 to 268,435,455. */
const MAX_SUBSCRIPTION_IDENTIFIER = 268_435_455;

interface Waiter {
  resolve(value: TopicQos): void;
  reject(error: Error): void;
}

export interface SubscriptionEvents {
  subscribed(granted: TopicQos[]): void;
  /** The broker granted less than asked (a broker without QoS 2, Mosquitto's max_qos): said once per filter. */
  downgraded(filter: string, asked: QoS, granted: QoS): void;
}

/**
 * Owns every subscription of one client: what the user wants, what the broker granted, and
 * restoring them after a reconnect. mqtt.js's own resubscription is off (`resubscribe: false`)
 * so that each filter is sent exactly once per connection, and so that `$share` filters are
 * restored even when the broker reports a present session (Mosquitto 2.0.11 forgets them).
 */
export class SubscriptionRegistry implements SubscriptionIndex {
  private readonly wanted = new Map<string, WantedSubscription>();
  private readonly granted = new Map<string, TopicQos>();
  private readonly waiters = new Map<string, Waiter[]>();
  /** Dropped while offline: a present durable session still holds them, so they are unsubscribed on connect. */
  private readonly droppedOffline = new Set<string>();
  /** MQTT 5: identifier -> subscription, and the same by match filter and by topic, to route each copy. */
  private readonly identified = new Map<number, IdentifiedSubscription>();
  private readonly identifiedByMatch = new Map<string, IdentifiedSubscription[]>();
  private readonly identifiers = new TopicRouter<number>();
  /**
   * Starts at a random point so that a durable session queued by an earlier deploy (whose identifiers
   * meant other filters) rarely carries identifiers this process uses; a copy whose identifiers do not
   * match its topic is routed by topic anyway.
   */
  private nextIdentifier = 1 + Math.floor(Math.random() * 1_000_000);
  private closed = false;
  private identifiedVersion = 0;
  private readonly askCounts = new Map<string, number>();
  private readonly downgradesSaid = new Set<string>();
  private features = BrokerFeatures.ALL;

  constructor(
    private readonly client: MqttClient,
    private readonly events: SubscriptionEvents,
    private readonly mqtt5: boolean,
  ) {}

  /** Granted subscriptions, filter -> { topic, qos }. */
  get topics(): ReadonlyMap<string, TopicQos> {
    return this.granted;
  }

  /** Every held subscription: as asked for, what the broker granted on this session, and its identifier. */
  describe(): Array<{ filter: string; qos: QoS; granted: QoS | undefined; identifier: number | undefined }> {
    return [...this.wanted.values()].map((wanted) => ({
      filter: wanted.filter,
      qos: wanted.qos,
      granted: wanted.granted ? this.granted.get(wanted.filter)?.qos : undefined,
      identifier: wanted.id,
    }));
  }

  /** Whether the filter is held: wanted by someone, granted or not yet. */
  holds(filter: string): boolean {
    return this.wanted.has(filter);
  }

  /**
   * How often the filter was asked for since it was last dropped: observers compare it to know whether
   * someone else subscribed to a filter they made, which they must then leave held.
   */
  asks(filter: string): number {
    return this.askCounts.get(filter) ?? 0;
  }

  /**
   * Subscribes now when connected, else on the next connection. Resolves when granted. A filter
   * already held keeps its MQTT 5 options and never loses QoS: `MqttService.subscribe()` of a
   * decorated filter must not turn a `noLocal` handler into one that hears its own publishes.
   */
  subscribe(requests: readonly SubscriptionRequest[]): Promise<TopicQos[]> {
    if (this.closed) {
      return Promise.reject(new MqttSubscribeError(requests.map((request) => request.filter).join("', '"), 'the client is closed'));
    }
    const toSend: WantedSubscription[] = [];
    const results = requests.map((asked) => {
      this.askCounts.set(asked.filter, this.asks(asked.filter) + 1);
      const current = this.wanted.get(asked.filter);
      const request = current ? merge(current, asked) : asked;
      const { filter, qos } = request;
      if (current?.granted && sameOptions(current, request)) {
        // Same filter, same options: a new SUBSCRIBE would only replay retained messages.
        return Promise.resolve(this.granted.get(filter) ?? { topic: filter, qos });
      }
      if (current && !current.granted && sameOptions(current, request)) {
        // Already on its way (or waiting for the connection): wait for the same SUBACK.
        return this.waitFor(filter);
      }
      const wanted: WantedSubscription = { ...request, id: current?.id ?? this.identify(filter), granted: false };
      this.wanted.set(filter, wanted);
      this.droppedOffline.delete(filter);
      toSend.push(wanted);
      return this.waitFor(filter);
    });
    if (toSend.length > 0 && this.client.connected) {
      this.send(toSend);
    }
    return Promise.all(results);
  }

  /**
   * Drops filters; sends UNSUBSCRIBE when connected. A dropped filter stays dropped across
   * reconnects: one whose UNSUBSCRIBE was cut off by a lost connection is sent again on the next
   * CONNACK of a present session, as one dropped while offline.
   */
  async unsubscribe(filters: readonly string[]): Promise<void> {
    const held = filters.filter((filter) => this.wanted.has(filter));
    for (const filter of held) {
      this.forget(this.wanted.get(filter) as WantedSubscription);
      this.granted.delete(filter);
      this.settle(filter, undefined, new MqttSubscribeError(filter, 'unsubscribed before the broker granted it'));
    }
    if (held.length === 0) return;
    if (!this.client.connected) {
      for (const filter of held) this.droppedOffline.add(filter);
      return;
    }
    try {
      await this.client.unsubscribeAsync([...held]);
    } catch (error) {
      if (error instanceof Error && isConnectionClosed(error)) {
        for (const filter of held) if (!this.wanted.has(filter)) this.droppedOffline.add(filter);
        return;
      }
      throw new MqttSubscribeError(held.join("', '"), `unsubscribe failed: ${(error as Error).message}`, undefined, { cause: error });
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
  onConnect(sessionPresent: boolean, features = BrokerFeatures.ALL): void {
    this.features = features;
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

  /** Rejects everything still pending (the client is closing), and every later subscribe. */
  close(): void {
    this.closed = true;
    for (const filter of [...this.waiters.keys()]) {
      this.settle(filter, undefined, new MqttSubscribeError(filter, 'the client closed before the broker granted it'));
    }
  }

  get version(): number {
    return this.identifiedVersion;
  }

  byId(id: number): IdentifiedSubscription | undefined {
    return this.identified.get(id);
  }

  byMatchFilter(matchFilter: string): readonly IdentifiedSubscription[] | undefined {
    return this.identifiedByMatch.get(matchFilter);
  }

  idsMatching(topic: string): readonly number[] {
    return this.identifiers.match(topic);
  }

  /** MQTT 5: a fresh identifier for a newly held filter ($share ones too), never one in use. */
  private identify(filter: string): number | undefined {
    if (!this.mqtt5) return undefined;
    let id = this.nextIdentifier;
    while (this.identified.has(id)) id = id >= MAX_SUBSCRIPTION_IDENTIFIER ? 1 : id + 1;
    this.nextIdentifier = id >= MAX_SUBSCRIPTION_IDENTIFIER ? 1 : id + 1;
    const parsed = parseTopicFilter(filter, 'filter');
    const entry: IdentifiedSubscription = { id, filter, matchFilter: parsed.matchFilter, shared: parsed.shareGroup !== undefined };
    this.identified.set(id, entry);
    const sameMatch = this.identifiedByMatch.get(entry.matchFilter);
    // Copy-on-write: the dispatcher may be iterating the old array.
    this.identifiedByMatch.set(entry.matchFilter, sameMatch ? [...sameMatch, entry] : [entry]);
    this.identifiers.add(parsed.matchFilter, id);
    this.identifiedVersion++;
    return id;
  }

  /** The filter is no longer held: its identifier goes, so no copy is routed by it any more. */
  private forget(entry: WantedSubscription): void {
    this.wanted.delete(entry.filter);
    this.askCounts.delete(entry.filter);
    if (entry.id === undefined) return;
    const identified = this.identified.get(entry.id);
    if (!identified) return;
    this.identified.delete(entry.id);
    this.identifiedVersion++;
    this.identifiers.remove(identified.matchFilter, entry.id);
    const rest = (this.identifiedByMatch.get(identified.matchFilter) ?? []).filter((other) => other.id !== entry.id);
    if (rest.length > 0) this.identifiedByMatch.set(identified.matchFilter, rest);
    else this.identifiedByMatch.delete(identified.matchFilter);
  }

  private waitFor(filter: string): Promise<TopicQos> {
    return new Promise<TopicQos>((resolve, reject) => {
      const list = this.waiters.get(filter);
      if (list) list.push({ resolve, reject });
      else this.waiters.set(filter, [{ resolve, reject }]);
    });
  }

  private send(all: readonly WantedSubscription[]): void {
    // A broker closes the connection on a SUBSCRIBE its CONNACK said it does not support ($share: 0x9E, wildcards:
    // 0xA2); refusing those here keeps the connection, and the other subscriptions, up.
    const entries = all.filter((entry) => this.admit(entry));
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
    // Without identifiers (the CONNACK said so) copies are routed by their topic, as on MQTT 3.1.1.
    const id = entries.length === 1 && this.features.subscriptionIdentifiers ? entries[0].id : undefined;
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
          this.forget(entry);
          this.granted.delete(entry.filter);
          this.settle(entry.filter, undefined, new MqttSubscribeError(entry.filter, `refused by the broker (SUBACK 0x${code.toString(16)})`, code));
          return;
        }
        entry.granted = true;
        // The broker may grant less than asked (Mosquitto's max_qos, for one).
        const topicQos: TopicQos = { topic: entry.filter, qos: Math.min(code & 0x03, entry.qos) as QoS };
        if (topicQos.qos < entry.qos && !this.downgradesSaid.has(entry.filter)) {
          this.downgradesSaid.add(entry.filter);
          this.events.downgraded(entry.filter, entry.qos, topicQos.qos);
        }
        this.granted.set(entry.filter, topicQos);
        accepted.push(topicQos);
        this.settle(entry.filter, topicQos);
      });
      if (accepted.length > 0) this.events.subscribed(accepted);
    });
  }

  /** Whether the entry may be sent; one the broker said it does not support is refused instead. */
  private admit(entry: WantedSubscription): boolean {
    const refusal = this.features.subscribeRefusal(entry.filter);
    if (refusal === undefined) return true;
    this.forget(entry);
    this.granted.delete(entry.filter);
    this.settle(entry.filter, undefined, new MqttSubscribeError(entry.filter, refusal));
    return false;
  }

  private fail(entries: readonly WantedSubscription[], error: Error): void {
    // mqtt.js fails in-flight SUBSCRIBEs when the connection drops: it stays wanted; onConnect sends it again.
    if (isConnectionClosed(error)) return;
    for (const entry of entries) {
      if (this.wanted.get(entry.filter) !== entry) continue;
      this.forget(entry);
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

/** A request for a held filter: the held MQTT 5 options stay, the higher QoS wins. */
function merge(held: SubscriptionRequest, asked: SubscriptionRequest): SubscriptionRequest {
  return {
    filter: held.filter,
    qos: Math.max(held.qos, asked.qos) as QoS,
    nl: asked.nl ?? held.nl,
    rap: asked.rap ?? held.rap,
    rh: asked.rh ?? held.rh,
  };
}

function sameOptions(a: SubscriptionRequest, b: SubscriptionRequest): boolean {
  return a.qos === b.qos && a.nl === b.nl && a.rap === b.rap && a.rh === b.rh;
}
