import type { IClientOptions } from 'mqtt';
import { argumentError, configError, type ErrorFactory } from '../errors/error-factory.js';
import { MqttTopicError } from '../errors/mqtt-topic.error.js';
import { assertTopicName } from './topic-filter.js';

/** MQTT 5 will properties (CONNECT will), as mqtt.js takes them. */
export type MqttWillProperties = NonNullable<NonNullable<IClientOptions['will']>['properties']>;

type Fail = (field: string, reason: string) => never;
type Check = (value: unknown, field: string, fail: Fail) => void;

const MAX_UTF8_BYTES = 65_535;
const UINT32_MAX = 0xffffffff;

const COMMON: Record<string, Check> = {
  payloadFormatIndicator: (value, field, fail) => {
    if (typeof value !== 'boolean') fail(field, `expected true or false, got ${describe(value)}`);
  },
  messageExpiryInterval: (value, field, fail) => assertInteger(value, field, 0, UINT32_MAX, fail),
  contentType: (value, field, fail) => assertUtf8(value, field, fail),
  responseTopic: (value, field, fail) => {
    try {
      assertTopicName(value, field);
    } catch (error) {
      fail(field, error instanceof MqttTopicError ? `${describeTopic(value)}: ${error.reason}` : String(error));
    }
  },
  correlationData: (value, field, fail) => {
    if (!(value instanceof Uint8Array)) return fail(field, `expected a Buffer or Uint8Array, got ${describe(value)}`);
    if (value.byteLength > MAX_UTF8_BYTES) fail(field, `must be at most ${MAX_UTF8_BYTES} bytes, got ${value.byteLength}`);
  },
  userProperties: (value, field, fail) => assertUserProperties(value, field, fail),
};

const PUBLISH: Record<string, Check> = {
  ...COMMON,
  topicAlias: (value, field, fail) => assertInteger(value, field, 1, 65_535, fail),
  subscriptionIdentifier: (_value, field, fail) =>
    fail(field, 'only the broker sets it, on the messages it delivers (MQTT 5 §3.3.4); a client must not send it'),
};

const WILL: Record<string, Check> = {
  ...COMMON,
  willDelayInterval: (value, field, fail) => assertInteger(value, field, 0, UINT32_MAX, fail),
};

function thrower(error: ErrorFactory): Fail {
  return (field, reason) => {
    throw error(field, reason);
  };
}

/**
 * Checks MQTT 5 PUBLISH properties the way mqtt-packet will encode them, so a value it cannot write
 * fails here with MqttArgumentError(`${field}.<key>`) instead of dropping the connection: mqtt.js keeps
 * a QoS 1/2 publish and resends it after every reconnect, so one bad value would disconnect forever.
 * Call it only when properties are given; publishes without them pay nothing.
 */
export function assertPublishProperties(properties: unknown, field: string): void {
  assertProperties(properties, field, PUBLISH, 'a PUBLISH property', thrower(argumentError));
}

/** The same for a will's properties (CONNECT), as MqttConfigError(`${field}.<key>`). */
export function assertWillProperties(properties: unknown, field: string): asserts properties is MqttWillProperties {
  assertProperties(properties, field, WILL, 'a will property', thrower(configError));
}

function assertProperties(properties: unknown, field: string, checks: Record<string, Check>, kind: string, fail: Fail): void {
  if (!isPlainObject(properties)) fail(field, `expected an object of MQTT 5 properties, got ${describe(properties)}`);
  // for...in, as mqtt-packet sizes the packet: an inherited enumerable key is counted there but not
  // written, which yields a malformed packet, so it is refused, not ignored.
  for (const key in properties) {
    const keyField = `${field}.${key}`;
    if (!Object.prototype.hasOwnProperty.call(properties, key)) {
      fail(keyField, 'is inherited through the prototype; give properties as own keys of a plain object');
    }
    const check = Object.prototype.hasOwnProperty.call(checks, key) ? checks[key] : undefined;
    if (check === undefined) fail(keyField, `not ${kind} (accepted: ${Object.keys(checks).join(', ')})`);
    const value = (properties as Record<string, unknown>)[key];
    // mqtt-packet skips undefined values, as if the key were absent.
    if (value !== undefined) check(value, keyField, fail);
  }
}

function assertUserProperties(value: unknown, field: string, fail: Fail): void {
  if (!isPlainObject(value)) fail(field, `expected an object of string -> string | string[], got ${describe(value)}`);
  // mqtt-packet writes Object.getOwnPropertyNames: non-enumerable keys too, inherited ones never.
  for (const name of Object.getOwnPropertyNames(value)) {
    const entryField = `${field}.${name}`;
    if (!Object.prototype.propertyIsEnumerable.call(value, name)) fail(entryField, 'is not enumerable; give user properties as plain keys');
    assertUtf8(name, field, fail, 'a user property name');
    const entry = (value as Record<string, unknown>)[name];
    if (Array.isArray(entry)) {
      entry.forEach((item, index) => assertUtf8(item, `${entryField}[${index}]`, fail));
    } else if (typeof entry === 'string') {
      assertUtf8(entry, entryField, fail);
    } else {
      fail(entryField, `expected a UTF-8 string or an array of them, got ${typeOf(entry)}`);
    }
  }
}

/** MQTT 5 §1.5.4: UTF-8 strings are well formed, without U+0000, and at most 65535 bytes. */
function assertUtf8(value: unknown, field: string, fail: Fail, what = 'the value'): void {
  if (typeof value !== 'string') fail(field, `expected a UTF-8 string, got ${typeOf(value)}`);
  if (value.includes('\u0000')) fail(field, `${what} must not contain U+0000`);
  if (!(value as string & { isWellFormed(): boolean }).isWellFormed()) {
    fail(field, `${what} contains a lone surrogate, which has no UTF-8 encoding`);
  }
  if (value.length > MAX_UTF8_BYTES / 3 && Buffer.byteLength(value) > MAX_UTF8_BYTES) {
    fail(field, `${what} must be at most ${MAX_UTF8_BYTES} bytes in UTF-8, got ${Buffer.byteLength(value)}`);
  }
}

function assertInteger(value: unknown, field: string, min: number, max: number, fail: Fail): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(field, `expected an integer from ${min} to ${max}, got ${describe(value)}`);
  }
}

/** Objects only, by tag (works across realms): not arrays, Maps, Buffers or Dates. */
function isPlainObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null && Object.prototype.toString.call(value) === '[object Object]';
}

/** Numbers and booleans as they are; other values by type only (strings may be long or private). */
function describe(value: unknown): string {
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : typeOf(value);
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (Buffer.isBuffer(value)) return 'a Buffer';
  return typeof value;
}

function describeTopic(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.length > 120 ? `${value.slice(0, 117)}...` : value) : describe(value);
}
