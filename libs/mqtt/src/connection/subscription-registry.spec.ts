import { describe, expect, it } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import { FakeMqttClient } from '../../../../test/support/fake-mqtt-client.js';
import { MqttSubscribeError } from '../errors/mqtt-subscribe.error.js';
import { BrokerFeatures } from './broker-features.js';
import { SubscriptionRegistry } from './subscription-registry.js';

/** An offline client: subscribe() only records what it is asked to hold (nothing reaches a wire). */
function offlineRegistry(): SubscriptionRegistry {
  const client = { connected: false } as unknown as MqttClient;
  return new SubscriptionRegistry(client, { subscribed: () => undefined, downgraded: () => undefined }, true);
}

/** Offline, a subscription stays pending; an unsubscribe rejects it, which these tests expect. */
function hold(pending: Promise<unknown>): void {
  pending.catch(() => undefined);
}

describe('SubscriptionRegistry identifiers (MQTT 5)', () => {
  it('hands out identifiers up to 268,435,455, then wraps to 1, never reusing one in use', () => {
    const registry = offlineRegistry();
    Reflect.set(registry, 'nextIdentifier', 268_435_455);
    hold(registry.subscribe([{ filter: 'a/#', qos: 0 }]));
    hold(registry.subscribe([{ filter: 'b/#', qos: 0 }]));
    Reflect.set(registry, 'nextIdentifier', 268_435_455);
    hold(registry.subscribe([{ filter: 'c/#', qos: 0 }]));
    const ids = ['a/#', 'b/#', 'c/#'].map((filter) => registry.idsMatching(`${filter[0]}/x`)[0]);
    expect(ids).toEqual([268_435_455, 1, 2]);
  });

  it('gives $share filters identifiers of their own, indexed by their match filter; unsubscribe frees them', async () => {
    const registry = offlineRegistry();
    hold(
      registry.subscribe([
        { filter: '$share/g/t/+', qos: 1 },
        { filter: 't/+', qos: 0 },
      ]),
    );
    const both = registry.byMatchFilter('t/+') ?? [];
    expect(both.map(({ filter, shared }) => ({ filter, shared }))).toEqual([
      { filter: '$share/g/t/+', shared: true },
      { filter: 't/+', shared: false },
    ]);
    await registry.unsubscribe(['$share/g/t/+']);
    expect(registry.byId(both[0].id)).toBeUndefined();
    expect(registry.byMatchFilter('t/+')?.map(({ filter }) => filter)).toEqual(['t/+']);
    expect(registry.idsMatching('t/1')).toEqual([both[1].id]);
  });

  it('keeps a held filter’s MQTT 5 options and higher QoS when it is subscribed again', () => {
    const registry = offlineRegistry();
    hold(registry.subscribe([{ filter: 'br/#', qos: 1, nl: true }]));
    hold(registry.subscribe([{ filter: 'br/#', qos: 0 }]));
    const wanted = (Reflect.get(registry, 'wanted') as Map<string, { qos: number; nl?: boolean }>).get('br/#');
    expect(wanted).toMatchObject({ qos: 1, nl: true });
  });
});

describe('SubscriptionRegistry and what the broker supports', () => {
  function connectedRegistry(mqtt5: boolean) {
    const fake = new FakeMqttClient();
    fake.connected = true;
    const downgrades: Array<[string, number, number]> = [];
    const registry = new SubscriptionRegistry(fake.client, { subscribed: () => undefined, downgraded: (...args) => downgrades.push(args) }, mqtt5);
    return { fake, registry, downgrades };
  }

  it('says once per filter that the broker granted less than asked, and grants what it granted', async () => {
    const { fake, registry, downgrades } = connectedRegistry(false);
    const granted = registry.subscribe([{ filter: 'a/+', qos: 2 }]);
    fake.subscribed[0].suback(1);
    await expect(granted).resolves.toEqual([{ topic: 'a/+', qos: 1 }]);
    registry.onConnect(false);
    fake.subscribed[1].suback(1);
    expect(downgrades).toEqual([['a/+', 2, 1]]);
  });

  it('refuses $share filters without sending them when the CONNACK says there are no shared subscriptions; others go', async () => {
    const { fake, registry } = connectedRegistry(true);
    registry.onConnect(false, new BrokerFeatures({ sharedSubscriptionAvailable: false }));
    const shared = registry.subscribe([{ filter: '$share/g/t/+', qos: 1 }]);
    const plain = registry.subscribe([{ filter: 't/+', qos: 1 }]);
    await expect(shared).rejects.toThrow('the broker does not support shared subscriptions (its CONNACK says Shared Subscription Available: 0)');
    await expect(shared).rejects.toBeInstanceOf(MqttSubscribeError);
    expect(fake.subscribed.map((call) => call.filters)).toEqual([['t/+']]);
    expect(registry.holds('$share/g/t/+')).toBe(false);
    fake.subscribed[0].suback();
    await expect(plain).resolves.toEqual([{ topic: 't/+', qos: 1 }]);
  });

  it('sends no subscription identifier when the CONNACK says there are none; copies are then routed by topic', () => {
    const { fake, registry } = connectedRegistry(true);
    registry.onConnect(false, new BrokerFeatures({ subscriptionIdentifiersAvailable: false }));
    hold(registry.subscribe([{ filter: 'a/+', qos: 1 }]));
    expect(fake.subscribed[0].options).toEqual({});
  });

  it('refuses wildcard filters when the CONNACK says there are no wildcard subscriptions', async () => {
    const { fake, registry } = connectedRegistry(true);
    registry.onConnect(false, new BrokerFeatures({ wildcardSubscriptionAvailable: false }));
    await expect(registry.subscribe([{ filter: 'a/#', qos: 1 }])).rejects.toThrow('(its CONNACK says Wildcard Subscription Available: 0)');
    hold(registry.subscribe([{ filter: 'a/b', qos: 1 }]));
    expect(fake.subscribed.map((call) => call.filters)).toEqual([['a/b']]);
  });
});
