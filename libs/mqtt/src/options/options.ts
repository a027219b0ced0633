import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import type { IClientOptions } from 'mqtt';
import { configError } from '../errors/error-factory.js';
import { MqttConfigError } from '../errors/mqtt-config.error.js';
import { MqttError } from '../errors/mqtt.error.js';
import { MAX_TIMER_DELAY_MS } from '../mqtt.constants.js';
import type { MqttPayload, PayloadFormat, QoS } from '../interfaces/mqtt-message.interface.js';
import { encodePayload, isPayloadFormat } from '../protocol/payload-codec.js';
import { assertWillProperties, type MqttWillProperties } from '../protocol/publish-properties.js';
import { assertTopicName } from '../protocol/topic-filter.js';
import type { MqttAckMode } from '../interfaces/mqtt-handler.interface.js';
import { assertKnownKeys, assertQos, keysOf, optionalBoolean, optionalInteger, optionalSecret, optionalString } from './assert.js';

export type MqttProtocol = 'mqtt' | 'mqtts' | 'ws' | 'wss';

/** PEM contents, or a path to a PEM file. */
export type PemSource = string | Buffer;

export interface MqttTlsOptions {
  /** CA certificate(s) that sign the broker's certificate. Without it, Node's default CAs. */
  ca?: PemSource | PemSource[];
  /** Client certificate for mutual TLS. */
  cert?: PemSource;
  /** Client private key for mutual TLS. */
  key?: PemSource;
  passphrase?: string;
  ciphers?: string;
  /** Lowest TLS version accepted; TLS 1.2 unless raised to 1.3. */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** Host name to verify the certificate against (SNI), when it differs from the URL's host. */
  servername?: string;
  /**
   * `false` turns certificate verification off: any certificate is accepted, so anyone on the path can
   * impersonate the broker. Logged as a warning at every connect. For a private CA give `ca`; for a
   * certificate that names another host, `servername` or `insecure: true`.
   */
  rejectUnauthorized?: boolean;
}

export interface MqttWillOptions {
  topic: string;
  payload?: MqttPayload;
  qos?: QoS;
  retain?: boolean;
  /** MQTT 5: willDelayInterval, payloadFormatIndicator, messageExpiryInterval, contentType, responseTopic, correlationData, userProperties. */
  properties?: MqttWillProperties;
}

/** How `app.init()` treats the first connection. */
export type MqttConnectPolicy = 'wait' | 'background';


export interface MqttModuleOptions {
  /** `mqtt://`, `mqtts://`, `ws://` or `wss://` URL; credentials in it are used and never logged. */
  url?: string;
  /** Alternative to `url`. */
  host?: string;
  port?: number;
  protocol?: MqttProtocol;
  /** Path for WebSocket transports. */
  path?: string;
  /** Unique per instance when absent (`nestjs-mqtt_<random>`). */
  clientId?: string;
  username?: string;
  password?: string | Buffer;
  /** Seconds, 0-65535. */
  keepalive?: number;
  /** Clean session (3.1.1) / clean start (5). `false` needs a fixed `clientId`. */
  clean?: boolean;
  protocolVersion?: 3 | 4 | 5;
  /**
   * MQTT 5 session expiry in seconds: how long the broker keeps the session after a disconnect.
   * With `clean: false` it defaults to `MQTT_DEFAULTS.durableSessionExpiryInterval` (never expires,
   * as a 3.1.1 session; the broker may cap it), otherwise 0 (the session ends at disconnect).
   */
  sessionExpiryInterval?: number;
  tls?: MqttTlsOptions;
  /**
   * Skip the host-name check of the broker's certificate; its chain is still verified against `tls.ca`
   * (Flask-MQTT's MQTT_TLS_INSECURE, paho's `tls_insecure_set(True)`). Logged as a warning.
   */
  insecure?: boolean;
  will?: MqttWillOptions;
  /** `wait`: `app.init()` waits for the CONNACK (up to `connectTimeout`) and fails otherwise. `background`: it does not wait. */
  connect?: MqttConnectPolicy;
  /** Milliseconds to wait for a CONNACK. */
  connectTimeout?: number;
  /** Milliseconds between reconnect attempts; 0 disables reconnecting. */
  reconnectPeriod?: number;
  /** Packet-level debug logs through Nest's Logger, secrets redacted (Flask-MQTT's mqtt_logging). */
  logging?: boolean;
  /** Default shared-subscription group for decorated handlers (`$share/<group>/<filter>`). */
  share?: string;
  /** Default payload format for handlers. */
  payload?: PayloadFormat;
  /** Default acknowledgement mode for handlers of QoS 1/2 messages. */
  ack?: MqttAckMode;
  /** Largest payload published or decoded, in bytes. */
  maxPayloadBytes?: number;
  /** Milliseconds `app.close()` waits for running handlers before it disconnects. */
  shutdownTimeout?: number;
  /** Publishes that may wait for a connection while offline; more reject with MqttPublishError. */
  offlineQueueLimit?: number;
  /**
   * QoS 1/2 publishes sent and not yet acknowledged; more wait their turn, in order. An MQTT 5 broker's
   * Receive Maximum lowers it. Brokers refuse what exceeds their limit (Mosquitto: max_inflight_messages,
   * 20), and on MQTT 3.1.1 they cannot say so: the message is acknowledged and dropped.
   */
  maxInflight?: number;
  /** Queue QoS 0 publishes while offline (true), or reject them at once (false). */
  queueQos0Offline?: boolean;
  /** Drop QoS 1 redeliveries (DUP) of a message handled within this many milliseconds; off when absent. */
  dedupeWindowMs?: number;
  /**
   * Handlers publish their return value to an MQTT 5 request's response topic (default false;
   * per handler with `@OnTopic(f, { reply: true })`). The sender of a message chooses that topic.
   */
  reply?: boolean;
  /** Error replies carry the handler's error text; by default a generic one (error texts leak internals). */
  replyErrorDetails?: boolean;
  /** Bytes of replies that may wait to be written or acknowledged; replies beyond are dropped with a warning. */
  replyBacklogBytes?: number;
  /** Raw mqtt.js options for everything else; applied before the options above. */
  clientOptions?: Partial<IClientOptions>;
}

