import { describe, expect, it } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import { SubscriptionRegistry } from './subscription-registry.js';

/** An offline client: subscribe() only records what it is asked to hold (nothing reaches a wire). */
function offlineRegistry(): SubscriptionRegistry {
  const client = { connected: false } as unknown as MqttClient;
  return new SubscriptionRegistry(client, { subscribed: () => undefined }, true);
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
