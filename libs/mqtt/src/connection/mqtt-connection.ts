import type { LoggerService } from '@nestjs/common';
import mqtt, { type IClientOptions, type IConnackPacket, type IDisconnectPacket, type IPublishPacket, type MqttClient } from 'mqtt';
import { BehaviorSubject, type Observable } from 'rxjs';
import { MqttConnectionError } from '../errors/mqtt-connection.error.js';
import { MqttPublishError } from '../errors/mqtt-publish.error.js';
import type { MqttMessage, MqttPayload, MqttPublishOptions, MqttPublishResult, MqttStatus, QoS, TopicQos } from '../interfaces/mqtt-message.interface.js';
import type { MqttEvent } from '../interfaces/mqtt-handler.interface.js';
import { BrokerFeatures } from './broker-features.js';
import { ClientPublisher } from './client-publisher.js';
import { createReplier } from './reply-publisher.js';
import { createLogFormatter, MQTT_LOG_DEBUG, MQTT_LOG_ERR, MQTT_LOG_INFO, MQTT_LOG_WARNING, type MqttLogLevel } from './client-log.js';
import { MqttEventHandlers, type EventBinding } from '../dispatch/event-handlers.js';
import { DuplicateFilter } from './duplicate-filter.js';
import { MessageDispatcher, type BoundHandler } from '../dispatch/message-dispatcher.js';
import { MessageObservers } from './message-observers.js';
import { OfflineQueueGuard } from './offline-queue.js';
import { TakeoverDetector } from './takeover-detector.js';
import { toClientOptions, useServer } from '../options/client-options.js';
import { MQTT_DEFAULTS } from '../options/mqtt-defaults.js';
import type { ResolvedMqttOptions } from '../options/resolve-mqtt-options.js';
import type { ResolvedServer } from '../options/servers.js';
import { OutageLog } from './outage-log.js';
import { encodePayload } from '../protocol/payload-codec.js';
import type { ParsedTopicFilter } from '../protocol/topic-filter.js';
import { RequestClient } from './request-client.js';
import { SubscriptionRegistry, type SubscriptionRequest } from './subscription-registry.js';
import { ClientCounters } from '../observability/client-stats.js';
import { MAX_TIMER_DELAY_MS } from '../mqtt.constants.js';
import type { MessageTelemetry, TelemetryGauges } from '../observability/message-telemetry.js';
import type { MqttClientDescription, MqttStats } from '../observability/mqtt-stats.interface.js';
import type { TelemetryClient } from '../observability/otel-telemetry.js';

/** Error codes after which retrying cannot help: TLS verification failures. */
const FATAL_TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_)/;
/**
 * CONNACK refusals that say "try again later": 3.1.1 Server unavailable (3); MQTT 5 Server
 * unavailable (0x88), Server busy (0x89), Quota exceeded (0x97), Connection rate exceeded (0x9F).
 */
const TRANSIENT_CONNACK_CODES: ReadonlySet<number> = new Set([3, 0x88, 0x89, 0x97, 0x9f]);

/**
 * Makes the mqtt.js client of a connection, unconnected (`manualConnect`): `start()` connects it.
 * The default is `mqtt.connect`; unit specs pass a fake.
 */
export type MqttClientFactory = (options: IClientOptions) => MqttClient;

export const connectMqttClient: MqttClientFactory = (options) => mqtt.connect(options);

/** Makes a connection's OpenTelemetry side, or undefined when the app has none (see load-telemetry.ts). */
export type TelemetryFactory = (client: TelemetryClient, gauges: TelemetryGauges) => MessageTelemetry | undefined;

/** mqtt.js copies publish options, so one empty object serves every publish without options. */
const NO_PUBLISH_OPTIONS: MqttPublishOptions = Object.freeze({});

/** Handed to mqtt.js instead of an acknowledgement while draining: the message stays the broker's. */
const WITHHELD = new Error('not acknowledged: the client is shutting down, the broker keeps the message');

