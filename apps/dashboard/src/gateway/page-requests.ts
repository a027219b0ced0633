import { assertTopicName, MqttTopicError, parseTopicFilter, type ParsedTopicFilter } from 'nestjs-mqtt';
import type { GatewayLimits } from './gateway-limits.js';

type QoS = 0 | 1 | 2;

/** A request the gateway refuses; the page shows `message`, which starts with the field. Nothing reached the broker. */
export class RequestRefused extends Error {
  override readonly name = 'RequestRefused';

  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

export interface CheckedSubscribe {
  readonly filter: ParsedTopicFilter;
  readonly qos: QoS;
}

export interface CheckedPublish {
  readonly topic: string;
  readonly payload: string;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly userProperties: Record<string, string> | undefined;
}

/** `{ filter, qos }`; `qos` defaults to 0. */
export function checkSubscribe(body: unknown): CheckedSubscribe {
  const request = fields(body, ['filter', 'qos']);
  return { filter: filterOf(request.filter), qos: qosOf(request.qos) };
}

/** `{ filter }`. */
export function checkUnsubscribe(body: unknown): ParsedTopicFilter {
  return filterOf(fields(body, ['filter']).filter);
}

/** Nothing, or `{}`. */
export function checkUnsubscribeAll(body: unknown): void {
  if (body !== undefined && body !== null) fields(body, []);
}

/** `{ on }`. */
export function checkSimulate(body: unknown): boolean {
  const { on } = fields(body, ['on']);
  if (typeof on !== 'boolean') throw new RequestRefused('on', 'must be true or false');
  return on;
}

/**
 * `{ topic, payload, qos, retain, userProperties }`: a topic name (no wildcards), a string payload of at most
 * `maxPayloadBytes` UTF-8 bytes, QoS 0-2 (default 0), retain a boolean (default false), and MQTT 5 user properties
 * (string values, bounded in number and bytes) only when the client speaks MQTT 5.
 */
export function checkPublish(body: unknown, limits: GatewayLimits, mqtt5: boolean): CheckedPublish {
  const request = fields(body, ['topic', 'payload', 'qos', 'retain', 'userProperties']);
  try {
    assertTopicName(request.topic, 'topic');
  } catch (error) {
    throw refusalOf('topic', error);
  }
  const topic = request.topic as string;
  if (typeof request.payload !== 'string') throw new RequestRefused('payload', 'must be a string (it is sent as UTF-8 text)');
  const bytes = Buffer.byteLength(request.payload);
  if (bytes > limits.maxPayloadBytes) throw new RequestRefused('payload', `${bytes} bytes, more than the ${limits.maxPayloadBytes} allowed`);
  const retain = request.retain ?? false;
  if (typeof retain !== 'boolean') throw new RequestRefused('retain', 'must be true or false');
  const qos = qosOf(request.qos);
  const userProperties = userPropertiesOf(request.userProperties, limits, mqtt5);
  return { topic, payload: request.payload, qos, retain, userProperties };
}

/** The request as an object with only `known` keys. */
function fields(body: unknown, known: readonly string[]): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || Buffer.isBuffer(body)) {
    throw new RequestRefused('request', `must be an object${known.length > 0 ? ` with ${known.join(', ')}` : ''}`);
  }
  for (const key of Object.keys(body)) {
    if (!known.includes(key)) {
      throw new RequestRefused(short(key), `unknown field (${known.length > 0 ? `expected ${known.join(', ')}` : 'this request takes none'})`);
    }
  }
  return body as Record<string, unknown>;
}

function filterOf(filter: unknown): ParsedTopicFilter {
  try {
    return parseTopicFilter(filter, 'filter');
  } catch (error) {
    throw refusalOf('filter', error);
  }
}

function qosOf(qos: unknown): QoS {
  if (qos === undefined) return 0;
  if (qos === 0 || qos === 1 || qos === 2) return qos;
  throw new RequestRefused('qos', 'must be 0, 1 or 2');
}

function userPropertiesOf(value: unknown, limits: GatewayLimits, mqtt5: boolean): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value) || Buffer.isBuffer(value)) {
    throw new RequestRefused('userProperties', 'must be an object of string values');
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return undefined;
  if (!mqtt5) throw new RequestRefused('userProperties', 'user properties need MQTT 5, and this client speaks MQTT 3.1.1 (set MQTT_PROTOCOL_VERSION=5)');
  if (entries.length > limits.userProperties)
    throw new RequestRefused('userProperties', `${entries.length} properties, more than the ${limits.userProperties} allowed`);
  let bytes = 0;
  const properties: Record<string, string> = {};
  for (const [key, text] of entries) {
    const field = `userProperties.${short(key)}`;
    if (typeof text !== 'string') throw new RequestRefused(field, 'must be a string');
    if (key.includes('\u0000') || text.includes('\u0000')) throw new RequestRefused(field, 'must not contain U+0000');
    bytes += Buffer.byteLength(key) + Buffer.byteLength(text);
    Object.defineProperty(properties, key, { value: text, enumerable: true, writable: true, configurable: true });
  }
  if (bytes > limits.userPropertyBytes) {
    throw new RequestRefused('userProperties', `${bytes} bytes of keys and values, more than the ${limits.userPropertyBytes} allowed`);
  }
  return properties;
}

function refusalOf(field: string, error: unknown): RequestRefused {
  if (error instanceof MqttTopicError) return new RequestRefused(field, error.reason);
  return new RequestRefused(field, error instanceof Error ? error.message : String(error));
}

/** A key as an error names it: at most 40 characters. */
function short(key: string): string {
  return key.length > 40 ? `${key.slice(0, 37)}...` : key;
}
