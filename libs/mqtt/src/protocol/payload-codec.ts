import { isUtf8 } from 'node:buffer';
import { MqttArgumentError } from '../errors/mqtt-argument.error.js';
import type { MqttPayload, PayloadFormat } from '../interfaces/mqtt-message.interface.js';

/** Keys that must never reach an object built from untrusted JSON (prototype pollution). */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** Thrown by `decodePayload`; the dispatcher wraps it with the topic and the handler. */
export class PayloadDecodeFailure extends Error {}

/**
 * Decodes an incoming payload in one of the built-in formats.
 * - `buffer`: the Buffer as received.
 * - `text`: UTF-8 text; invalid UTF-8 is refused rather than patched with U+FFFD.
 * - `json`: JSON; keys `__proto__`, `constructor` and `prototype` are dropped (escaped ones too),
 *   and invalid UTF-8 is refused.
 * - `auto`: JSON when the payload is valid UTF-8 and parses as JSON, else text when it is valid
 *   UTF-8, else the Buffer.
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
      const text = utf8(payload);
      if (text === undefined) throw new PayloadDecodeFailure('not valid UTF-8');
      try {
        return parseJson(text);
      } catch (error) {
        throw new PayloadDecodeFailure(`not valid JSON (${(error as Error).message})`);
      }
    }
    case 'auto': {
      if (payload.length === 0) return null;
      // What is not UTF-8 is neither JSON nor text.
      const text = utf8(payload);
      if (text === undefined) return payload;
      // Try JSON only when the first byte can start a JSON value: exceptions are slow.
      if (looksLikeJson(payload[0])) {
        try {
          return parseJson(text);
        } catch {
          return text;
        }
      }
      return text;
    }
  }
}

/**
 * The payload as text, or undefined when it is not valid UTF-8 (toString would patch each invalid
 * sequence with U+FFFD, and JSON would then parse what the sender never wrote). Decoding never
 * introduces U+FFFD into valid input, so only text that holds one needs the full check.
 */
function utf8(payload: Buffer): string | undefined {
  const text = payload.toString('utf8');
  return text.includes('\ufffd') && !isUtf8(payload) ? undefined : text;
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

/**
 * JSON.parse that keeps untrusted keys from reaching prototypes: `__proto__`, `constructor` and
 * `prototype` keys are dropped at any depth, however they are spelled. JSON.parse itself only
 * creates own properties; the danger is code that later copies keys (a naive deep merge). The walk
 * that drops them runs only when such a key can occur: when the text holds one of the names
 * literally, or a `\u` escape. No other JSON escape (`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`,
 * `\t`) yields a letter or `_`, so a key spelled without `\u` appears literally in the text.
 */
export function parseJson(text: string): unknown {
  const value: unknown = JSON.parse(text);
  if (text.includes('\\u') || text.includes('__proto__') || text.includes('constructor') || text.includes('prototype')) {
    dropForbiddenKeys(value);
  }
  return value;
}

/**
 * Deletes forbidden own keys throughout a parsed JSON value. Iterative, so nesting as deep as
 * JSON.parse accepts cannot overflow the stack; about a quarter of a parse, where a reviver
 * costs three times one.
 */
function dropForbiddenKeys(root: unknown): void {
  if (typeof root !== 'object' || root === null) return;
  const stack: object[] = [root];
  while (stack.length > 0) {
    const node = stack.pop() as Record<string, unknown> | unknown[];
    if (Array.isArray(node)) {
      for (const item of node) if (typeof item === 'object' && item !== null) stack.push(item);
      continue;
    }
    for (const key of Object.keys(node)) {
      if (FORBIDDEN_KEYS.has(key)) {
        delete node[key];
      } else {
        const item = node[key];
        if (typeof item === 'object' && item !== null) stack.push(item);
      }
    }
  }
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