/**
 * One broker connection: the mqtt.js client, its status, its publishes (offline admission, flow
 * control, replies, request/reply), its subscriptions and observers, its handlers, and its lifecycle
 * (connect per policy, drain and disconnect on shutdown). Internal; users see MqttService, which
 * validates and encodes arguments and hands them to the methods here.
 */
/** A connection the broker closes this soon after accepting it was closed by what mqtt.js sent again on it. */
const SHORT_CONNECTION_MS = 1_000;

export class MqttConnection {
  /** The mqtt.js client: MqttService's escape hatch. */
  readonly client: MqttClient;
  readonly status = new BehaviorSubject<MqttStatus>('closed');
  private readonly dispatcher: MessageDispatcher;
  private readonly subscriptions: SubscriptionRegistry;
  private readonly events: MqttEventHandlers;
  private readonly offlineQueue: OfflineQueueGuard;
  private readonly publisher: ClientPublisher;
  private readonly requests: RequestClient;
  private readonly observers: MessageObservers;
  private readonly duplicates: DuplicateFilter | undefined;
  private readonly takeover: TakeoverDetector | undefined;
  /** Bounds the log lines of a long outage (one error per reconnect attempt). */
  private readonly outage = new OutageLog(MQTT_DEFAULTS.outageLogIntervalMs);
  /** Which broker of `options.servers` the client is connected to, or tries next. */
  private serverIndex = 0;
  private hasConnected = false;
  /** Between a CONNACK and the end of that connection. */
  private up = false;
  private lastDisconnect: IDisconnectPacket | undefined;
  /** What the last CONNACK said the broker supports; publishes and subscriptions beyond it are refused first. */
  private features = BrokerFeatures.ALL;
  /** The current connection attempt: when it began, and the CONNACK the client held then (a new one: accepted). */
  private attempt: { startedAt: number; connack: IConnackPacket | undefined } = { startedAt: Date.now(), connack: undefined };
  private started = false;
  /** The mqtt.js client was ended (bootstrap connection failure or shutdown). */
  private ended = false;
  private closing: Promise<void> | undefined;
  private draining: Promise<void> | undefined;
  /** When shutdown must be over: one `shutdownTimeout` for handlers, publishes and the disconnect together. */
  private deadline = 0;
  /** after-handler acks: the dispatch promise of a packet, awaited by handleMessage before the ack. */
  private readonly pendingAcks = new WeakMap<IPublishPacket, Promise<void>>();
  /** What `MqttService.stats()` reports; the message path writes it in place. */
  private readonly counters = new ClientCounters();
  private readonly telemetry: MessageTelemetry | undefined;

