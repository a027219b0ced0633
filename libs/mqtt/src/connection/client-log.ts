import { formatWithOptions } from 'node:util';
import { redactUrl } from '../options/broker-url.js';

/** Flask-MQTT's (paho's) log levels, passed to `@OnLog` handlers. */
export const MQTT_LOG_INFO = 0x01;
export const MQTT_LOG_NOTICE = 0x02;
export const MQTT_LOG_WARNING = 0x04;
export const MQTT_LOG_ERR = 0x08;
export const MQTT_LOG_DEBUG = 0x10;
export type MqttLogLevel = typeof MQTT_LOG_INFO | typeof MQTT_LOG_NOTICE | typeof MQTT_LOG_WARNING | typeof MQTT_LOG_ERR | typeof MQTT_LOG_DEBUG;

/** Packet fields that carry secrets. */
const SECRET_KEYS = new Set(['password', 'authenticationData', 'passphrase', 'key']);
const REDACTED = '[redacted]';

/**
 * Turns mqtt.js's debug-style log calls (`'%o'` with whole packets, the CONNECT one included)
 * into one line with every secret removed: secret packet fields, URL credentials, and any
 * occurrence of the configured password.
 */
export function createLogFormatter(secrets: ReadonlyArray<string | Buffer | undefined>): (args: unknown[]) => string {
  const literal = secrets
    .map((secret) => (Buffer.isBuffer(secret) ? secret.toString('utf8') : secret))
    .filter((secret): secret is string => typeof secret === 'string' && secret.length > 0);
  return (args) => {
    const [format, ...rest] = args.map((arg) => redactValue(arg, 0));
    let line = redactUrl(formatWithOptions({ depth: 4, breakLength: Infinity, colors: false }, format, ...rest));
    for (const secret of literal) line = line.split(secret).join(REDACTED);
    return line;
  };
}

function redactValue(value: unknown, depth: number): unknown {
  if (Buffer.isBuffer(value)) return `<Buffer ${value.length} bytes>`;
  if (value === null || typeof value !== 'object' || depth > 5) return value;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1));
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    copy[key] = SECRET_KEYS.has(key) && item !== undefined ? REDACTED : redactValue(item, depth + 1);
  }
  return copy;
}
