import { configError } from '../errors/error-factory.js';
import { assertKnownKeys, keysOf } from './assert.js';
import type { MqttModuleOptions, MqttServerOptions, MqttTlsOptions, MqttWillOptions } from './mqtt-module-options.interface.js';

/** The keys of MqttModuleOptions: one added to the interface and not here fails to compile. */
export const MODULE_OPTION_KEYS = keysOf<MqttModuleOptions>({
  url: true,
  servers: true,
  host: true,
  port: true,
  protocol: true,
  path: true,
  clientId: true,
  username: true,
  password: true,
  keepalive: true,
  clean: true,
  protocolVersion: true,
  sessionExpiryInterval: true,
  tls: true,
  insecure: true,
  will: true,
  connect: true,
  connectTimeout: true,
  reconnectPeriod: true,
  logging: true,
  share: true,
  payload: true,
  ack: true,
  maxPayloadBytes: true,
  shutdownTimeout: true,
  clientOptions: true,
  offlineQueueLimit: true,
  maxInflight: true,
  publishTimeout: true,
  queueQos0Offline: true,
  dedupeWindowMs: true,
  reply: true,
  replyErrorDetails: true,
  replyBacklogBytes: true,
  telemetry: true,
});

export const TLS_OPTION_KEYS = keysOf<MqttTlsOptions>({
  ca: true,
  cert: true,
  key: true,
  passphrase: true,
  ciphers: true,
  minVersion: true,
  servername: true,
  rejectUnauthorized: true,
});

export const SERVER_OPTION_KEYS = keysOf<MqttServerOptions>({ url: true, username: true, password: true, tls: true });

export const WILL_OPTION_KEYS = keysOf<MqttWillOptions>({ topic: true, payload: true, qos: true, retain: true, properties: true });

/**
 * Refuses an unknown key of the module options (or of `tls.`, `will.` with that prefix) as
 * MqttConfigError, suggesting the closest known key and where raw mqtt.js options go.
 */
export function assertKnownOptionKeys(value: object, known: ReadonlySet<string>, prefix = ''): void {
  assertKnownKeys(value, known, configError, { prefix, note: 'raw mqtt.js options go in clientOptions' });
}