/** Every default in one place. */
export const MQTT_DEFAULTS = {
  host: 'localhost',
  protocol: 'mqtt',
  keepalive: 60,
  clean: true,
  protocolVersion: 4,
  /**
   * MQTT 5 session expiry for `clean: false` without `sessionExpiryInterval`: 0xFFFFFFFF, never
   * expires, which is what `clean: false` means on 3.1.1. Brokers cap it with their own limit
   * (Mosquitto: persistent_client_expiration). Without it the session would end at disconnect.
   */
  durableSessionExpiryInterval: 0xffffffff,
  connect: 'wait',
  connectTimeout: 10_000,
  reconnectPeriod: 1_000,
  logging: false,
  payload: 'auto',
  ack: 'auto',
  maxPayloadBytes: 8 * 1024 * 1024,
  /**
   * MQTT 5 Maximum Packet Size advertised in CONNECT is maxPayloadBytes plus this: a topic of up to
   * 64 KiB and 64 KiB of properties. The broker then never sends a larger packet, which mqtt.js
   * would otherwise buffer whole (up to 256 MB) before maxPayloadBytes is checked.
   */
  inboundPacketHeadroomBytes: 2 * 65_536,
  shutdownTimeout: 10_000,
  offlineQueueLimit: 10_000,
  maxInflight: 20,
  queueQos0Offline: true,
  reply: false,
  replyErrorDetails: false,
  replyBacklogBytes: 16 * 1024 * 1024,
  /** During an outage, the same connection error is logged once, then summarised at most this often (ms). */
  outageLogIntervalMs: 30_000,
  /** What `dedupeWindowMs` remembers at most: messages (about 13 MiB of heap with short topics), and estimated bytes (topics included). */
  dedupeMaxEntries: 40_000,
  dedupeMaxBytes: 16 * 1024 * 1024,
  insecure: false,
  tlsMinVersion: 'TLSv1.2',
  /** Generated ids are this prefix plus random hex up to 23 characters, the MQTT 3.1 limit (44 random bits). */
  clientIdPrefix: 'nestjs-mqtt_',
  /** `MqttService.request()` wait for a reply, ms. */
  requestTimeout: 10_000,
  /** `MqttHealthIndicator` ping wait for the PUBACK, ms. */
  healthPingTimeout: 1_000,
} as const;

const DEFAULT_PORTS: Record<MqttProtocol, number> = { mqtt: 1883, mqtts: 8883, ws: 80, wss: 443 };

