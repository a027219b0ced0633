import type { MqttClient } from 'mqtt';
import type { Observable } from 'rxjs';
import { MqttArgumentError } from './errors/mqtt-argument.error.js';
import { MqttPublishError } from './errors/mqtt-publish.error.js';
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
import { MessageObservers } from './connection/message-observers.js';
import { MQTT_DEFAULTS } from './options/mqtt-defaults.js';
import { encodePayload } from './protocol/payload-codec.js';
import { assertPublishProperties } from './protocol/publish-properties.js';
import { qosProblem } from './protocol/qos.js';
import { checkRequestTimeout, RequestClient } from './connection/request-client.js';
import { assertTopicName, parseTopicFilter } from './protocol/topic-filter.js';

const PUBLISH_OPTION_KEYS = new Set(['qos', 'retain', 'properties']);
/** mqtt.js copies publish options, so one empty object serves every publish without options. */
const NO_PUBLISH_OPTIONS: MqttPublishOptions = Object.freeze({});
const SUBSCRIBE_OPTION_KEYS = new Set(['qos']);
const REQUEST_OPTION_KEYS = new Set(['qos', 'timeout']);

export interface MqttRequestOptions {
  /** Milliseconds to wait for the reply (default 10000). */
  timeout?: number;
  qos?: QoS;
}

/**
 * One MQTT client. The default client is injected by class; named ones with `@InjectMqtt(name)`.
 * Every method validates its arguments and rejects with a typed error before anything is sent.
 */
export class MqttService {
  readonly status$: Observable<MqttStatus>;
  private readonly requests: RequestClient;
  private readonly observers: MessageObservers;

  constructor(private readonly connection: MqttConnection) {
    this.status$ = connection.status.asObservable();
    this.requests = new RequestClient(
      connection.subscriptions,
      connection.dispatcher,
      (topic, payload, options) => this.publish(topic, payload, options),
      connection.options.clientIdGenerated ? undefined : connection.options.clientId,
    );
    this.observers = new MessageObservers(connection.dispatcher, connection.subscriptions);
    connection.onClose(() => this.requests.close());
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

  /** Every filter the client holds (decorated and runtime), filter -> { topic, qos }, as Flask-MQTT's `topics`. */
  get topics(): ReadonlyMap<string, TopicQos> {
    return this.connection.subscriptions.topics;
  }

  /**
   * Publishes a message. Resolves when it was written (QoS 0) or acknowledged (QoS 1/2). QoS 1/2
   * publishes beyond `maxInflight` unacknowledged ones wait their turn; while offline, publishes
   * wait for the next connection (up to `offlineQueueLimit`).
   */
  publish(topic: string, payload: MqttPayload, options?: MqttPublishOptions): Promise<MqttPublishResult> {
    let qos: QoS;
    let body: Buffer | string;
    try {
      assertTopicName(topic, 'topic');
      qos = this.checkPublishOptions(options);
      body = encodePayload(payload, this.connection.options.maxPayloadBytes);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    if (this.connection.status.isStopped) {
      return Promise.reject(new MqttPublishError(topic, 'the client is closed'));
    }
    const connection = this.connection;
    const offline = !connection.client.connected;
    if (offline) {
      try {
        connection.offlineQueue.admit(topic, qos);
      } catch (error) {
        return Promise.reject(error as Error);
      }
    }
    return new Promise<MqttPublishResult>((resolve, reject) => {
      connection.publisher.publish(topic, body, options ?? NO_PUBLISH_OPTIONS, (error, packet) => {
        if (offline) connection.offlineQueue.release();
        if (error) {
          const code = (error as Error & { code?: number }).code;
          reject(new MqttPublishError(topic, error.message, code, { cause: error }));
          return;
        }
        const messageId = (packet as { messageId?: number } | undefined)?.messageId;
        const result: MqttPublishResult = qos > 0 && messageId !== undefined ? { messageId } : {};
        if (connection.events.has('publish')) connection.events.emit('publish', { topic, ...result });
        resolve(result);
      });
    });
  }

  /**
   * Subscribes to one or more filters (named wildcards allowed). Resolves when the broker granted
   * them (after the next connection when offline). The filters are restored after every reconnect.
   */
  async subscribe(filter: string | readonly string[], options?: MqttSubscribeOptions): Promise<TopicQos[]> {
    const filters = this.brokerFilters(filter);
    const qos = checkQos(checkOptions(options, SUBSCRIBE_OPTION_KEYS)?.qos);
    return this.connection.subscriptions.subscribe(filters.map((f) => ({ filter: f, qos })));
  }

  /** Drops one or more filters; they stay dropped across reconnects. */
  async unsubscribe(filter: string | readonly string[]): Promise<void> {
    const filters = this.brokerFilters(filter);
    await this.connection.subscriptions.unsubscribe(filters);
    this.connection.events.emit('unsubscribe', filters);
  }

  /** Drops every filter the client holds, decorated ones included (Flask-MQTT's unsubscribe_all). */
  async unsubscribeAll(): Promise<void> {
    const filters = this.connection.subscriptions.filters();
    if (filters.length === 0) return;
    await this.connection.subscriptions.unsubscribe(filters);
    this.connection.events.emit('unsubscribe', filters);
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
    if (this.connection.status.isStopped) {
      throw new MqttRequestError(topic, 'the client is closed');
    }
    return (await this.requests.request(topic, payload, timeout, checkQos(checked.qos))) as T;
  }

  /**
   * Messages on `filter` as an Observable: subscribes when the first observer subscribes and
   * unsubscribes after the last one leaves (unless the client held the filter already).
   */
  observe<T = unknown>(filter: string): Observable<MqttMessage<T>> {
    return this.observers.observe<T>(parseTopicFilter(filter, 'filter'));
  }

  private brokerFilters(filter: string | readonly string[]): string[] {
    const filters = typeof filter === 'string' ? [filter] : filter;
    if (!Array.isArray(filters) || filters.length === 0) {
      throw new MqttArgumentError('filter', 'expected a topic filter or a non-empty array of them');
    }
    return filters.map((f: unknown) => parseTopicFilter(f, 'filter').brokerFilter);
  }

  private checkPublishOptions(options: MqttPublishOptions | undefined): QoS {
    const checked = checkOptions(options, PUBLISH_OPTION_KEYS);
    if (checked?.retain !== undefined && typeof checked.retain !== 'boolean') {
      throw new MqttArgumentError('options.retain', 'expected true or false');
    }
    if (checked?.properties !== undefined) {
      if (this.connection.options.protocolVersion !== 5) {
        throw new MqttArgumentError('options.properties', 'MQTT 5 properties need protocolVersion: 5; this client speaks MQTT 3.1.1');
      }
      // A value mqtt-packet cannot encode would drop the connection, and mqtt.js would resend it forever.
      assertPublishProperties(checked.properties, 'options.properties');
    }
    return checkQos(checked?.qos);
  }
}

function checkOptions<T extends object>(options: T | undefined, known: ReadonlySet<string>): T | undefined {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== 'object') {
    throw new MqttArgumentError('options', 'expected an object');
  }
  for (const key in options) {
    if (!known.has(key)) throw new MqttArgumentError(`options.${key}`, 'unknown option');
  }
  return options;
}

function checkQos(qos: unknown): QoS {
  if (qos === undefined) return 0;
  const problem = qosProblem(qos);
  if (problem) throw new MqttArgumentError('options.qos', problem);
  return qos as QoS;
}
