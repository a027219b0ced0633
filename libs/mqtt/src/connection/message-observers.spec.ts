import { describe, expect, it } from '@jest/globals';
import type { IPublishPacket } from 'mqtt';
import type { Subscription } from 'rxjs';
import { CaptureLogger } from '../../../../test/support/capture-logger.js';
import { FakeMqttClient } from '../../../../test/support/fake-mqtt-client.js';
import { MqttSubscribeError } from '../errors/mqtt-subscribe.error.js';
import type { MqttMessage } from '../interfaces/mqtt-message.interface.js';
import { MessageDispatcher } from '../dispatch/message-dispatcher.js';
import { MessageObservers } from './message-observers.js';
import { SubscriptionRegistry } from './subscription-registry.js';
import { parseTopicFilter } from '../protocol/topic-filter.js';

/** Observers on the real registry and dispatcher, over a connected fake mqtt.js client (MQTT 3.1.1: routed by topic). */
function setup() {
  const fake = new FakeMqttClient();
  fake.connected = true;
  const registry = new SubscriptionRegistry(fake.client, { subscribed: () => undefined, downgraded: () => undefined }, false);
  const dispatcher = new MessageDispatcher('c', 1_024, new CaptureLogger(), () => undefined, undefined);
  const observers = new MessageObservers(dispatcher, registry);

  /** Subscribes an observer to `filter`, collecting what it receives and how it ended. */
  const watch = (filter: string) => {
    const seen: unknown[] = [];
    const ended: { error?: unknown } = {};
    const subscription: Subscription = observers.observe(parseTopicFilter(filter)).subscribe({
      next: (message: MqttMessage) => seen.push(message.payload),
      error: (error: unknown) => (ended.error = error),
    });
    return { seen, ended, subscription };
  };
  const deliver = (topic: string, body: unknown): void => {
    const packet: IPublishPacket = { cmd: 'publish', topic, payload: Buffer.alloc(0), qos: 0, dup: false, retain: false };
    void dispatcher.dispatch(topic, Buffer.from(JSON.stringify(body)), packet);
  };
  const subscribedFilters = (): string[][] => fake.subscribed.map((call) => call.filters);
  const unsubscribedFilters = (): string[][] => fake.unsubscribed.map((call) => call.topics);
  return { fake, registry, dispatcher, watch, deliver, subscribedFilters, unsubscribedFilters };
}

async function flush(): Promise<void> {
  for (let turn = 0; turn < 5; turn++) await Promise.resolve();
}