/** Options after validation, with defaults applied and files read. */
export interface ResolvedMqttOptions {
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
  readonly share: string | undefined;
  readonly payload: PayloadFormat;
  readonly ack: MqttAckMode;
  readonly maxPayloadBytes: number;
  readonly shutdownTimeout: number;
  readonly offlineQueueLimit: number;
  readonly maxInflight: number;
  readonly queueQos0Offline: boolean;
  readonly dedupeWindowMs: number | undefined;
  readonly reply: boolean;
  readonly replyErrorDetails: boolean;
  readonly replyBacklogBytes: number;
  readonly clientOptions: Partial<IClientOptions>;
}

export type MqttTlsVerification = 'full' | 'no-hostname' | 'off';

export interface ResolvedTls {
  readonly ca?: Buffer[];
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly passphrase?: string;
  readonly ciphers?: string;
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
  readonly servername?: string;
  readonly rejectUnauthorized: boolean;
}

const KNOWN_KEYS = keysOf<MqttModuleOptions>({
  url: true, host: true, port: true, protocol: true, path: true, clientId: true, username: true, password: true,
  keepalive: true, clean: true, protocolVersion: true, sessionExpiryInterval: true, tls: true, insecure: true, will: true,
  connect: true, connectTimeout: true, reconnectPeriod: true, logging: true, share: true, payload: true, ack: true,
  maxPayloadBytes: true, shutdownTimeout: true, clientOptions: true, offlineQueueLimit: true, maxInflight: true,
  queueQos0Offline: true, dedupeWindowMs: true, reply: true, replyErrorDetails: true, replyBacklogBytes: true,
});
const TLS_KEYS = keysOf<MqttTlsOptions>({
  ca: true, cert: true, key: true, passphrase: true, ciphers: true, minVersion: true, servername: true, rejectUnauthorized: true,
});
const WILL_KEYS = keysOf<MqttWillOptions>({ topic: true, payload: true, qos: true, retain: true, properties: true });
const CLIENT_OPTIONS_NOTE = 'raw mqtt.js options go in clientOptions';
const PROTOCOLS: readonly MqttProtocol[] = ['mqtt', 'mqtts', 'ws', 'wss'];

