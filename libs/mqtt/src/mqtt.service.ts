import type { MqttClient } from 'mqtt';
import type { Observable } from 'rxjs';
import { argumentError } from './errors/error-factory.js';
import { MqttArgumentError } from './errors/mqtt-argument.error.js';
import { MqttRequestError } from './errors/mqtt-request.error.js';
import type {
  MqttMessage,
  MqttPayload,
  MqttPublishOptions,
  MqttPublishResult,
  MqttStatus,
  MqttSubscribeOptions,
  QoS,
  TopicQos,
} from './interfaces/mqtt-message.interface.js';
import type { MqttConnection } from './connection/mqtt-connection.js';
import type { MqttClientDescription, MqttStats } from './observability/mqtt-stats.interface.js';
import { MQTT_DEFAULTS } from './options/mqtt-defaults.js';
import { encodePayload } from './protocol/payload-codec.js';
import { assertPublishProperties } from './protocol/publish-properties.js';
import { assertBoolean, assertKnownKeys, assertObject, assertQos, keysOf } from './options/assert.js';
import { checkRequestTimeout } from './connection/request-client.js';
import { assertTopicName, parseTopicFilter } from './protocol/topic-filter.js';

export interface MqttRequestOptions {
  /** Milliseconds to wait for the reply (default 10000). */
  timeout?: number;
  qos?: QoS;
}

const PUBLISH_OPTION_KEYS = keysOf<MqttPublishOptions>({ qos: true, retain: true, properties: true });
const SUBSCRIBE_OPTION_KEYS = keysOf<MqttSubscribeOptions>({ qos: true });
const REQUEST_OPTION_KEYS = keysOf<MqttRequestOptions>({ qos: true, timeout: true });

/**
 * One MQTT client. The default client is injected by class; named ones with `@InjectMqtt(name)`.
 * Every method validates its arguments and rejects with a typed error before anything is sent.
 */
export class MqttService {
  readonly status$: Observable<MqttStatus>;

  constructor(private readonly connection: MqttConnection) {
    this.status$ = connection.status.asObservable();
  }

  /** The current status (what `status$` would replay now); `'closed'` once the client closed. */
  get status(): MqttStatus {
    return this.connection.status.value;
  }

  /** The client's name (`'default'` unless `MqttModule.forRoot({ name })`). */
  get name(): string {
    return this.connection.name;
  }

  /** The mqtt.js client: the escape hatch for what this API does not cover. */
  get client(): MqttClient {
    return this.connection.client;
  }

  get connected(): boolean {
    return this.connection.connected;
  }

  /**
   * The broker the client is connected to, or tries next, as a URL without credentials: with a failover list
   * (`url: [...]`, `servers`) it changes when the client moves to another broker.
   */
  get server(): string {
    return this.connection.server.displayUrl;
  }

  /**
   * What the client has done since it was created: messages received, handled, failed and dropped (by
   * reason), published and acknowledged, reconnects, queues, and per handler method its counts, last
   * error and duration quantiles. The same counts as the OpenTelemetry metrics, without OpenTelemetry.
   */
  stats(): MqttStats {
    return this.connection.stats();
  }

  /** The client as tools see it: broker URL and failover list (no credentials), client id, status, bound handlers and held subscriptions. */
  describe(): MqttClientDescription {
    return this.connection.describe();
  }

  /** Every filter the client holds (decorated and runtime), filter -> { topic, qos }, as Flask-MQTT's `topics`. */
  get topics(): ReadonlyMap<string, TopicQos> {
    return this.connection.topics;
  }

