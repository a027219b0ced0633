import { describe, expect, it } from '@jest/globals';
import type { IConnackPacket } from 'mqtt';
import { BrokerFeatures } from './broker-features.js';

const connack = (properties?: IConnackPacket['properties']): IConnackPacket => ({ cmd: 'connack', sessionPresent: false, properties });

describe('BrokerFeatures', () => {
  it('counts everything as supported when the CONNACK says nothing (MQTT 3.1.1, or absent properties)', () => {
    const features = BrokerFeatures.from(connack());
    expect(features.publishRefusal(2, true)).toBeUndefined();
    expect(features.subscribeRefusal('$share/g/a/#')).toBeUndefined();
    expect(features.subscriptionIdentifiers).toBe(true);
  });

  it('refuses a publish above Maximum QoS, and a retained one without Retain Available, naming what the CONNACK said', () => {
    const features = BrokerFeatures.from(connack({ maximumQoS: 1, retainAvailable: false }));
    expect(features.publishRefusal(1, false)).toBeUndefined();
    expect(features.publishRefusal(2, false)).toBe('the broker accepts QoS 1 at most (its CONNACK says Maximum QoS: 1)');
    expect(features.publishRefusal(0, true)).toBe('the broker keeps no retained messages (its CONNACK says Retain Available: 0)');
    expect(BrokerFeatures.from(connack({ maximumQoS: 0 })).publishRefusal(1, false)).toMatch(/QoS 0 at most/);
  });

  it('refuses $share filters without Shared Subscription Available, and wildcard filters without Wildcard Subscription Available', () => {
    expect(BrokerFeatures.from(connack({ sharedSubscriptionAvailable: false })).subscribeRefusal('$share/g/a')).toMatch(/shared subscriptions/);
    expect(BrokerFeatures.from(connack({ sharedSubscriptionAvailable: false })).subscribeRefusal('a/+')).toBeUndefined();
    const noWildcards = BrokerFeatures.from(connack({ wildcardSubscriptionAvailable: false }));
    expect(noWildcards.subscribeRefusal('a/+/b')).toMatch(/wildcard subscriptions/);
    expect(noWildcards.subscribeRefusal('a/#')).toMatch(/wildcard subscriptions/);
    expect(noWildcards.subscribeRefusal('a/b')).toBeUndefined();
  });
});