  constructor(
    readonly name: string,
    readonly options: ResolvedMqttOptions,
    private readonly logger: LoggerService,
    createClient: MqttClientFactory = connectMqttClient,
    createTelemetry?: TelemetryFactory,
  ) {
    // A no-op replaces mqtt.js's `debug` output, which prints the CONNECT packet password; start()
    // installs the redacting logger when asked. mqtt.js logs several times per packet: keep this free.
    this.client = createClient({ ...toClientOptions(options), log: noop });
    this.publisher = new ClientPublisher(this.client, options.maxInflight, () => this.status.isStopped, options.publishTimeout);
    this.offlineQueue = new OfflineQueueGuard(options.offlineQueueLimit, options.queueQos0Offline);
    // Getters: spans name the broker of the moment, which changes when the client fails over.
    const current = () => this.server;
    this.telemetry = createTelemetry?.(
      {
        name,
        clientId: options.clientId,
        get host() {
          return current().host;
        },
        get port() {
          return current().port;
        },
        mqtt5: options.protocolVersion === 5,
      },
      {
        status: () => this.status.value,
        inFlightHandlers: () => this.dispatcher.inFlight,
        offlineQueue: () => this.offlineQueue.size,
        inflightWindow: () => this.publisher.window,
      },
    );
    // Replies take the one publish path: bounded by offlineQueueLimit while offline, and reported to
    // @OnPublish like every other publish the client completes (README: "a publish completed").
    const replier = createReplier(
      (topic, body, publishOptions, done) =>
        this.send(
          topic,
          body,
          publishOptions,
          () => done(undefined),
          (error) => done(error),
        ),
      options.maxPayloadBytes,
      options.replyBacklogBytes,
      (message) => this.note(MQTT_LOG_WARNING, message),
    );
    this.events = new MqttEventHandlers(logger);
    this.subscriptions = new SubscriptionRegistry(
      this.client,
      {
        subscribed: (granted) => this.events.emit('subscribe', granted),
        downgraded: (filter, asked, granted) =>
          this.note(
            MQTT_LOG_WARNING,
            `Client '${this.name}': the broker granted QoS ${granted} for '${filter}' where QoS ${asked} was asked; messages arrive at QoS ${granted} at most`,
          ),
      },
      options.protocolVersion === 5,
    );
    this.dispatcher = new MessageDispatcher(
      name,
      options.maxPayloadBytes,
      logger,
      replier,
      options.protocolVersion === 5 ? this.subscriptions : undefined,
      options.replyErrorDetails,
      this.counters,
      this.telemetry,
    );
    this.requests = new RequestClient(
      this.subscriptions,
      this.dispatcher,
      (topic, payload, publishOptions) => this.publish(topic, encodePayload(payload, options.maxPayloadBytes), publishOptions),
      options.clientIdGenerated ? undefined : options.clientId,
    );
    this.observers = new MessageObservers(this.dispatcher, this.subscriptions);
    this.duplicates = options.dedupeWindowMs ? new DuplicateFilter(options.dedupeWindowMs) : undefined;
    // A generated id is unique per instance; only a fixed one can collide with another client's.
    this.takeover = options.clientIdGenerated ? undefined : new TakeoverDetector((evidence) => this.reportTakeover(evidence));
    this.wire();
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** Closed for good: publishes, subscriptions and requests are refused. */
  get isClosed(): boolean {
    return this.status.isStopped;
  }

  /** The broker the client is connected to, or tries next (the first one until it starts). */
  get server(): ResolvedServer {
    return this.options.servers[this.serverIndex];
  }

  /** Granted subscriptions, filter -> { topic, qos }. */
  get topics(): ReadonlyMap<string, TopicQos> {
    return this.subscriptions.topics;
  }

  /** The counts since the connection was created (MqttService.stats()). */
  stats(): MqttStats {
    return {
      client: this.name,
      status: this.status.value,
      reconnects: this.counters.reconnects,
      messages: this.counters.messages(),
      inFlightHandlers: this.dispatcher.inFlight,
      offlineQueue: this.offlineQueue.size,
      inflightWindow: this.publisher.window,
      handlers: this.counters.handlers(),
    };
  }

  /** Where the client connects, its state, handlers and subscriptions (MqttService.describe()). */
  describe(): MqttClientDescription {
    const held = this.subscriptions.describe();
    const byFilter = new Map(held.map((subscription) => [subscription.filter, subscription]));
    return {
      client: this.name,
      url: this.server.displayUrl,
      servers: this.options.servers.map((server) => server.displayUrl),
      clientId: this.options.clientId,
      protocolVersion: this.options.protocolVersion,
      status: this.status.value,
      handlers: this.dispatcher.describeRoutes().map(({ brokerFilter, ...route }) => ({
        ...route,
        qos: brokerFilter === undefined ? undefined : byFilter.get(brokerFilter)?.qos,
      })),
      subscriptions: held,
    };
  }

  /** Routes messages matching `filter` to `handler`; `brokerFilter` is its own subscription (a `$share/...` one). */
  addRoute(filter: ParsedTopicFilter, handler: BoundHandler, brokerFilter?: string): void {
    this.dispatcher.addTopicHandler(filter, handler, brokerFilter);
  }

  /** An `@OnMessage` handler: messages that no route matched. */
  addFallback(handler: BoundHandler): void {
    this.dispatcher.addFallbackHandler(handler);
  }

  /** A `@OnConnect`, `@OnError`, ... handler. */
  onClientEvent(event: MqttEvent, binding: EventBinding): void {
    this.events.add(event, binding);
  }

  /**
   * Publishes an encoded message: refused once closed; while offline, admitted up to
   * `offlineQueueLimit` (QoS 0 only with `queueQos0Offline`); QoS 1/2 wait for a flow-control slot.
   * Resolves when written (QoS 0) or acknowledged (QoS 1/2), and tells `@OnPublish` handlers.
   */
  publish(topic: string, body: Buffer | string, options: MqttPublishOptions = NO_PUBLISH_OPTIONS): Promise<MqttPublishResult> {
    // The promise's own resolve and reject go down: no closure per publish on this path.
    return new Promise<MqttPublishResult>((resolve, reject) => this.send(topic, body, options, resolve, reject));
  }

  /** Subscribes now when connected, else on the next connection; resolves when granted. */
  subscribe(requests: readonly SubscriptionRequest[]): Promise<TopicQos[]> {
    return this.subscriptions.subscribe(requests);
  }

  /** Drops held filters (they stay dropped across reconnects), then tells `@OnUnsubscribe` handlers. */
  async unsubscribe(filters: readonly string[]): Promise<void> {
    await this.subscriptions.unsubscribe(filters);
    this.events.emit('unsubscribe', filters);
  }

  /** Drops every held filter, decorated ones included. */
  async unsubscribeAll(): Promise<void> {
    const filters = this.subscriptions.filters();
    if (filters.length === 0) return;
    await this.unsubscribe(filters);
  }

  /** MQTT 5 request/reply (arguments checked by MqttService); the timer covers everything on the way. */
  request(topic: string, payload: MqttPayload, timeoutMs: number, qos: QoS): Promise<unknown> {
    return this.requests.request(topic, payload, timeoutMs, qos);
  }

  /** Messages on `filter` as an Observable; subscribes for the first observer, unsubscribes after the last. */
  observe<T>(filter: ParsedTopicFilter): Observable<MqttMessage<T>> {
    return this.observers.observe<T>(filter);
  }

  /** Connects; with `connect: 'wait'`, resolves on the first CONNACK or rejects with MqttConnectionError. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    if (this.dispatcher.needsAckAfterHandler) this.installAckAfterHandler();
    if (this.options.logging || this.events.has('log')) {
      const format = createLogFormatter(this.options.servers.map((server) => server.password));
      this.client.log = (...args: unknown[]) => this.note(MQTT_LOG_DEBUG, format(args));
    }
    this.status.next('connecting');
    this.client.connect();
    if (this.options.connect === 'background') return;
    await this.waitForFirstConnection();
  }

  /** Stops intake, waits for running handlers (bounded), then disconnects gracefully (no will). */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /**
   * Stops taking messages and waits for running handlers, up to `shutdownTimeout`; once, however
   * often it is called. From here on QoS 1/2 messages are not acknowledged: a durable session's
   * broker keeps them for the next process instead of handing them to one that stopped handling.
   */
  drain(): Promise<void> {
    this.draining ??= this.drainHandlers();
    return this.draining;
  }

  private async drainHandlers(): Promise<void> {
    this.deadline = Date.now() + this.options.shutdownTimeout;
    const running = this.dispatcher.inFlight;
    if (running > 0) {
      this.note(
        MQTT_LOG_INFO,
        `Client '${this.name}' takes no more messages; waiting up to ${this.options.shutdownTimeout} ms for ${running} running handler(s)`,
      );
    }
    const drained = await this.dispatcher.drain(this.options.shutdownTimeout);
    if (!drained) {
      this.note(
        MQTT_LOG_WARNING,
        `Client '${this.name}': ${this.dispatcher.inFlight} of ${running} handler(s) still running after ${this.options.shutdownTimeout} ms; disconnecting anyway`,
      );
    }
  }

  /**
   * The one way a publish reaches the publisher (MqttService.publish, request(), replies): `resolve`
   * or `reject` when the publisher calls back, `reject` synchronously when the publish is refused.
   */
  private send(
    topic: string,
    body: Buffer | string,
    options: MqttPublishOptions,
    resolve: (result: MqttPublishResult) => void,
    reject: (error: MqttPublishError) => void,
  ): void {
    if (this.telemetry) {
      this.sendTraced(this.telemetry, topic, body, options, resolve, reject);
      return;
    }
    this.sendNow(topic, body, options, resolve, reject);
  }

  /** With OpenTelemetry: a send span around the publish, its trace context in the MQTT 5 properties. */
  private sendTraced(
    telemetry: MessageTelemetry,
    topic: string,
    body: Buffer | string,
    options: MqttPublishOptions,
    resolve: (result: MqttPublishResult) => void,
    reject: (error: MqttPublishError) => void,
  ): void {
    const span = telemetry.send({
      topic,
      qos: options.qos ?? 0,
      retain: options.retain === true,
      bodyBytes: typeof body === 'string' ? Buffer.byteLength(body) : body.length,
      properties: options.properties,
      correlationData: options.properties?.correlationData,
    });
    const traced = span.properties === options.properties ? options : { ...options, properties: span.properties };
    this.sendNow(
      topic,
      body,
      traced,
      (result) => {
        span.end(undefined, result.messageId);
        resolve(result);
      },
      (error) => {
        span.end(error);
        reject(error);
      },
    );
  }

  private sendNow(
    topic: string,
    body: Buffer | string,
    options: MqttPublishOptions,
    resolve: (result: MqttPublishResult) => void,
    reject: (error: MqttPublishError) => void,
  ): void {
    if (this.status.isStopped) {
      this.counters.publishFailed++;
      reject(new MqttPublishError(topic, 'the client is closed'));
      return;
    }
    const refusal = this.features.publishRefusal(options.qos ?? 0, options.retain === true);
    if (refusal !== undefined) {
      this.counters.publishFailed++;
      reject(new MqttPublishError(topic, refusal));
      return;
    }
    const offline = !this.client.connected;
    if (offline) {
      const refused = this.offlineQueue.admit(topic, options.qos ?? 0);
      if (refused) {
        this.counters.publishFailed++;
        reject(refused);
        return;
      }
    }
    this.publisher.publish(topic, body, options, (error, packet) => {
      if (offline) this.offlineQueue.release();
      if (error) {
        this.counters.publishFailed++;
        reject(new MqttPublishError(topic, error.message, reasonCodeOf(error), { cause: error }));
        return;
      }
      const messageId = packet !== undefined && 'messageId' in packet ? packet.messageId : undefined;
      const result: MqttPublishResult = options.qos && messageId !== undefined ? { messageId } : {};
      this.counters.published++;
      if (options.qos) this.counters.acknowledged++;
      if (this.events.has('publish')) this.events.emit('publish', { topic, ...result });
      resolve(result);
    });
  }

  private async shutdown(): Promise<void> {
    await this.drain();
    this.subscriptions.close();
    this.requests.close();
    // A client that never started (bootstrap failed earlier) or already ended has nothing to close.
    if (this.started && !this.ended) {
      // Publishes waiting for a window slot go out first, within what is left of shutdownTimeout.
      const flushed = await this.publisher.whenIdle(this.remaining());
      await new Promise<void>((resolve) => {
        // A graceful end waits for in-flight publishes; bound it so shutdown cannot hang.
        const timer = setTimeout(() => this.endClient(true, resolve), flushed ? this.remaining() : 0);
        this.endClient(false, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.publisher.abandon('the client closed before the broker acknowledged it');
    this.ended = true;
    this.status.next('closed');
    this.status.complete();
  }

  private remaining(): number {
    return Math.max(0, this.deadline - Date.now());
  }

  private wire(): void {
    const client = this.client;
    this.withholdAcksWhileDraining();
    client.on('message', (topic: string, payload: Buffer, packet: IPublishPacket) => {
      // MQTT 5 topic aliases: mqtt.js resolves the topic but leaves the packet's empty; handlers read both.
      if (packet.topic !== topic) packet.topic = topic;
      this.counters.received++;
      this.telemetry?.received();
      if (this.duplicates?.isDuplicate(topic, packet)) {
        this.counters.duplicates++;
        this.telemetry?.dropped('duplicate', undefined);
        return;
      }
      const pending = this.dispatcher.dispatch(topic, payload, packet);
      if (pending && packet.qos > 0) this.pendingAcks.set(packet, pending);
    });
    client.on('connect', (connack: IConnackPacket) => {
      if (this.hasConnected) {
        this.counters.reconnects++;
        this.telemetry?.reconnected();
      }
      this.hasConnected = true;
      this.up = true;
      this.takeover?.connected();
      this.status.next('connected');
      this.publisher.connected(connack.properties?.receiveMaximum);
      const outage = this.outage.connected() ?? '';
      this.note(MQTT_LOG_INFO, `Client '${this.name}' connected to ${this.server.displayUrl}${connack.sessionPresent ? ' (session present)' : ''}${outage}`);
      this.warnWeakTls();
      this.features = BrokerFeatures.from(connack);
      this.subscriptions.onConnect(connack.sessionPresent, this.features);
      this.events.emit('connect', connack);
    });
    client.on('reconnect', () => {
      this.attempt = { startedAt: Date.now(), connack: lastConnack(this.client) };
      // mqtt.js emits 'reconnect' right before it builds the socket of the next attempt.
      this.failOver();
      this.status.next('reconnecting');
      this.events.emit('reconnect');
    });
    client.on('close', () => {
      // mqtt.js sends its store again before it emits 'connect': a broker that closes on one of those
      // publishes closes a connection that, for 'connect' listeners, never was. Its CONNACK tells.
      const connack = lastConnack(this.client);
      const accepted = connack !== undefined && connack !== this.attempt.connack;
      this.publisher.disconnected(accepted && Date.now() - this.attempt.startedAt < SHORT_CONNECTION_MS);
      if (this.up) {
        this.up = false;
        this.takeover?.disconnected(this.lastDisconnect?.reasonCode);
        if (!this.closing) {
          this.status.next('offline');
          this.note(MQTT_LOG_WARNING, `Client '${this.name}' lost its connection to ${this.server.displayUrl}`);
        }
        this.events.emit('disconnect', { packet: this.lastDisconnect });
      }
      this.lastDisconnect = undefined;
    });
    client.on('disconnect', (packet: IDisconnectPacket) => {
      this.lastDisconnect = packet;
    });
    client.on('offline', () => {
      if (!this.closing) this.status.next('offline');
      this.events.emit('offline');
    });
    client.on('error', (error: Error) => {
      // Node reports some TLS failures twice; after the client was ended nothing is left to report.
      if (this.ended || error === WITHHELD) return;
      this.takeover?.failed();
      // connect: 'wait' puts a bootstrap failure in its error; a failover list also logs the brokers it passes over.
      if (this.hasConnected || this.options.connect === 'background' || this.options.servers.length > 1) {
        const { displayUrl } = this.server;
        const line = this.outage.error(describeClientError(error), displayUrl);
        if (line !== undefined) this.note(MQTT_LOG_ERR, `Client '${this.name}' (${displayUrl}): ${line}`);
      }
      this.events.emit('error', error);
    });
  }

  /**
   * A failover list: the next attempt goes to the next broker, wrapping around. mqtt.js's own `servers` option
   * rotates only host, port and protocol, and its TLS stream builder leaves the first host's `servername` behind
   * for the next one; brokers of a list may differ in credentials, TLS options and websocket path, so the
   * connection points mqtt.js's options at the whole next server itself (`useServer`).
   */
  private failOver(): void {
    const { servers } = this.options;
    if (servers.length < 2) return;
    this.serverIndex = (this.serverIndex + 1) % servers.length;
    useServer(this.client.options, this.options, this.server);
  }

  /** At every connect, so the weakness cannot scroll out of sight in a long-running process. */
  private warnWeakTls(): void {
    const { tlsVerification, displayUrl } = this.server;
    if (tlsVerification === 'off') {
      this.note(MQTT_LOG_WARNING, `TLS certificate verification is OFF for ${displayUrl} (tls.rejectUnauthorized: false); anyone can impersonate the broker`);
    } else if (tlsVerification === 'no-hostname') {
      this.note(MQTT_LOG_WARNING, `TLS host-name check is OFF for ${displayUrl} (insecure: true); the certificate chain is still verified`);
    }
  }

  private reportTakeover(evidence: string): void {
    const reason = `client id '${this.options.clientId}' is probably in use by another client: ${evidence} (a broker restarting again and again looks the same); give each instance its own clientId`;
    this.note(MQTT_LOG_ERR, `Client '${this.name}': ${reason}`);
    this.events.emit('error', new MqttConnectionError(this.server.displayUrl, reason));
  }

  /**
   * Ends the mqtt.js client for good. Reconnects are switched off first: a socket 'close' that
   * mqtt.js handles after end() (TLS failures do this) would otherwise schedule a new attempt.
   */
  private endClient(force: boolean, done?: () => void): void {
    this.client.options.reconnectPeriod = 0;
    this.client.end(force, () => done?.());
  }

  /** One log line: to Nest's logger at the matching level, and to `@OnLog` handlers (Flask-MQTT's on_log). */
  private note(level: MqttLogLevel, message: string): void {
    switch (level) {
      case MQTT_LOG_ERR:
        this.logger.error(message);
        break;
      case MQTT_LOG_WARNING:
        this.logger.warn(message);
        break;
      case MQTT_LOG_DEBUG:
        if (this.options.logging) this.logger.debug?.(message);
        break;
      default:
        this.logger.log(message);
    }
    this.events.emit('log', level, message);
  }

  /**
   * mqtt.js asks `customHandleAcks` before it emits a QoS 1 message or answers PUBREC to a QoS 2
   * one. While draining, the answer is an error: nothing is emitted or acknowledged, mqtt.js goes on
   * with the next packet (so acknowledgements of our own publishes still arrive), and the broker
   * keeps the message for the next session.
   */
  private withholdAcksWhileDraining(): void {
    const options = this.client.options;
    const next = options.customHandleAcks;
    options.customHandleAcks = (topic, message, packet, done) => {
      if (this.draining) {
        done(WITHHELD);
        return;
      }
      if (next) next(topic, message, packet, done);
      else done(0);
    };
  }

  private installAckAfterHandler(): void {
    // mqtt.js sends PUBACK/PUBCOMP when handleMessage calls back; it emits 'message' just before.
    this.client.handleMessage = (packet, callback) => {
      // mqtt.js types the hook's packet as IPublishPacket: no guard or cast needed.
      const pending = this.pendingAcks.get(packet);
      if (!pending) return callback();
      this.pendingAcks.delete(packet);
      void pending.then(() => callback());
    };
  }

  /**
   * Resolves on the first CONNACK. Rejects after `connectTimeout`, or at once on a refusal that retrying cannot
   * mend. With a failover list the wait is one round (an attempt of up to `connectTimeout` per broker, with
   * `reconnectPeriod` between them), and it fails early only once every broker refused that way.
   */
  private waitForFirstConnection(): Promise<void> {
    const { connectTimeout, reconnectPeriod, servers } = this.options;
    const single = servers.length === 1;
    const url = servers.map((server) => server.displayUrl).join(', ');
    const waitMs = Math.min(connectTimeout * servers.length + reconnectPeriod * (servers.length - 1), MAX_TIMER_DELAY_MS);
    return new Promise<void>((resolve, reject) => {
      let lastError: { error: Error; url: string } | undefined;
      /** Connections the broker closed without a word (no CONNACK, no error). */
      let silentCloses = 0;
      /** The brokers that refused for good, with why. */
      const refusals = new Map<string, string>();
      const cleanup = () => {
        clearTimeout(timer);
        this.client.off('connect', onConnect);
        this.client.off('error', onError);
        this.client.off('close', onClose);
      };
      const fail = (reason: string, cause: unknown) => {
        cleanup();
        this.ended = true;
        this.endClient(true);
        this.status.next('closed');
        reject(new MqttConnectionError(url, reason, { cause }));
      };
      const onConnect = () => {
        cleanup();
        resolve();
      };
      const onError = (error: Error) => {
        const { displayUrl } = this.server;
        lastError = { error, url: displayUrl };
        if (!isFatal(error)) return;
        if (single) {
          fail(describeClientError(error), error);
          return;
        }
        refusals.set(displayUrl, describeClientError(error));
        if (refusals.size === servers.length) fail(`every broker refused: ${[...refusals].map(([server, why]) => `${server}: ${why}`).join('; ')}`, error);
      };
      const onClose = () => {
        if (!lastError) silentCloses++;
      };
      const timer = setTimeout(() => {
        const last = lastError && (single ? describeClientError(lastError.error) : `${lastError.url}: ${describeClientError(lastError.error)}`);
        const within = single ? `within ${connectTimeout} ms` : `from any of the ${servers.length} brokers within ${waitMs} ms`;
        // A broker that speaks only MQTT 3.1.1 may answer an MQTT 5 CONNECT by closing the connection, unexplained.
        const hint =
          silentCloses > 0 && this.options.protocolVersion === 5
            ? '; the broker closed the connection without a CONNACK, as brokers without MQTT 5 may (RabbitMQ before 3.13): try protocolVersion: 4'
            : '';
        fail(`no CONNACK ${within}${last ? ` (last error: ${last})` : ''}${hint}`, lastError?.error);
      }, waitMs);
      this.client.on('connect', onConnect);
      this.client.on('error', onError);
      this.client.on('close', onClose);
    });
  }
}

function noop(): void {}

/** The MQTT 5 reason code mqtt.js puts on an error from a PUBACK/PUBREC (ErrorWithReasonCode). */
function reasonCodeOf(error: Error): number | undefined {
  return 'code' in error && typeof error.code === 'number' ? error.code : undefined;
}

/** A refused CONNACK (bad credentials, not authorised, ...) or a TLS verification failure; not "busy, try later". */
function isFatal(error: Error): boolean {
  const code = (error as Error & { code?: unknown }).code;
  if (typeof code === 'number') return code > 0 && !TRANSIENT_CONNACK_CODES.has(code);
  return typeof code === 'string' && FATAL_TLS_CODES.test(code);
}

/** A client error for log lines and MqttConnectionError: its message, with mqtt.js's or Node's code when the message lacks it. */
function describeClientError(error: Error): string {
  const code = (error as Error & { code?: unknown }).code;
  return code !== undefined && !error.message.includes(String(code)) ? `${error.message} (${String(code)})` : error.message;
}

/**
 * The last CONNACK mqtt.js accepted (set before it sends its store again, unlike the 'connect' event). Private in
 * mqtt.js's types; test/interop.e2e-spec.ts (NATS and QoS 2) fails if it goes away.
 */
function lastConnack(client: MqttClient): IConnackPacket | undefined {
  return client['connackPacket'] as IConnackPacket | undefined;
}
