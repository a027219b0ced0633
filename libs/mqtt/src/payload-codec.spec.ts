import { describe, expect, it } from '@jest/globals';
import { MqttArgumentError } from './errors/mqtt-argument.error.js';
import { decodePayload, encodePayload, parseJson, PayloadDecodeFailure } from './payload-codec.js';

const MAX = 1024;

describe('decodePayload', () => {
  it('auto: JSON when it parses, text when valid UTF-8, else the Buffer', () => {
    expect(decodePayload(Buffer.from('{"t":21.5}'), 'auto', MAX, 't')).toEqual({ t: 21.5 });
    expect(decodePayload(Buffer.from('42'), 'auto', MAX, 't')).toBe(42);
    expect(decodePayload(Buffer.from('true'), 'auto', MAX, 't')).toBe(true);
    expect(decodePayload(Buffer.from('hello'), 'auto', MAX, 't')).toBe('hello');
    expect(decodePayload(Buffer.from('{not json'), 'auto', MAX, 't')).toBe('{not json');
    expect(decodePayload(Buffer.from(''), 'auto', MAX, 't')).toBeNull();
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x80]);
    expect(decodePayload(binary, 'auto', MAX, 't')).toBe(binary);
  });

  it('json: refuses what is not JSON', () => {
    expect(decodePayload(Buffer.from('[1,2]'), 'json', MAX, 't')).toEqual([1, 2]);
    expect(() => decodePayload(Buffer.from('hello'), 'json', MAX, 't')).toThrow(PayloadDecodeFailure);
  });

  it('text: refuses invalid UTF-8 instead of inserting U+FFFD', () => {
    expect(decodePayload(Buffer.from('grüße'), 'text', MAX, 't')).toBe('grüße');
    expect(() => decodePayload(Buffer.from([0xc3, 0x28]), 'text', MAX, 't')).toThrow(/not valid UTF-8/);
  });

  it('buffer: hands over the bytes', () => {
    const bytes = Buffer.from([1, 2, 3]);
    expect(decodePayload(bytes, 'buffer', MAX, 't')).toBe(bytes);
  });

  it('runs a custom codec, reporting its failures as decode failures', () => {
    const codec = { name: 'csv', decode: (bytes: Buffer, topic: string) => ({ topic, cells: bytes.toString().split(',') }) };
    expect(decodePayload(Buffer.from('a,b'), codec, MAX, 'x/y')).toEqual({ topic: 'x/y', cells: ['a', 'b'] });
    const strict = { name: 'strict', decode: () => { throw new Error('bad frame'); } };
    expect(() => decodePayload(Buffer.from('a'), strict, MAX, 't')).toThrow(new PayloadDecodeFailure('bad frame'));
    expect(() => decodePayload(Buffer.alloc(MAX + 1), codec, MAX, 't')).toThrow(/exceed maxPayloadBytes/);
  });

  it('checks the size before decoding', () => {
    expect(() => decodePayload(Buffer.alloc(MAX + 1, 0x20), 'auto', MAX, 't')).toThrow(/exceed maxPayloadBytes/);
  });

  it('keeps __proto__, constructor and prototype keys out of decoded objects', () => {
    const decoded = parseJson('{"__proto__":{"polluted":1},"a":{"constructor":{"prototype":{"x":1}}},"ok":true}') as Record<string, unknown>;
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(decoded, '__proto__')).toBe(false);
    expect(decoded).toEqual({ a: {}, ok: true });
  });
});

describe('encodePayload', () => {
  it('converts as Flask-MQTT does, objects as JSON, null as empty', () => {
    expect(encodePayload('text', MAX)).toBe('text');
    expect(encodePayload(21.5, MAX)).toBe('21.5');
    expect(encodePayload(false, MAX)).toBe('false');
    expect(encodePayload(10n, MAX)).toBe('10');
    expect(encodePayload(null, MAX)).toBe('');
    expect(encodePayload({ a: [1, 'b'] }, MAX)).toBe('{"a":[1,"b"]}');
    const bytes = Buffer.from([0, 1, 2]);
    expect(encodePayload(bytes, MAX)).toBe(bytes);
    const view = new Uint8Array([9, 8, 7, 6]).subarray(1, 3);
    expect(encodePayload(view, MAX)).toEqual(Buffer.from([8, 7]));
  });

  it.each([
    [undefined, /undefined cannot be published/],
    [() => 1, /function cannot be published/],
    [Symbol('s'), /symbol cannot be published/],
  ])('refuses %p', (payload, reason) => {
    expect(() => encodePayload(payload as never, MAX)).toThrow(MqttArgumentError);
    expect(() => encodePayload(payload as never, MAX)).toThrow(reason);
  });

  it('refuses circular objects and oversize payloads naming the argument', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(() => encodePayload(circular, MAX)).toThrow(/'payload': cannot be serialised to JSON/);
    expect(() => encodePayload('x'.repeat(MAX + 1), MAX)).toThrow(/'payload': 1025 bytes exceed maxPayloadBytes/);
    expect(() => encodePayload(Buffer.alloc(MAX + 1), MAX)).toThrow(/exceed maxPayloadBytes/);
  });
});
