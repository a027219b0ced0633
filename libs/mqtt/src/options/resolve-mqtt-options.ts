import { randomBytes } from 'node:crypto';
import type { IClientOptions } from 'mqtt';
import { configError } from '../errors/error-factory.js';
import { MqttConfigError } from '../errors/mqtt-config.error.js';
import type { MqttError } from '../errors/mqtt.error.js';
import type { MqttAckMode } from '../interfaces/mqtt-handler.interface.js';
import type { PayloadFormat } from '../interfaces/mqtt-message.interface.js';
import { MAX_TIMER_DELAY_MS } from '../mqtt.constants.js';
import { encodePayload } from '../protocol/payload-codec.js';
import { assertWillProperties } from '../protocol/publish-properties.js';
import { assertTopicName } from '../protocol/topic-filter.js';
import { assertAckMode, assertObject, assertPayloadFormat, assertQos, assertShareGroup, optionalBoolean, optionalInteger, optionalString } from './assert.js';
import { MQTT_DEFAULTS } from './mqtt-defaults.js';
import type { MqttConnectPolicy, MqttModuleOptions, MqttProtocol, MqttTlsVerification, MqttWillOptions } from './mqtt-module-options.interface.js';
import { assertKnownOptionKeys, MODULE_OPTION_KEYS, WILL_OPTION_KEYS } from './option-keys.js';
import { resolveServers, type ResolvedServer } from './servers.js';
import type { ResolvedTls } from './tls-options.js';

/** Options after validation, with defaults applied and files read. */
export interface ResolvedMqttOptions {
  /**
   * The brokers to connect to, in the order they are tried: one, or a failover list (`url: [...]`, `servers`).
   * The transport fields below (`protocol` ... `tlsVerification`) are the first one's.
   */
  readonly servers: readonly ResolvedServer[];
  readonly protocol: MqttProtocol;
  readonly host: string;
  readonly port: number;
  readonly path: string | undefined;
  /** The broker address without credentials: safe for logs and errors. */
  readonly displayUrl: string;
  readonly clientId: string;
  /** True when the id was generated (unique per instance), false when the user fixed it. */
  readonly clientIdGenerated: boolean;
  readonly username: string | undefined;
  readonly password: string | Buffer | undefined;
  readonly keepalive: number;
  readonly clean: boolean;
  readonly protocolVersion: 3 | 4 | 5;
  readonly sessionExpiryInterval: number | undefined;
  readonly tls: ResolvedTls | undefined;
  readonly insecure: boolean;
  /**
   * What is checked of the broker's certificate, undefined without TLS: `full` (chain and host name),
   * `no-hostname` (`insecure: true`: chain only) or `off` (`tls.rejectUnauthorized: false`: nothing).
   */
  readonly tlsVerification: MqttTlsVerification | undefined;
  readonly will: IClientOptions['will'];
  readonly connect: MqttConnectPolicy;
  readonly connectTimeout: number;
  readonly reconnectPeriod: number;
  readonly logging: boolean;
  /** Use OpenTelemetry when the app registered providers. */
  readonly telemetry: boolean;
  readonly share: string | undefined;
  readonly payload: PayloadFormat;
  readonly ack: MqttAckMode;
  readonly maxPayloadBytes: number;
  readonly shutdownTimeout: number;
  readonly offlineQueueLimit: number;
  readonly maxInflight: number;
  readonly publishTimeout: number;
  readonly queueQos0Offline: boolean;
  readonly dedupeWindowMs: number | undefined;
  readonly reply: boolean;
  readonly replyErrorDetails: boolean;
  readonly replyBacklogBytes: number;
  readonly clientOptions: Partial<IClientOptions>;
}

/** Validates module options and applies the defaults. Throws MqttConfigError naming the field. */
export function resolveMqttOptions(options: MqttModuleOptions): ResolvedMqttOptions {
  assertObject(options, 'options', configError);
  assertKnownOptionKeys(options, MODULE_OPTION_KEYS);
  if (options.clientOptions !== undefined) {
    assertObject(options.clientOptions, 'clientOptions', configError, 'an object of mqtt.js options');
  }
  const transport = resolveTransport(options);
  const session = resolveSession(options);
  const lifecycle = resolveLifecycle(options);
  const delivery = resolveDelivery(options);
  if (transport.servers.length > 1 && lifecycle.reconnectPeriod === 0) {
    throw new MqttConfigError('reconnectPeriod', `0 never reconnects, so only the first of the ${transport.servers.length} brokers would ever be tried`);
  }
  return {
    ...transport,
    ...session,
    ...lifecycle,
    ...delivery,
    will: resolveWill(options.will, delivery.maxPayloadBytes, session.protocolVersion),
    clientOptions: options.clientOptions ?? {},
  };
}