describe('MessageObservers', () => {
  it('subscribes once for the first observer of a filter, and every observer receives the messages', () => {
    const { watch, deliver, subscribedFilters, fake } = setup();
    const first = watch('sensors/+');
    const second = watch('sensors/+');
    expect(subscribedFilters()).toEqual([['sensors/+']]);
    expect(fake.lastSubscribeTo('sensors/+').map['sensors/+']).toMatchObject({ qos: 0 });
    deliver('sensors/a', 1);
    deliver('other', 2);
    expect([first.seen, second.seen]).toEqual([[1], [1]]);
  });

  it('subscribes to the broker form of a filter with named wildcards', () => {
    const { watch, deliver, subscribedFilters } = setup();
    const observer = watch('home/+room/#rest');
    expect(subscribedFilters()).toEqual([['home/+/#']]);
    deliver('home/kitchen/temp', 'warm');
    expect(observer.seen).toEqual(['warm']);
  });

  it('stops delivering to an observer that left, and unsubscribes only after the last one left', () => {
    const { watch, deliver, unsubscribedFilters, registry } = setup();
    const first = watch('t/#');
    const second = watch('t/#');
    first.subscription.unsubscribe();
    deliver('t/1', 'after first left');
    expect(first.seen).toEqual([]);
    expect(second.seen).toEqual(['after first left']);
    expect(unsubscribedFilters()).toEqual([]);
    second.subscription.unsubscribe();
    expect(unsubscribedFilters()).toEqual([['t/#']]);
    expect(registry.holds('t/#')).toBe(false);
    deliver('t/1', 'nobody');
    expect(second.seen).toEqual(['after first left']);
  });

  it('removes its routes when observers leave, so @OnMessage handlers get those topics again', () => {
    const { dispatcher, watch, deliver } = setup();
    const fallback: unknown[] = [];
    dispatcher.addFallbackHandler({ label: 'App#onMessage', needsContext: false, format: 'auto', ack: 'auto', invoke: (payload) => fallback.push(payload) });
    const observer = watch('t/#');
    deliver('t/1', 'observed');
    observer.subscription.unsubscribe();
    deliver('t/1', 'unobserved');
    expect(fallback).toEqual(['unobserved']);
  });

  it('subscribes again for a new observer after the last one left', () => {
    const { watch, subscribedFilters } = setup();
    watch('t/#').subscription.unsubscribe();
    watch('t/#');
    expect(subscribedFilters()).toEqual([['t/#'], ['t/#']]);
  });

  it('leaves a filter the client already holds alone: no new SUBSCRIBE, and no UNSUBSCRIBE after the last observer', async () => {
    const { registry, fake, watch, deliver, unsubscribedFilters } = setup();
    const held = registry.subscribe([{ filter: 'decorated/+', qos: 2 }]);
    fake.lastSubscribeTo('decorated/+').suback(2);
    await held;
    const observer = watch('decorated/+');
    expect(fake.subscribed).toHaveLength(1);
    deliver('decorated/1', 'hi');
    expect(observer.seen).toEqual(['hi']);
    observer.subscription.unsubscribe();
    expect(unsubscribedFilters()).toEqual([]);
    expect(registry.topics.get('decorated/+')).toEqual({ topic: 'decorated/+', qos: 2 });
  });

  it('leaves a held filter alone even before the broker granted it', () => {
    const { registry, fake, watch, unsubscribedFilters } = setup();
    registry.subscribe([{ filter: 'pending/#', qos: 1 }]).catch(() => undefined);
    watch('pending/#').subscription.unsubscribe();
    expect(fake.subscribed).toHaveLength(1);
    expect(unsubscribedFilters()).toEqual([]);
    expect(registry.holds('pending/#')).toBe(true);
  });

  it('errors every observer of a filter the broker refused, and a later observer tries again', async () => {
    const { fake, watch, subscribedFilters } = setup();
    const first = watch('forbidden/#');
    const second = watch('forbidden/#');
    fake.lastSubscribeTo('forbidden/#').suback(0x80);
    await flush();
    for (const observer of [first, second]) {
      expect(observer.ended.error).toBeInstanceOf(MqttSubscribeError);
      expect(observer.subscription.closed).toBe(true);
    }
    watch('forbidden/#');
    expect(subscribedFilters()).toEqual([['forbidden/#'], ['forbidden/#']]);
  });

  it('does not error a new observer for the refusal of a subscription its predecessors already left', async () => {
    const { fake, watch } = setup();
    watch('t/#').subscription.unsubscribe(); // SUBSCRIBE in flight, then UNSUBSCRIBE
    const next = watch('t/#');
    fake.subscribed[0].suback(0x80); // the first SUBSCRIBE's late refusal
    await flush();
    expect(next.ended.error).toBeUndefined();
  });

  // A filter the app subscribes to (MqttService.subscribe) while observers are active stays held for it.
  it('keeps a filter the app subscribed to while observers were active after the last observer leaves', async () => {
    const { registry, fake, watch, unsubscribedFilters } = setup();
    const observer = watch('shared/#');
    fake.lastSubscribeTo('shared/#').suback(0);
    await flush();
    await registry.subscribe([{ filter: 'shared/#', qos: 0 }]); // the app's own subscription
    observer.subscription.unsubscribe();
    expect(unsubscribedFilters()).toEqual([]);
    expect(registry.holds('shared/#')).toBe(true);
  });
});
