import { isUtf8 } from 'node:buffer';
import { describe, expect, it } from '@jest/globals';
import { MqttArgumentError } from '../errors/mqtt-argument.error.js';
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
    const strict = {
      name: 'strict',
      decode: () => {
        throw new Error('bad frame');
      },
    };
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

  describe('keys spelled with \\u escapes', () => {
    /** What applications commonly do with a decoded payload: copy every key into their own object. */
    function naiveDeepMerge(target: Record<string, unknown>, source: Record<string, unknown>): void {
      for (const key of Object.keys(source)) {
        const value = source[key];
        if (typeof value === 'object' && value !== null) {
          if (typeof target[key] !== 'object' || target[key] === null) target[key] = {};
          naiveDeepMerge(target[key] as Record<string, unknown>, value as Record<string, unknown>);
        } else {
          target[key] = value;
        }
      }
    }

    it.each([
      ['__proto__ with one escaped character', '{"\\u005f_proto__":{"isAdmin":true}}'],
      ['__proto__ fully escaped, upper-case hex', '{"\\u005F\\u005F\\u0070roto\\u005F\\u005F":{"isAdmin":true}}'],
      ['__proto__ deep inside arrays and objects', '{"list":[{"x":[{"\\u005f_proto__":{"isAdmin":true}}]}]}'],
      ['constructor.prototype, escaped', '{"a":{"constr\\u0075ctor":{"prot\\u006ftype":{"isAdmin":true}}}}'],
    ])('drops %s, so a naive deep merge cannot pollute Object.prototype', (_name, json) => {
      try {
        for (const format of ['json', 'auto'] as const) {
          const decoded = decodePayload(Buffer.from(json), format, MAX, 't') as Record<string, unknown>;
          const text = JSON.stringify(decoded);
          expect(text).not.toMatch(/__proto__|constructor|prototype|isAdmin/);
          naiveDeepMerge({}, decoded);
          expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
          expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'isAdmin')).toBe(false);
        }
      } finally {
        delete (Object.prototype as Record<string, unknown>).isAdmin;
      }
    });

    it('drops them from nesting deeper than the call stack', () => {
      const depth = 200_000;
      const decoded = parseJson(`${'['.repeat(depth)}{"\\u005f_proto__":{"isAdmin":true},"k":1}${']'.repeat(depth)}`);
      let inner: unknown = decoded;
      for (let i = 0; i < depth; i++) inner = (inner as unknown[])[0];
      expect(Object.keys(inner as object)).toEqual(['k']);
    });

    it('still decodes other escapes and keeps ordinary escaped keys', () => {
      expect(parseJson('{"\\u0061":"line\\nbreak \\"q\\" \\\\u005f_proto__","b":[1]}')).toEqual({ a: 'line\nbreak "q" \\u005f_proto__', b: [1] });
    });
  });

  describe('invalid UTF-8', () => {
    const invalid = Buffer.from([0x22, 0xff, 0xfe, 0x22]); // "\xff\xfe": a JSON string of two invalid bytes

    it('json: refuses it, naming the reason, instead of decoding U+FFFD', () => {
      expect(() => decodePayload(invalid, 'json', MAX, 't')).toThrow(PayloadDecodeFailure);
      expect(() => decodePayload(invalid, 'json', MAX, 't')).toThrow(/not valid UTF-8/);
      expect(() => decodePayload(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]), 'json', MAX, 't')).toThrow(/not valid UTF-8/);
    });

    it('auto: hands over the Buffer, as for any payload that is not UTF-8', () => {
      expect(decodePayload(invalid, 'auto', MAX, 't')).toBe(invalid);
      const object = Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]); // an encoded surrogate
      expect(decodePayload(object, 'auto', MAX, 't')).toBe(object);
    });

    it('accepts a U+FFFD the sender encoded, and agrees with isUtf8 on random bytes', () => {
      expect(decodePayload(Buffer.from('"\ufffd"'), 'json', MAX, 't')).toBe('\ufffd');
      expect(decodePayload(Buffer.from('a\ufffd'), 'auto', MAX, 't')).toBe('a\ufffd');
      // Bytes around the UTF-8 boundaries: continuation, lead, overlong, surrogate and out-of-range leads.
      const pool = [0x22, 0x61, 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xbd, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x90];
      let seed = 7;
      const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
      for (let i = 0; i < 5_000; i++) {
        const bytes = Buffer.from(Array.from({ length: 1 + Math.floor(random() * 6) }, () => pool[Math.floor(random() * pool.length)]));
        const decoded = decodePayload(bytes, 'auto', MAX, 't');
        expect([bytes.toString('hex'), decoded === bytes]).toEqual([bytes.toString('hex'), !isUtf8(bytes)]);
      }
    });

    it('json and auto still decode valid multi-byte UTF-8', () => {
      expect(decodePayload(Buffer.from('{"städte":["Zürich","東京"]}'), 'json', MAX, 't')).toEqual({ städte: ['Zürich', '東京'] });
      expect(decodePayload(Buffer.from('"grüße"'), 'auto', MAX, 't')).toBe('grüße');
      expect(decodePayload(Buffer.from('grüße'), 'auto', MAX, 't')).toBe('grüße');
    });
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