type Transport = Pick<
  ResolvedMqttOptions,
  'servers' | 'protocol' | 'host' | 'port' | 'path' | 'displayUrl' | 'username' | 'password' | 'tls' | 'insecure' | 'tlsVerification'
>;

/** Where the brokers are (one, or a failover list), the credentials, and TLS: certificates read, verification settled. */
function resolveTransport(options: MqttModuleOptions): Transport {
  const insecure = optionalBoolean(options.insecure, 'insecure', configError) ?? MQTT_DEFAULTS.insecure;
  const servers = resolveServers(options, insecure);
  const { protocol, host, port, path, displayUrl, username, password, tls, tlsVerification } = servers[0];
  return { servers, protocol, host, port, path, displayUrl, username, password, tls, insecure, tlsVerification };
}

type Session = Pick<ResolvedMqttOptions, 'clientId' | 'clientIdGenerated' | 'keepalive' | 'clean' | 'protocolVersion' | 'sessionExpiryInterval'>;

/** Who the client is to the broker and how long the broker keeps its session. */
function resolveSession(options: MqttModuleOptions): Session {
  const clean = optionalBoolean(options.clean, 'clean', configError) ?? MQTT_DEFAULTS.clean;
  const givenClientId = optionalString(options.clientId, 'clientId', configError);
  if (givenClientId === '') {
    throw new MqttConfigError('clientId', 'must not be empty; leave it out for a generated unique id');
  }
  if (!clean && givenClientId === undefined) {
    throw new MqttConfigError('clientId', 'clean: false keeps a session on the broker under the client id, so it needs a fixed clientId');
  }

  const protocolVersion = options.protocolVersion ?? MQTT_DEFAULTS.protocolVersion;
  if (protocolVersion !== 3 && protocolVersion !== 4 && protocolVersion !== 5) {
    throw new MqttConfigError('protocolVersion', `must be 3, 4 or 5, got ${String(protocolVersion)}`);
  }
  const givenSessionExpiry = optionalInteger(options.sessionExpiryInterval, 'sessionExpiryInterval', configError, 0, 0xffffffff);
  if (givenSessionExpiry !== undefined && protocolVersion !== 5) {
    throw new MqttConfigError('sessionExpiryInterval', 'is an MQTT 5 property; set protocolVersion: 5');
  }
  return {
    clientId: givenClientId ?? generateClientId(),
    clientIdGenerated: givenClientId === undefined,
    keepalive: optionalInteger(options.keepalive, 'keepalive', configError, 0, 65_535) ?? MQTT_DEFAULTS.keepalive,
    clean,
    protocolVersion,
    sessionExpiryInterval: givenSessionExpiry ?? (!clean && protocolVersion === 5 ? MQTT_DEFAULTS.durableSessionExpiryInterval : undefined),
  };
}

type Lifecycle = Pick<ResolvedMqttOptions, 'connect' | 'connectTimeout' | 'reconnectPeriod' | 'shutdownTimeout' | 'logging' | 'telemetry'>;

/** How the client connects, reconnects, shuts down and logs. */
function resolveLifecycle(options: MqttModuleOptions): Lifecycle {
  const connect = options.connect ?? MQTT_DEFAULTS.connect;
  if (connect !== 'wait' && connect !== 'background') {
    throw new MqttConfigError('connect', "must be 'wait' or 'background'");
  }
  return {
    connect,
    connectTimeout: optionalInteger(options.connectTimeout, 'connectTimeout', configError, 1, MAX_TIMER_DELAY_MS) ?? MQTT_DEFAULTS.connectTimeout,
    reconnectPeriod: optionalInteger(options.reconnectPeriod, 'reconnectPeriod', configError, 0, MAX_TIMER_DELAY_MS) ?? MQTT_DEFAULTS.reconnectPeriod,
    shutdownTimeout: optionalInteger(options.shutdownTimeout, 'shutdownTimeout', configError, 0, MAX_TIMER_DELAY_MS) ?? MQTT_DEFAULTS.shutdownTimeout,
    logging: optionalBoolean(options.logging, 'logging', configError) ?? MQTT_DEFAULTS.logging,
    telemetry: optionalBoolean(options.telemetry, 'telemetry', configError) ?? MQTT_DEFAULTS.telemetry,
  };
}

