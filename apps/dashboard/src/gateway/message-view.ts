import type { IPublishPacket } from 'mqtt';
import type { MessageView } from '../protocol.js';

/** Payloads up to this size are tried as JSON; a larger one is shown as the text (or hex) of its first bytes. */
const JSON_PARSE_LIMIT = 64 * 1024;
/** The chart gets at most this many numeric fields of one JSON object. */
const MAX_NUMBERS = 32;
const utf8 = new TextDecoder('utf-8', { fatal: true });
/** A JSON text starts with one of these (after white space). */
const JSON_START = /^[\s]*[[{"\-0-9tfn]/;

/**
 * A received message as the page shows it: JSON pretty-printed, UTF-8 text, or hex for anything else, cut at
 * `previewBytes` bytes (UTF-8; never inside a character). Only the first `previewBytes` bytes of a payload too large
 * to parse are decoded, so the cost is bounded whatever a publisher sends.
 */
export function messageView(topic: string, packet: IPublishPacket, previewBytes: number, at: number): MessageView {
  const bytes = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
  const base = { topic, size: bytes.length, qos: packet.qos, retain: packet.retain, at };
  if (bytes.length <= JSON_PARSE_LIMIT) {
    const text = textOf(bytes);
    if (text === undefined) return { ...base, ...hexPreview(bytes, previewBytes), encoding: 'hex' };
    const json = parseJson(text);
    if (json !== undefined) {
      const numbers = numbersOf(json.value);
      return { ...base, ...cut(json.pretty, previewBytes), encoding: 'json', ...(numbers && { numbers }) };
    }
    return { ...base, ...cut(text, previewBytes), encoding: 'text' };
  }
  const head = textOf(bytes.subarray(0, characterBoundary(bytes, previewBytes)));
  if (head === undefined) return { ...base, ...hexPreview(bytes, previewBytes), encoding: 'hex' };
  return { ...base, payload: head, truncated: true, encoding: 'text' };
}

/** The bytes as text, or undefined when they are not UTF-8 or hold control characters. */
function textOf(bytes: Uint8Array): string | undefined {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return undefined;
  }
  return hasControlCharacters(text) ? undefined : text;
}

/** C0 controls other than tab, line feed, vertical tab, form feed and carriage return, and DEL: not text. */
function hasControlCharacters(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 ? code < 0x09 || code > 0x0d : code === 0x7f) return true;
  }
  return false;
}

function parseJson(text: string): { value: unknown; pretty: string } | undefined {
  if (!JSON_START.test(text)) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return { value, pretty: JSON.stringify(value, null, 2) };
  } catch {
    // Not JSON, or nested too deep to print.
    return undefined;
  }
}

/** What the chart plots: the payload when it is a number, or a JSON object's top-level numeric fields. */
function numbersOf(value: unknown): Record<string, number> | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? { value } : undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const numbers: Record<string, number> = {};
  let count = 0;
  for (const [key, field] of Object.entries(value)) {
    if (typeof field !== 'number' || !Number.isFinite(field)) continue;
    Object.defineProperty(numbers, key, { value: field, enumerable: true, writable: true, configurable: true });
    if (++count === MAX_NUMBERS) break;
  }
  return count > 0 ? numbers : undefined;
}

/** `text` cut at `maxBytes` UTF-8 bytes, on a character boundary. */
function cut(text: string, maxBytes: number): { payload: string; truncated: boolean } {
  // A UTF-16 unit takes at most 3 UTF-8 bytes: short strings need no encoding to know they fit.
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text) <= maxBytes) return { payload: text, truncated: false };
  const bytes = Buffer.from(text);
  return { payload: bytes.toString('utf8', 0, characterBoundary(bytes, maxBytes)), truncated: true };
}

/** The largest end <= `maxBytes` that does not split a UTF-8 sequence. */
function characterBoundary(bytes: Uint8Array, maxBytes: number): number {
  if (bytes.length <= maxBytes) return bytes.length;
  let end = maxBytes;
  // A continuation byte (10xxxxxx) at `end` belongs to a character that starts before it.
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return end;
}

/** Hex pairs separated by spaces, as many whole bytes as fit in `maxChars`. */
function hexPreview(bytes: Uint8Array, maxChars: number): { payload: string; truncated: boolean } {
  const shown = Math.min(bytes.length, Math.floor((maxChars + 1) / 3));
  const pairs = Buffer.from(bytes.buffer, bytes.byteOffset, shown).toString('hex').match(/../g) ?? [];
  return { payload: pairs.join(' '), truncated: shown < bytes.length };
}
