import { isUtf8 } from 'node:buffer';
import { MqttArgumentError } from './errors/mqtt-argument.error.js';
import type { MqttPayload, PayloadFormat } from './interfaces/mqtt-message.interface.js';

/** Keys that must never reach an object built from untrusted JSON (prototype pollution). */
const FORBIDDEN_KEYS = ['__proto__', 'constructor', 'prototype'];

/** Thrown by `decodePayload`; the dispatcher wraps it with the topic and the handler. */
export class PayloadDecodeFailure extends Error {}

/**
 * Decodes an incoming payload in one of the built-in formats.
 * - `buffer`: the Buffer as received.
 * - `text`: UTF-8 text; invalid UTF-8 is refused rather than patched with U+FFFD.
 * - `json`: JSON; keys `__proto__`, `constructor` and `prototype` are dropped.
 * - `auto`: JSON when the payload parses as JSON, else text when it is valid UTF-8, else the Buffer.
 *   A zero-length payload decodes to `null` in `json` and `auto` (a cleared retained message).
 */
export function decodePayload(payload: Buffer, format: PayloadFormat, maxBytes: number, topic: string): unknown {
  if (payload.length > maxBytes) {
    throw new PayloadDecodeFailure(`${payload.length} bytes exceed maxPayloadBytes (${maxBytes})`);
  }
  if (typeof format === 'object') {
    try {
      return format.decode(payload, topic);
    } catch (error) {
      throw new PayloadDecodeFailure(error instanceof Error ? error.message : String(error));
    }
  }
  switch (format) {
    case 'buffer':
      return payload;
    case 'text':
      if (!isUtf8(payload)) throw new PayloadDecodeFailure('not valid UTF-8');
      return payload.toString('utf8');
    case 'json': {
      if (payload.length === 0) return null;
      const text = payload.toString('utf8');
      try {
        return parseJson(text);
      } catch (error) {
        throw new PayloadDecodeFailure(`not valid JSON (${(error as Error).message})`);
      }
    }
    case 'auto': {
      if (payload.length === 0) return null;
      // Try JSON only when the first byte can start a JSON value: exceptions are slow.
      if (looksLikeJson(payload[0])) {
        const text = payload.toString('utf8');
        try {
          return parseJson(text);
        } catch {
          return isUtf8(payload) ? text : payload;
        }
      }
      return isUtf8(payload) ? payload.toString('utf8') : payload;
    }
  }
}

const BUILT_IN_FORMATS: ReadonlySet<unknown> = new Set(['auto', 'json', 'text', 'buffer']);

/** A built-in format name or an object with `name` and `decode`. */
export function isPayloadFormat(value: unknown): value is PayloadFormat {
  if (BUILT_IN_FORMATS.has(value)) return true;
  const codec = value as { name?: unknown; decode?: unknown } | null;
  return typeof codec === 'object' && codec !== null && typeof codec.decode === 'function' && typeof codec.name === 'string';
}

/** A format's name for logs. */
export function formatName(format: PayloadFormat): string {
  return typeof format === 'string' ? format : format.name;
}

/** JSON.parse that keeps untrusted keys from reaching prototypes; the reviver runs only when needed. */
export function parseJson(text: string): unknown {
  if (!text.includes('__proto__') && !text.includes('constructor') && !text.includes('prototype')) {
    return JSON.parse(text);
  }
  return JSON.parse(text, function reviver(this: unknown, key: string, value: unknown) {
    return FORBIDDEN_KEYS.includes(key) ? undefined : value;
  });
}

function looksLikeJson(firstByte: number): boolean {
  // { [ " - 0-9 t f n, or JSON's leading whitespace
  return (
    firstByte === 0x7b ||
    firstByte === 0x5b ||
    firstByte === 0x22 ||
    firstByte === 0x2d ||
    (firstByte >= 0x30 && firstByte <= 0x39) ||
    firstByte === 0x74 ||
    firstByte === 0x66 ||
    firstByte === 0x6e ||
    firstByte === 0x20 ||
    firstByte === 0x0a ||
    firstByte === 0x0d ||
    firstByte === 0x09
  );
}

/**
 * Encodes an outgoing payload as Flask-MQTT does, plus JSON for objects: strings and bytes as
 * they are, numbers/booleans/bigints as their string form, `null` as zero length, other objects
 * as JSON. Refuses `undefined`, functions and symbols, and anything over `maxBytes`.
 */
export function encodePayload(payload: MqttPayload, maxBytes: number): Buffer | string {
  let encoded: Buffer | string;
  switch (typeof payload) {
    case 'string':
      encoded = payload;
      break;
    case 'number':
    case 'boolean':
    case 'bigint':
      encoded = String(payload);
      break;
    case 'object':
      if (payload === null) {
        encoded = '';
      } else if (Buffer.isBuffer(payload)) {
        encoded = payload;
      } else if (payload instanceof Uint8Array) {
        encoded = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
      } else {
        try {
          encoded = JSON.stringify(payload);
        } catch (error) {
          throw new MqttArgumentError('payload', `cannot be serialised to JSON (${(error as Error).message})`);
        }
      }
      break;
    default:
      throw new MqttArgumentError(
        'payload',
        `${typeof payload} cannot be published; use a string, Buffer, Uint8Array, number, boolean, object, or null for an empty message`,
      );
  }
  const size = typeof encoded === 'string' ? (encoded.length * 3 > maxBytes ? Buffer.byteLength(encoded) : 0) : encoded.length;
  if (size > maxBytes) {
    throw new MqttArgumentError('payload', `${size} bytes exceed maxPayloadBytes (${maxBytes})`);
  }
  return encoded;
}