/** Validates module options and applies the defaults. Throws MqttConfigError naming the field. */
export function resolveMqttOptions(options: MqttModuleOptions): ResolvedMqttOptions {
  if (options === null || typeof options !== 'object') {
    throw new MqttConfigError('options', 'expected an object');
  }
  assertKnownKeys(options, KNOWN_KEYS, configError, { note: CLIENT_OPTIONS_NOTE });

  const address = resolveAddress(options);
  const username = address.username ?? optionalString(options.username, 'username', configError);
  const password = address.password ?? optionalSecret(options.password, 'password', configError);
  if (password !== undefined && username === undefined) {
    throw new MqttConfigError('password', 'a password needs a username (MQTT 3.1.1 §3.1.2.9)');
  }

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
  const sessionExpiryInterval =
    givenSessionExpiry ?? (!clean && protocolVersion === 5 ? MQTT_DEFAULTS.durableSessionExpiryInterval : undefined);

  const secure = address.protocol === 'mqtts' || address.protocol === 'wss';
  if (options.tls !== undefined && !secure) {
    throw new MqttConfigError('tls', `TLS options need an mqtts: or wss: broker, not ${address.protocol}:`);
  }
  const insecure = optionalBoolean(options.insecure, 'insecure', configError) ?? MQTT_DEFAULTS.insecure;

  const share = optionalString(options.share, 'share', configError);
  if (share !== undefined && (share === '' || /[/+#]/.test(share))) {
    throw new MqttConfigError('share', "a shared-subscription group must be non-empty, without '/', '+' or '#'");
  }
  const payload = options.payload ?? MQTT_DEFAULTS.payload;
  if (!isPayloadFormat(payload)) {
    throw new MqttConfigError('payload', "must be 'auto', 'json', 'text', 'buffer' or a codec ({ name, decode(buffer, topic) })");
  }
  const ack = options.ack ?? MQTT_DEFAULTS.ack;
  if (ack !== 'auto' && ack !== 'after-handler') {
    throw new MqttConfigError('ack', "must be 'auto' or 'after-handler'");
  }
  const connect = options.connect ?? MQTT_DEFAULTS.connect;
  if (connect !== 'wait' && connect !== 'background') {
    throw new MqttConfigError('connect', "must be 'wait' or 'background'");
  }
  const maxPayloadBytes = optionalInteger(options.maxPayloadBytes, 'maxPayloadBytes', configError, 1, 268_435_455) ?? MQTT_DEFAULTS.maxPayloadBytes;
  if (options.clientOptions !== undefined && (options.clientOptions === null || typeof options.clientOptions !== 'object')) {
    throw new MqttConfigError('clientOptions', 'expected an object of mqtt.js options');
  }
  const tls = secure ? resolveTls(options.tls ?? {}) : undefined;
  const tlsVerification: MqttTlsVerification | undefined = !tls ? undefined : !tls.rejectUnauthorized ? 'off' : insecure ? 'no-hostname' : 'full';
  // The raw mqtt.js switches only along with the explicit one, so tlsVerification (and its warning) tells the truth.
  const wsOptions = options.clientOptions?.wsOptions as { rejectUnauthorized?: unknown } | undefined;
  for (const [field, value] of [
    ['clientOptions.rejectUnauthorized', options.clientOptions?.rejectUnauthorized],
    ['clientOptions.wsOptions.rejectUnauthorized', wsOptions?.rejectUnauthorized],
  ] as const) {
    if (value === false && tlsVerification !== 'off') {
      throw new MqttConfigError(field, 'turning certificate verification off needs the explicit tls: { rejectUnauthorized: false } (logged as a warning)');
    }
  }

  return {
    ...address,
    clientId: givenClientId ?? generateClientId(),
    clientIdGenerated: givenClientId === undefined,
    username,
    password,
    keepalive: optionalInteger(options.keepalive, 'keepalive', configError, 0, 65_535) ?? MQTT_DEFAULTS.keepalive,
    clean,
    protocolVersion,
    sessionExpiryInterval,
    tls,
    insecure,
    tlsVerification,
    will: resolveWill(options.will, maxPayloadBytes, protocolVersion),
    connect,
    connectTimeout: optionalInteger(options.connectTimeout, 'connectTimeout', configError, 1, MAX_TIMER_DELAY_MS) ?? MQTT_DEFAULTS.connectTimeout,
    reconnectPeriod: optionalInteger(options.reconnectPeriod, 'reconnectPeriod', configError, 0, MAX_TIMER_DELAY_MS) ?? MQTT_DEFAULTS.reconnectPeriod,
    logging: optionalBoolean(options.logging, 'logging', configError) ?? MQTT_DEFAULTS.logging,
    share,
    payload,
    ack,
    maxPayloadBytes,
    shutdownTimeout: optionalInteger(options.shutdownTimeout, 'shutdownTimeout', configError, 0, MAX_TIMER_DELAY_MS) ?? MQTT_DEFAULTS.shutdownTimeout,
    offlineQueueLimit: optionalInteger(options.offlineQueueLimit, 'offlineQueueLimit', configError, 0, 10_000_000) ?? MQTT_DEFAULTS.offlineQueueLimit,
    maxInflight: optionalInteger(options.maxInflight, 'maxInflight', configError, 1, 65_535) ?? MQTT_DEFAULTS.maxInflight,
    queueQos0Offline: optionalBoolean(options.queueQos0Offline, 'queueQos0Offline', configError) ?? MQTT_DEFAULTS.queueQos0Offline,
    dedupeWindowMs: optionalInteger(options.dedupeWindowMs, 'dedupeWindowMs', configError, 1, 86_400_000),
    reply: optionalBoolean(options.reply, 'reply', configError) ?? MQTT_DEFAULTS.reply,
    replyErrorDetails: optionalBoolean(options.replyErrorDetails, 'replyErrorDetails', configError) ?? MQTT_DEFAULTS.replyErrorDetails,
    replyBacklogBytes: optionalInteger(options.replyBacklogBytes, 'replyBacklogBytes', configError, 0, Number.MAX_SAFE_INTEGER) ?? MQTT_DEFAULTS.replyBacklogBytes,
    clientOptions: options.clientOptions ?? {},
  };
}

/** MQTT 3.1 servers may refuse client ids longer than 23 characters (3.1.1 servers must accept them). */
const MQTT31_MAX_CLIENT_ID = 23;

function generateClientId(): string {
  const prefix = MQTT_DEFAULTS.clientIdPrefix;
  return `${prefix}${randomBytes(8).toString('hex').slice(0, MQTT31_MAX_CLIENT_ID - prefix.length)}`;
}

interface ResolvedAddress {
  protocol: MqttProtocol;
  host: string;
  port: number;
  path: string | undefined;
  displayUrl: string;
  username?: string;
  password?: string;
}

function resolveAddress(options: MqttModuleOptions): ResolvedAddress {
  if (options.url !== undefined) {
    if (options.host !== undefined || options.port !== undefined || options.protocol !== undefined) {
      throw new MqttConfigError('url', 'give either url or host/port/protocol, not both');
    }
    return parseBrokerUrl(options.url);
  }
  const protocol = options.protocol ?? (options.tls ? 'mqtts' : MQTT_DEFAULTS.protocol);
  if (!PROTOCOLS.includes(protocol)) {
    throw new MqttConfigError('protocol', `must be one of ${PROTOCOLS.join(', ')}, got ${JSON.stringify(protocol)}`);
  }
  const host = optionalString(options.host, 'host', configError) ?? MQTT_DEFAULTS.host;
  if (host === '' || /[/\s@]/.test(host)) {
    const reason = host.includes('@') ? 'credentials go in username and password' : 'it is not a host name or address';
    throw new MqttConfigError('host', `"${redactUrlValue(host)}": ${reason}`);
  }
  if (host.includes(':') && !isIPv6(host)) {
    // 'localhost:1883' would be looked up as a host name and fail after connectTimeout (ENOTFOUND).
    const hostPort = /^\[?(.*?)\]?:(\d{1,5})$/.exec(host);
    throw new MqttConfigError(
      'host',
      hostPort
        ? `${JSON.stringify(host)} holds a port; give the port separately: host: '${hostPort[1]}', port: ${hostPort[2]}`
        : `${JSON.stringify(host)} is not a host name or address (an IPv6 address goes without brackets)`,
    );
  }
  const port = optionalInteger(options.port, 'port', configError, 1, 65_535) ?? DEFAULT_PORTS[protocol];
  const path = optionalString(options.path, 'path', configError);
  return { protocol, host, port, path, displayUrl: formatUrl(protocol, host, port, path) };
}

/** Parses a broker URL with WHATWG URL rules; `localhost:1883` (no scheme) is refused, not misread. */
function parseBrokerUrl(url: unknown): ResolvedAddress {
  if (typeof url !== 'string' || url.length === 0) {
    throw new MqttConfigError('url', 'expected a non-empty string like mqtt://localhost:1883');
  }
  const shown = redactUrlValue(url);
  if (!SCHEME.test(url)) {
    throw new MqttConfigError('url', `${shown} has no scheme; write it as mqtt://${shown.replace(/^\*\*\*@/, '')}`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MqttConfigError('url', `${shown} is not a URL; write it with a scheme, e.g. mqtt://host:1883 (percent-encode '/', '@' or ':' in a password)`);
  }
  const scheme = parsed.protocol.slice(0, -1);
  if (!parsed.hostname) {
    throw new MqttConfigError('url', `${shown} has no host`);
  }
  if (!PROTOCOLS.includes(scheme as MqttProtocol)) {
    throw new MqttConfigError('url', `unsupported scheme '${scheme}:' in ${shown}; use mqtt:, mqtts:, ws: or wss:`);
  }
  // mqtt://user:pa/ss@host parses as host 'pa' and path '/ss@host': the password would reach logs.
  if (parsed.pathname.includes('@')) {
    throw new MqttConfigError('url', `${shown} has an '@' after a '/'; percent-encode '/' in a password (%2F)`);
  }
  const protocol = scheme as MqttProtocol;
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = parsed.port ? Number(parsed.port) : DEFAULT_PORTS[protocol];
  const path = parsed.pathname && parsed.pathname !== '/' ? parsed.pathname : undefined;
  const address: ResolvedAddress = { protocol, host, port, path, displayUrl: formatUrl(protocol, host, port, path) };
  if (parsed.username) address.username = decodeURIComponent(parsed.username);
  if (parsed.password) address.password = decodeURIComponent(parsed.password);
  return address;
}

function formatUrl(protocol: MqttProtocol, host: string, port: number, path: string | undefined): string {
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return `${protocol}://${shownHost}:${port}${path ?? ''}`;
}

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * Removes `user:password@` from URLs in free text (log lines). Userinfo ends at the *last* `@` of
 * the run of non-space characters, since a password may hold `/` or `@`: too much is hidden at worst
 * (an `@` in a path), never a piece of the password. A leading `user:password@host` without a
 * scheme is redacted too.
 */
export function redactUrl(text: string): string {
  return text.replace(/^(?!\S*\/\/)\S*@/, '***@').replace(/\/\/\S*@/g, '//***@');
}

/** One URL value for an error message: userinfo up to the last `@` and any query or fragment hidden. */
function redactUrlValue(url: string): string {
  const start = SCHEME.exec(url)?.[0].length ?? 0;
  const at = url.lastIndexOf('@');
  let shown = at >= start ? `${url.slice(0, start)}***@${url.slice(at + 1)}` : url;
  // Query strings carry tokens (presigned websocket URLs), and a password may hold '?' or '#'.
  shown = shown.replace(/[?#].*$/s, (rest) => `${rest[0]}***`);
  return JSON.stringify(shown.length > 200 ? `${shown.slice(0, 197)}...` : shown).slice(1, -1);
}

function resolveTls(tls: MqttTlsOptions): ResolvedTls {
  if (tls === null || typeof tls !== 'object') {
    throw new MqttConfigError('tls', 'expected an object');
  }
  assertKnownKeys(tls, TLS_KEYS, configError, { prefix: 'tls.', note: CLIENT_OPTIONS_NOTE });
  const minVersion = tls.minVersion ?? MQTT_DEFAULTS.tlsMinVersion;
  if (minVersion !== 'TLSv1.2' && minVersion !== 'TLSv1.3') {
    throw new MqttConfigError('tls.minVersion', `must be 'TLSv1.2' or 'TLSv1.3' (older versions are broken), got ${JSON.stringify(minVersion)}`);
  }
  const ca = tls.ca === undefined ? undefined : (Array.isArray(tls.ca) ? tls.ca : [tls.ca]).map((source, i) =>
    readPem(source, Array.isArray(tls.ca) ? `tls.ca[${i}]` : 'tls.ca'),
  );
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new MqttConfigError(tls.cert === undefined ? 'tls.cert' : 'tls.key', 'mutual TLS needs both tls.cert and tls.key');
  }
  return {
    ca,
    cert: tls.cert === undefined ? undefined : readPem(tls.cert, 'tls.cert'),
    key: tls.key === undefined ? undefined : readPem(tls.key, 'tls.key'),
    passphrase: optionalString(tls.passphrase, 'tls.passphrase', configError),
    ciphers: optionalString(tls.ciphers, 'tls.ciphers', configError),
    minVersion,
    servername: optionalString(tls.servername, 'tls.servername', configError),
    rejectUnauthorized: optionalBoolean(tls.rejectUnauthorized, 'tls.rejectUnauthorized', configError) ?? true,
  };
}

const PEM_BEGIN = '-----BEGIN';
/** Base64 of `-----BEGIN`: PEM passed base64-encoded, the usual way through an environment variable. */
const BASE64_PEM = /^\s*LS0tLS1CRUdJTi/;

/**
 * PEM contents and base64-encoded PEM pass through; anything else is a file path, read now so a
 * typo fails at bootstrap. A value that failed is shown only when it looks like a path: it may be
 * key material that was mangled on its way (a base64 key body, a truncated PEM).
 */
function readPem(source: PemSource, field: string): Buffer {
  if (Buffer.isBuffer(source)) return source;
  if (typeof source !== 'string' || source.length === 0) {
    throw new MqttConfigError(field, 'expected PEM contents or a file path');
  }
  if (source.includes(PEM_BEGIN)) return Buffer.from(source);
  if (BASE64_PEM.test(source)) {
    const decoded = Buffer.from(source, 'base64');
    if (decoded.toString('latin1').startsWith(`${PEM_BEGIN} `)) return decoded;
  }
  try {
    return readFileSync(source);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    if (looksLikePath(source)) {
      throw new MqttConfigError(field, `cannot read file '${source}' (${code})`, { cause: error });
    }
    // No cause: Node's error names the path, which is this value.
    throw new MqttConfigError(field, `is neither PEM contents nor a readable file path (${code}); the value is not shown, as it may be key material`);
  }
}

/** Short, printable, and without a long random-looking run (upper, lower and digits, as base64 has). */
function looksLikePath(value: string): boolean {
  if (value.length > 255 || [...value].some((c) => c < ' ' || c === '\u007f')) return false;
  return !value.split(/[/\\.]/).some((part) => part.length >= 16 && /[A-Z]/.test(part) && /[a-z]/.test(part) && /[0-9]/.test(part));
}

function resolveWill(will: MqttWillOptions | undefined, maxPayloadBytes: number, protocolVersion: number): IClientOptions['will'] {
  if (will === undefined) return undefined;
  if (will === null || typeof will !== 'object') {
    throw new MqttConfigError('will', 'expected an object with a topic');
  }
  assertKnownKeys(will, WILL_KEYS, configError, { prefix: 'will.', note: CLIENT_OPTIONS_NOTE });
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

/** The mqtt.js options for resolved options. The client is created unconnected; we own resubscription. */
export function toClientOptions(options: ResolvedMqttOptions): IClientOptions {
  const tls = tlsClientOptions(options);
  return {
    ...options.clientOptions,
    protocol: options.protocol,
    host: options.host,
    hostname: options.host,
    port: options.port,
    ...(options.path !== undefined ? { path: options.path } : {}),
    clientId: options.clientId,
    ...(options.username !== undefined ? { username: options.username } : {}),
    ...(options.password !== undefined ? { password: options.password } : {}),
    keepalive: options.keepalive,
    clean: options.clean,
    protocolVersion: options.protocolVersion,
    // mqtt.js sends 'MQTT' whatever the level; MQTT 3.1 is 'MQIsdp', and brokers refuse level 3 under 'MQTT'.
    protocolId: options.protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
    connectTimeout: options.connectTimeout,
    reconnectPeriod: options.reconnectPeriod,
    ...(options.will ? { will: options.will } : {}),
    ...(options.protocolVersion === 5
      ? {
          properties: {
            maximumPacketSize: Math.min(options.maxPayloadBytes + MQTT_DEFAULTS.inboundPacketHeadroomBytes, MQTT_MAX_PACKET_BYTES),
            ...options.clientOptions.properties,
            ...(options.sessionExpiryInterval !== undefined ? { sessionExpiryInterval: options.sessionExpiryInterval } : {}),
          },
        }
      : {}),
    ...tls,
    // mqtt.js hands a wss: socket only rejectUnauthorized, ca, cert, key, pfx and passphrase; the rest
    // (minVersion, servername, checkServerIdentity) must go in wsOptions, where ours also win over raw ones.
    // (@types/ws types checkServerIdentity as returning boolean; ws hands it to tls.connect as it is.)
    ...(tls && options.protocol === 'wss' ? { wsOptions: { ...options.clientOptions.wsOptions, ...tls } as IClientOptions['wsOptions'] } : {}),
    manualConnect: true,
    resubscribe: false,
    // A refused CONNACK otherwise stops reconnecting for good, also for "server busy, try later";
    // connect: 'wait' ends the client itself on refusals that retrying cannot mend.
    reconnectOnConnackError: options.clientOptions.reconnectOnConnackError ?? true,
  };
}

/** The largest MQTT packet: a 268,435,455-byte remaining length after a 5-byte fixed header. */
const MQTT_MAX_PACKET_BYTES = 268_435_460;

/** Paho's tls_insecure_set(True): the chain is verified, the host name is not. */
const skipHostNameCheck = (): undefined => undefined;

/** Node's tls.connect options we set (mqtt.js's IClientOptions types only some of them). */
interface TlsClientOptions {
  ca?: Buffer[];
  cert?: Buffer;
  key?: Buffer;
  passphrase?: string;
  ciphers?: string;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  servername?: string;
  rejectUnauthorized: boolean;
  checkServerIdentity?: () => undefined;
}

function tlsClientOptions(options: ResolvedMqttOptions): TlsClientOptions | undefined {
  const tls = options.tls;
  if (!tls) return undefined;
  return {
    ...(tls.ca ? { ca: tls.ca } : {}),
    ...(tls.cert ? { cert: tls.cert } : {}),
    ...(tls.key ? { key: tls.key } : {}),
    ...(tls.passphrase !== undefined ? { passphrase: tls.passphrase } : {}),
    ...(tls.ciphers !== undefined ? { ciphers: tls.ciphers } : {}),
    minVersion: tls.minVersion,
    ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
    rejectUnauthorized: options.tlsVerification !== 'off',
    ...(options.tlsVerification === 'no-hostname' ? { checkServerIdentity: skipHostNameCheck } : {}),
  };
}
