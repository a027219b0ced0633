import { describe, expect, it } from '@jest/globals';
import { argumentError, configError, handlerError, type ErrorFactory } from '../errors/error-factory.js';
import { MqttArgumentError } from '../errors/mqtt-argument.error.js';
import { MqttConfigError } from '../errors/mqtt-config.error.js';
import { MqttHandlerError } from '../errors/mqtt-handler.error.js';
import {
  assertAckMode,
  assertKnownKeys,
  assertPayloadFormat,
  assertQos,
  assertShareGroup,
  closestKey,
  keysOf,
  optionalBoolean,
  optionalInteger,
} from './assert.js';
import { showValue } from '../errors/describe-error.js';
import { refusal } from '../../../../test/support/refusal.js';

describe('one rule, the caller’s error type', () => {
  const factories: Array<[name: string, fail: ErrorFactory, type: new (...args: never[]) => Error, message: string]> = [
    ['configError', configError, MqttConfigError, "Invalid MQTT option 'will.qos': must be 0, 1 or 2, got 3"],
    ['argumentError', argumentError, MqttArgumentError, "Invalid argument 'will.qos': must be 0, 1 or 2, got 3"],
    ['handlerError', handlerError('Rooms#handle'), MqttHandlerError, 'Rooms#handle: will.qos: must be 0, 1 or 2, got 3'],
  ];

  it.each(factories)('assertQos raises through %s', (_name, fail, type, message) => {
    const error = refusal(() => assertQos(3, 'will.qos', fail));
    expect(error).toBeInstanceOf(type);
    expect(error?.message).toBe(message);
  });

  it('accepts what the rules accept', () => {
    for (const qos of [0, 1, 2]) expect(() => assertQos(qos, 'qos', configError)).not.toThrow();
    for (const ack of ['auto', 'after-handler']) expect(() => assertAckMode(ack, 'ack', configError)).not.toThrow();
    for (const format of ['auto', 'json', 'text', 'buffer', { name: 'cbor', decode: (b: Buffer) => b }]) {
      expect(() => assertPayloadFormat(format, 'payload', configError)).not.toThrow();
    }
    for (const group of ['g', 'group-1', 'ü']) expect(() => assertShareGroup(group, 'share', configError)).not.toThrow();
  });

  it.each([
    ['qos "1"', () => assertQos('1', 'qos', argumentError), /must be 0, 1 or 2, got "1"/],
    ['qos 1n, which JSON cannot show', () => assertQos(1n, 'qos', argumentError), /must be 0, 1 or 2, got 1/],
    ['ack', () => assertAckMode('later', 'ack', configError), /must be 'auto' or 'after-handler', got "later"/],
    ['payload', () => assertPayloadFormat('xml', 'payload', configError), /'auto', 'json', 'text', 'buffer' or a codec/],
    ['share true', () => assertShareGroup(true, 'share', configError), /group must be a string, got boolean/],
    ['share empty', () => assertShareGroup('', 'share', configError), /group must not be empty/],
    ['share a/b', () => assertShareGroup('a/b', 'share', configError), /must not contain '\/', '\+' or '#'/],
    ['share with a control character', () => assertShareGroup('g\n', 'share', configError), /control character U\+000A at index 1/],
    ['an integer out of range', () => optionalInteger(70_000, 'port', configError, 1, 65_535), /expected an integer from 1 to 65535, got 70000/],
    ['a boolean as a string', () => optionalBoolean('false', 'reply', configError), /expected true or false, got "false"/],
  ])('refuses %s', (_what, check, reason) => {
    expect(refusal(check)?.message).toMatch(reason);
  });
});

describe('assertKnownKeys', () => {
  const known = keysOf<{ qos?: number; retain?: boolean; properties?: object }>({ qos: true, retain: true, properties: true });

  it('names the unknown key with its prefix and suggests the closest known one', () => {
    const error = refusal(() => assertKnownKeys({ qso: 1 }, known, argumentError, { prefix: 'options.' }));
    expect(error).toBeInstanceOf(MqttArgumentError);
    expect((error as MqttArgumentError).argument).toBe('options.qso');
    expect(error?.message).toBe("Invalid argument 'options.qso': unknown option (did you mean 'options.qos'?)");
  });

  it('adds the note, and says only "unknown option" when nothing is close and there is no note', () => {
    expect(refusal(() => assertKnownKeys({ frobnicate: 1 }, known, configError, { note: 'see the docs' }))?.message).toBe(
      "Invalid MQTT option 'frobnicate': unknown option (see the docs)",
    );
    expect(refusal(() => assertKnownKeys({ frobnicate: 1 }, known, argumentError))?.message).toBe("Invalid argument 'frobnicate': unknown option");
  });

  it('accepts known keys', () => {
    expect(() => assertKnownKeys({ qos: 1, retain: true }, known, argumentError)).not.toThrow();
  });

  it('suggests by case first, then by at most two edits', () => {
    expect(closestKey('RETAIN', known)).toBe('retain');
    expect(closestKey('propertes', known)).toBe('properties');
    expect(closestKey('unrelated', known)).toBeUndefined();
  });
});

describe('showValue', () => {
  it('shows values as JSON where they have one, and never throws', () => {
    expect(showValue('1')).toBe('"1"');
    expect(showValue(undefined)).toBe('undefined');
    expect(showValue(10n)).toBe('10');
    expect(showValue(Object.create(null))).toBe('{}');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(showValue(cyclic)).toBe('[object Object]');
  });
});
