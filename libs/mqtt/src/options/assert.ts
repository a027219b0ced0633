/**
 * The validation vocabulary of the library: each rule is worded once and takes the field name and
 * an ErrorFactory (`errors/error-factory.ts`), so the same rule raises MqttConfigError for module
 * options, MqttArgumentError for MqttService arguments and MqttHandlerError for decorator options.
 * `assert*` functions throw; `optional*` readers return the value, or undefined when it is absent.
 */
import type { ErrorFactory } from '../errors/error-factory.js';
import { showValue } from '../errors/describe-error.js';
import type { MqttAckMode } from '../interfaces/mqtt-handler.interface.js';
import type { PayloadFormat, QoS } from '../interfaces/mqtt-message.interface.js';
import { isPayloadFormat } from '../protocol/payload-codec.js';
import { qosProblem } from '../protocol/qos.js';
import { shareGroupProblem } from '../protocol/topic-filter.js';

/**
 * Every key of `T`, each listed once: a key added to the type and not here fails to compile, and so
 * does a stray one. `keysOf<MqttPublishOptions>({ qos: true, retain: true, properties: true })`.
 */
export function keysOf<T>(keys: { readonly [K in keyof Required<T>]: true }): ReadonlySet<string> {
  return new Set(Object.keys(keys));
}

export interface KnownKeysOptions {
  /** Put before each key in the field name and the suggestion: `tls.`, `options.`. */
  readonly prefix?: string;
  /** Appended to the reason, e.g. `raw mqtt.js options go in clientOptions`. */
  readonly note?: string;
}

/**
 * Refuses a key of `value` that is not in `known`, suggesting the known key a typo most likely
 * meant: `unknown option (did you mean 'clientId'? raw mqtt.js options go in clientOptions)`.
 */
export function assertKnownKeys(value: object, known: ReadonlySet<string>, fail: ErrorFactory, options: KnownKeysOptions = {}): void {
  const prefix = options.prefix ?? '';
  for (const key of Object.keys(value)) {
    if (known.has(key)) continue;
    const closest = closestKey(key, known);
    const hints = [closest === undefined ? undefined : `did you mean '${prefix}${closest}'?`, options.note].filter((hint) => hint !== undefined);
    throw fail(`${prefix}${key}`, hints.length > 0 ? `unknown option (${hints.join(' ')})` : 'unknown option');
  }
}

/** The known key a typo most likely meant: same letters ignoring case, or at most two edits away. */
export function closestKey(key: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    if (candidate.toLowerCase() === key.toLowerCase()) return candidate;
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance; option names are short, so the plain table is enough. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

/** An object of options (not null, not a primitive): `expected an object`. */
export function assertObject(value: unknown, field: string, fail: ErrorFactory, expected = 'an object'): asserts value is object {
  if (value === null || typeof value !== 'object') throw fail(field, `expected ${expected}`);
}

/** QoS 0, 1 or 2: `must be 0, 1 or 2, got 3`. */
export function assertQos(value: unknown, field: string, fail: ErrorFactory): asserts value is QoS {
  const problem = qosProblem(value);
  if (problem) throw fail(field, problem);
}

/** `'auto'` or `'after-handler'`. */
export function assertAckMode(value: unknown, field: string, fail: ErrorFactory): asserts value is MqttAckMode {
  if (value !== 'auto' && value !== 'after-handler') {
    throw fail(field, `must be 'auto' or 'after-handler', got ${showValue(value)}`);
  }
}

/** A built-in payload format or a codec. */
export function assertPayloadFormat(value: unknown, field: string, fail: ErrorFactory): asserts value is PayloadFormat {
  if (!isPayloadFormat(value)) {
    throw fail(field, "must be 'auto', 'json', 'text', 'buffer' or a codec ({ name, decode(buffer, topic) })");
  }
}

/** A shared-subscription group: the rule of `$share/<group>/` filters (`shareGroupProblem`). */
export function assertShareGroup(value: unknown, field: string, fail: ErrorFactory): asserts value is string {
  const problem = shareGroupProblem(value);
  if (problem) throw fail(field, problem);
}

/** true or false. */
export function assertBoolean(value: unknown, field: string, fail: ErrorFactory): asserts value is boolean {
  if (typeof value !== 'boolean') throw fail(field, `expected true or false, got ${showValue(value)}`);
}

/** An integer from `min` to `max`, both included. */
export function assertInteger(value: unknown, field: string, fail: ErrorFactory, min: number, max: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw fail(field, `expected an integer from ${min} to ${max}, got ${showValue(value)}`);
  }
}

export function optionalString(value: unknown, field: string, fail: ErrorFactory): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw fail(field, `expected a string, got ${typeof value}`);
  return value;
}

/** A string or Buffer; never shown in the error, as it may be a secret. */
export function optionalSecret(value: unknown, field: string, fail: ErrorFactory): string | Buffer | undefined {
  if (value === undefined || typeof value === 'string' || Buffer.isBuffer(value)) return value;
  throw fail(field, `expected a string or Buffer, got ${typeof value}`);
}

export function optionalBoolean(value: unknown, field: string, fail: ErrorFactory): boolean | undefined {
  if (value === undefined) return undefined;
  assertBoolean(value, field, fail);
  return value;
}

export function optionalInteger(value: unknown, field: string, fail: ErrorFactory, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  assertInteger(value, field, fail, min, max);
  return value;
}