  /**
   * Publishes a message. Resolves when it was written (QoS 0) or acknowledged (QoS 1/2). QoS 1/2
   * publishes beyond `maxInflight` unacknowledged ones wait their turn; while offline, publishes
   * wait for the next connection (up to `offlineQueueLimit`).
   */
  publish(topic: string, payload: MqttPayload, options?: MqttPublishOptions): Promise<MqttPublishResult> {
    let body: Buffer | string;
    try {
      assertTopicName(topic, 'topic');
      this.checkPublishOptions(options);
      body = encodePayload(payload, this.connection.options.maxPayloadBytes);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return this.connection.publish(topic, body, options);
  }

  /**
   * Subscribes to one or more filters (named wildcards allowed). Resolves when the broker granted
   * them (after the next connection when offline). The filters are restored after every reconnect.
   */
  async subscribe(filter: string | readonly string[], options?: MqttSubscribeOptions): Promise<TopicQos[]> {
    const filters = this.brokerFilters(filter);
    const qos = checkQos(checkOptions(options, SUBSCRIBE_OPTION_KEYS)?.qos);
    return this.connection.subscribe(filters.map((f) => ({ filter: f, qos })));
  }

  /** Drops one or more filters; they stay dropped across reconnects. */
  async unsubscribe(filter: string | readonly string[]): Promise<void> {
    await this.connection.unsubscribe(this.brokerFilters(filter));
  }

  /** Drops every filter the client holds, decorated ones included (Flask-MQTT's unsubscribe_all). */
  async unsubscribeAll(): Promise<void> {
    await this.connection.unsubscribeAll();
  }

  /**
   * MQTT 5 request/reply: publishes with a response topic and correlation data, and resolves with
   * the decoded reply. Rejects with MqttRequestError when the responder failed or after `timeout` ms.
   */
  async request<T = unknown>(topic: string, payload: MqttPayload, options: MqttRequestOptions = {}): Promise<T> {
    assertTopicName(topic, 'topic');
    const checked = checkOptions(options, REQUEST_OPTION_KEYS) ?? {};
    if (this.connection.options.protocolVersion !== 5) {
      throw new MqttArgumentError('protocolVersion', 'request() needs MQTT 5 (response topic and correlation data); set protocolVersion: 5');
    }
    const timeout = checkRequestTimeout(checked.timeout ?? MQTT_DEFAULTS.requestTimeout);
    if (this.connection.isClosed) {
      throw new MqttRequestError(topic, 'the client is closed');
    }
    return (await this.connection.request(topic, payload, timeout, checkQos(checked.qos))) as T;
  }

  /**
   * Messages on `filter` as an Observable: subscribes when the first observer subscribes and
   * unsubscribes after the last one leaves (unless the client held the filter already).
   */
  observe<T = unknown>(filter: string): Observable<MqttMessage<T>> {
    return this.connection.observe<T>(parseTopicFilter(filter, 'filter'));
  }

  private brokerFilters(filter: string | readonly string[]): string[] {
    const filters = typeof filter === 'string' ? [filter] : filter;
    if (!Array.isArray(filters) || filters.length === 0) {
      throw new MqttArgumentError('filter', 'expected a topic filter or a non-empty array of them');
    }
    return filters.map((f: unknown) => parseTopicFilter(f, 'filter').brokerFilter);
  }

  private checkPublishOptions(options: MqttPublishOptions | undefined): void {
    const checked = checkOptions(options, PUBLISH_OPTION_KEYS);
    if (checked?.retain !== undefined) assertBoolean(checked.retain, 'options.retain', argumentError);
    if (checked?.properties !== undefined) {
      if (this.connection.options.protocolVersion !== 5) {
        throw new MqttArgumentError('options.properties', 'MQTT 5 properties need protocolVersion: 5; this client speaks MQTT 3.1.1');
      }
      // A value mqtt-packet cannot encode would drop the connection, and mqtt.js would resend it forever.
      assertPublishProperties(checked.properties, 'options.properties');
    }
    checkQos(checked?.qos);
  }
}

/** The options argument of a method: undefined, or an object with known keys only (`options.<key>` in errors). */
function checkOptions<T extends object>(options: T | undefined, known: ReadonlySet<string>): T | undefined {
  if (options === undefined) return undefined;
  assertObject(options, 'options', argumentError);
  // The publish path: for...in allocates nothing; assertKnownKeys words the refusal (with a suggestion).
  for (const key in options) {
    if (!known.has(key)) assertKnownKeys(options, known, argumentError, { prefix: 'options.' });
  }
  return options;
}

/** `options.qos`, 0 when absent. */
function checkQos(qos: unknown): QoS {
  if (qos === undefined) return 0;
  assertQos(qos, 'options.qos', argumentError);
  return qos;
}
