import { describe, expect, it } from '@jest/globals';
import mqttPacket from 'mqtt-packet';
import { MqttArgumentError } from '../errors/mqtt-argument.error.js';
import { MqttConfigError } from '../errors/mqtt-config.error.js';
import { assertPublishProperties, assertWillProperties } from './publish-properties.js';
import { refusal } from '../../../../test/support/refusal.js';

const FIELD = 'options.properties';

/** What mqtt.js would write: mqtt-packet's encoding of a PUBLISH with these properties, parsed back. */
function roundTrip(properties: object): unknown {
  const bytes = mqttPacket.generate(
    { cmd: 'publish', topic: 't', payload: Buffer.alloc(0), qos: 1, messageId: 1, dup: false, retain: false, properties } as never,
    { protocolVersion: 5 },
  );
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  let parsed: unknown;
  let failure: Error | undefined;
  parser.on('packet', (packet) => (parsed = (packet as { properties?: unknown }).properties));
  parser.on('error', (error) => (failure = error));
  parser.parse(bytes);
  if (failure) throw failure;
  return parsed;
}

describe('assertPublishProperties', () => {
  const maximal = {
    payloadFormatIndicator: true,
    messageExpiryInterval: 0xffffffff,
    topicAlias: 65_535,
    responseTopic: 'replies/app-1',
    correlationData: Buffer.from([0, 1, 2]),
    userProperties: { a: 'b', list: ['x', 'y'], empty: [], 'ünï': 'cødé', '': '' },
    contentType: 'application/json; charset=utf-8',
  };

  it('accepts every MQTT 5 PUBLISH property a client may send, at the edges of its range', () => {
    expect(() => assertPublishProperties(maximal, FIELD)).not.toThrow();
    expect(() => assertPublishProperties({ messageExpiryInterval: 0, topicAlias: 1, payloadFormatIndicator: false }, FIELD)).not.toThrow();
    expect(() => assertPublishProperties({ correlationData: new Uint8Array([1, 2]) }, FIELD)).not.toThrow();
    expect(() => assertPublishProperties({ userProperties: Object.assign(Object.create(null) as object, { k: 'v' }) }, FIELD)).not.toThrow();
    expect(() => assertPublishProperties({}, FIELD)).not.toThrow();
    // undefined values are left out by mqtt-packet, as if absent
    expect(() => assertPublishProperties({ contentType: undefined }, FIELD)).not.toThrow();
  });

  const bad: Array<[properties: unknown, argument: string, reason: RegExp]> = [
    [null, FIELD, /expected an object/],
    ['json', FIELD, /expected an object/],
    [[1], FIELD, /expected an object/],
    [{ contentType: 5 }, `${FIELD}.contentType`, /expected a UTF-8 string, got number/],
    [{ contentType: null }, `${FIELD}.contentType`, /expected a UTF-8 string, got null/],
    [{ contentType: ['a'] }, `${FIELD}.contentType`, /expected a UTF-8 string/],
    [{ messageExpiryInterval: -5 }, `${FIELD}.messageExpiryInterval`, /integer from 0 to 4294967295, got -5/],
    [{ messageExpiryInterval: 2 ** 32 }, `${FIELD}.messageExpiryInterval`, /integer from 0 to 4294967295/],
    [{ messageExpiryInterval: 1.5 }, `${FIELD}.messageExpiryInterval`, /integer/],
    [{ messageExpiryInterval: '60' }, `${FIELD}.messageExpiryInterval`, /integer/],
    [{ messageExpiryInterval: Number.NaN }, `${FIELD}.messageExpiryInterval`, /integer/],
    [{ topicAlias: 0 }, `${FIELD}.topicAlias`, /integer from 1 to 65535/],
    [{ topicAlias: 65_536 }, `${FIELD}.topicAlias`, /integer from 1 to 65535/],
    [{ payloadFormatIndicator: 1 }, `${FIELD}.payloadFormatIndicator`, /true or false/],
    [{ responseTopic: 'replies/+' }, `${FIELD}.responseTopic`, /wildcards/],
    [{ responseTopic: '' }, `${FIELD}.responseTopic`, /must not be empty/],
    [{ responseTopic: 7 }, `${FIELD}.responseTopic`, /must be a string/],
    [{ correlationData: 'abc' }, `${FIELD}.correlationData`, /Buffer or Uint8Array/],
    [{ correlationData: [1, 2] }, `${FIELD}.correlationData`, /Buffer or Uint8Array/],
    [{ correlationData: Buffer.alloc(65_536) }, `${FIELD}.correlationData`, /at most 65535 bytes/],
    [{ subscriptionIdentifier: 1 }, `${FIELD}.subscriptionIdentifier`, /only the broker sets it/],
    [{ willDelayInterval: 5 }, `${FIELD}.willDelayInterval`, /not a PUBLISH property/],
    [{ contenttype: 'text/plain' }, `${FIELD}.contenttype`, /not a PUBLISH property/],
    [{ userProperties: 'a=b' }, `${FIELD}.userProperties`, /expected an object/],
    [{ userProperties: [['a', 'b']] }, `${FIELD}.userProperties`, /expected an object/],
    [{ userProperties: new Map([['a', 'b']]) }, `${FIELD}.userProperties`, /expected an object/],
    [{ userProperties: { n: 5 } }, `${FIELD}.userProperties.n`, /expected a UTF-8 string or an array of them, got number/],
    [{ userProperties: { n: null } }, `${FIELD}.userProperties.n`, /got null/],
    [{ userProperties: { n: ['a', 5] } }, `${FIELD}.userProperties.n[1]`, /expected a UTF-8 string, got number/],
    [{ userProperties: { 'a\u0000b': 'v' } }, `${FIELD}.userProperties`, /U\+0000/],
    [{ userProperties: { k: 'v\u0000' } }, `${FIELD}.userProperties.k`, /U\+0000/],
    [{ contentType: 'text/\u0000' }, `${FIELD}.contentType`, /U\+0000/],
    [{ contentType: 'x'.repeat(65_536) }, `${FIELD}.contentType`, /at most 65535 bytes/],
    [{ contentType: 'é'.repeat(32_768) }, `${FIELD}.contentType`, /at most 65535 bytes/],
    [{ contentType: 'bad \ud800 surrogate' }, `${FIELD}.contentType`, /lone surrogate/],
  ];

  it.each(bad)('refuses %p naming %s', (properties, argument, reason) => {
    const error = refusal(() => assertPublishProperties(properties, FIELD));
    expect(error).toBeInstanceOf(MqttArgumentError);
    expect((error as MqttArgumentError).argument).toBe(argument);
    expect(error?.message).toMatch(reason);
  });

  it('refuses enumerable keys inherited through the prototype, which mqtt-packet counts but does not write', () => {
    const inherited = Object.create({ contentType: 'text/plain' }) as object;
    expect(refusal(() => assertPublishProperties(inherited, FIELD))).toMatchObject({
      argument: `${FIELD}.contentType`,
      message: expect.stringMatching(/inherited/),
    });
    const userProperties = Object.create({ injected: 'x' }) as Record<string, string>;
    userProperties.own = 'y';
    expect(() => assertPublishProperties({ userProperties }, FIELD)).not.toThrow();
    const hidden = { own: 'y' };
    Object.defineProperty(hidden, 'hidden', { value: 'z', enumerable: false });
    expect(refusal(() => assertPublishProperties({ userProperties: hidden }, FIELD))).toMatchObject({ argument: `${FIELD}.userProperties.hidden` });
  });

  it('refuses a polluted Object.prototype key rather than send a malformed packet', () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.polluted = 1;
    try {
      expect(refusal(() => assertPublishProperties({ contentType: 'a' }, FIELD))).toMatchObject({ argument: `${FIELD}.polluted` });
    } finally {
      delete proto.polluted;
    }
  });

  it('everything it accepts, mqtt-packet encodes and parses back unchanged', () => {
    expect(roundTrip(maximal)).toEqual({ ...maximal, userProperties: { a: 'b', list: ['x', 'y'], 'ünï': 'cødé', '': '' } });
    // Random property bags: acceptance must imply that mqtt.js can encode them.
    let seed = 7;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)] as T;
    const values: Record<string, readonly unknown[]> = {
      payloadFormatIndicator: [true, false, 0, 'yes'],
      messageExpiryInterval: [0, 1, 0xffffffff, 2 ** 32, -1, 0.5, '1'],
      topicAlias: [0, 1, 65_535, 65_536, -1],
      responseTopic: ['r', 'a/b', '', 'a/#', 5],
      correlationData: [Buffer.alloc(0), Buffer.from('x'), 'x', 5],
      userProperties: [{}, { a: 'b' }, { a: ['b', 'c'] }, { a: 1 }, 'x', null],
      contentType: ['', 'text/plain', 5, null],
      subscriptionIdentifier: [1],
    };
    let accepted = 0;
    for (let i = 0; i < 2_000; i++) {
      const properties: Record<string, unknown> = {};
      for (const [key, candidates] of Object.entries(values)) if (random() < 0.4) properties[key] = pick(candidates);
      if (refusal(() => assertPublishProperties(properties, FIELD)) !== undefined) continue;
      accepted++;
      expect(() => roundTrip(properties)).not.toThrow();
    }
    expect(accepted).toBeGreaterThan(50);
  });
});

describe('assertWillProperties', () => {
  it('accepts the will properties, willDelayInterval included', () => {
    expect(() =>
      assertWillProperties(
        {
          willDelayInterval: 0xffffffff,
          payloadFormatIndicator: true,
          messageExpiryInterval: 60,
          contentType: 'text/plain',
          responseTopic: 'r',
          correlationData: Buffer.from('c'),
          userProperties: { a: 'b' },
        },
        'will.properties',
      ),
    ).not.toThrow();
  });

  it.each([
    [{ willDelayInterval: -1 }, 'will.properties.willDelayInterval'],
    [{ topicAlias: 1 }, 'will.properties.topicAlias'],
    [{ subscriptionIdentifier: 1 }, 'will.properties.subscriptionIdentifier'],
    [{ contentType: 5 }, 'will.properties.contentType'],
  ])('refuses %p with MqttConfigError naming %s', (properties, field) => {
    const error = refusal(() => assertWillProperties(properties, 'will.properties'));
    expect(error).toBeInstanceOf(MqttConfigError);
    expect((error as MqttConfigError).field).toBe(field);
  });
});