type Delivery = Pick<
  ResolvedMqttOptions,
  | 'share'
  | 'payload'
  | 'ack'
  | 'maxPayloadBytes'
  | 'offlineQueueLimit'
  | 'maxInflight'
  | 'publishTimeout'
  | 'queueQos0Offline'
  | 'dedupeWindowMs'
  | 'reply'
  | 'replyErrorDetails'
  | 'replyBacklogBytes'
>;

/** How messages go in and out: handler defaults (share, payload, ack, reply), size limits and queues. */
function resolveDelivery(options: MqttModuleOptions): Delivery {
  const share: unknown = options.share;
  if (share !== undefined) assertShareGroup(share, 'share', configError);
  const payload = options.payload ?? MQTT_DEFAULTS.payload;
  assertPayloadFormat(payload, 'payload', configError);
  const ack = options.ack ?? MQTT_DEFAULTS.ack;
  assertAckMode(ack, 'ack', configError);
  return {
    share,
    payload,
    ack,
    maxPayloadBytes: optionalInteger(options.maxPayloadBytes, 'maxPayloadBytes', configError, 1, 268_435_455) ?? MQTT_DEFAULTS.maxPayloadBytes,
    offlineQueueLimit: optionalInteger(options.offlineQueueLimit, 'offlineQueueLimit', configError, 0, 10_000_000) ?? MQTT_DEFAULTS.offlineQueueLimit,
    maxInflight: optionalInteger(options.maxInflight, 'maxInflight', configError, 1, 65_535) ?? MQTT_DEFAULTS.maxInflight,
    publishTimeout: optionalInteger(options.publishTimeout, 'publishTimeout', configError, 0, MAX_TIMER_DELAY_MS) ?? MQTT_DEFAULTS.publishTimeout,
    queueQos0Offline: optionalBoolean(options.queueQos0Offline, 'queueQos0Offline', configError) ?? MQTT_DEFAULTS.queueQos0Offline,
    dedupeWindowMs: optionalInteger(options.dedupeWindowMs, 'dedupeWindowMs', configError, 1, 86_400_000),
    reply: optionalBoolean(options.reply, 'reply', configError) ?? MQTT_DEFAULTS.reply,
    replyErrorDetails: optionalBoolean(options.replyErrorDetails, 'replyErrorDetails', configError) ?? MQTT_DEFAULTS.replyErrorDetails,
    replyBacklogBytes:
      optionalInteger(options.replyBacklogBytes, 'replyBacklogBytes', configError, 0, Number.MAX_SAFE_INTEGER) ?? MQTT_DEFAULTS.replyBacklogBytes,
  };
}

/** MQTT 3.1 servers may refuse client ids longer than 23 characters (3.1.1 servers must accept them). */
const MQTT31_MAX_CLIENT_ID = 23;

function generateClientId(): string {
  const prefix = MQTT_DEFAULTS.clientIdPrefix;
  return `${prefix}${randomBytes(8)
    .toString('hex')
    .slice(0, MQTT31_MAX_CLIENT_ID - prefix.length)}`;
}

/** The will, checked as a publish would be (topic, QoS, payload, MQTT 5 properties), with its payload encoded. */
export function resolveWill(will: MqttWillOptions | undefined, maxPayloadBytes: number, protocolVersion: number): IClientOptions['will'] {
  if (will === undefined) return undefined;
  assertObject(will, 'will', configError, 'an object with a topic');
  assertKnownOptionKeys(will, WILL_OPTION_KEYS, 'will.');
  try {
    assertTopicName(will.topic, 'will.topic');
  } catch (error) {
    throw new MqttConfigError('will.topic', (error as MqttError).message);
  }
  const qos = will.qos ?? 0;
  assertQos(qos, 'will.qos', configError);
  if (will.properties !== undefined && protocolVersion !== 5) {
    throw new MqttConfigError('will.properties', 'are MQTT 5 properties; set protocolVersion: 5');
  }
  // A value mqtt-packet cannot encode would fail every CONNECT: the client could never connect.
  if (will.properties !== undefined) assertWillProperties(will.properties, 'will.properties');
  let payload: Buffer | string;
  try {
    payload = encodePayload(will.payload ?? null, maxPayloadBytes);
  } catch (error) {
    throw new MqttConfigError('will.payload', (error as MqttError).message);
  }
  return {
    topic: will.topic,
    payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload),
    qos,
    retain: optionalBoolean(will.retain, 'will.retain', configError) ?? false,
    ...(will.properties ? { properties: will.properties } : {}),
  };
}
