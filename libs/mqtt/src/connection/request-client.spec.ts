import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { IPublishPacket } from 'mqtt';
import { CaptureLogger } from '../../../../test/support/capture-logger.js';
import { FakeMqttClient } from '../../../../test/support/fake-mqtt-client.js';
import { unhandledRejections } from '../../../../test/support/unhandled-rejections.js';
import { MqttArgumentError } from '../errors/mqtt-argument.error.js';
import { MqttRequestError } from '../errors/mqtt-request.error.js';
import { MqttSubscribeError } from '../errors/mqtt-subscribe.error.js';
import type { MqttPayload, MqttPublishOptions } from '../interfaces/mqtt-message.interface.js';
import { MessageDispatcher } from '../dispatch/message-dispatcher.js';
import { MAX_TIMER_DELAY_MS } from '../mqtt.constants.js';
import { checkRequestTimeout, RequestClient } from './request-client.js';
import { SubscriptionRegistry } from './subscription-registry.js';

interface Sent {
  topic: string;
  payload: MqttPayload;
  options: MqttPublishOptions;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * A request client on the real registry and dispatcher, over a connected fake mqtt.js client (MQTT 5).
 * The publish function records each request and leaves it pending until the test settles it.
 */
function setup(fixedClientId?: string) {
  const fake = new FakeMqttClient();
  fake.connected = true;
  const logger = new CaptureLogger();
  const registry = new SubscriptionRegistry(fake.client, { subscribed: () => undefined, downgraded: () => undefined }, true);
  const dispatcher = new MessageDispatcher('requester', 1_024, logger, () => undefined, registry);
  const sent: Sent[] = [];
  const publish = (topic: string, payload: MqttPayload, options: MqttPublishOptions): Promise<unknown> =>
    new Promise<void>((resolve, reject) => sent.push({ topic, payload, options, resolve, reject }));
  const client = new RequestClient(registry, dispatcher, publish, fixedClientId);

  /** The reply topic, as subscribed; and granting that subscription. */
  const replySubscription = () => {
    const call = fake.subscribed.find((candidate) => candidate.filters[0].startsWith('nestjs-mqtt/reply/'));
    if (!call) throw new Error('the reply topic was not subscribed');
    return call;
  };
  const grant = async (): Promise<void> => {
    replySubscription().suback(1);
    await flush();
  };

  /** What a responder sends back for `request`, as the broker delivers it through the reply subscription. */
  const reply = (request: Sent, body: unknown, properties: IPublishPacket['properties'] = {}): void => {
    const topic = request.options.properties?.responseTopic as string;
    const subscriptionIdentifier = replySubscription().options.properties?.subscriptionIdentifier;
    const packet: IPublishPacket = {
      cmd: 'publish',
      topic,
      payload: Buffer.alloc(0),
      qos: 1,
      dup: false,
      retain: false,
      properties: { correlationData: request.options.properties?.correlationData, subscriptionIdentifier, ...properties },
    };
    void dispatcher.dispatch(topic, Buffer.from(JSON.stringify(body)), packet);
  };

  return { fake, logger, registry, dispatcher, client, sent, grant, reply, replySubscription };
}

/** Lets promise chains (subscribe -> publish -> settle) run. */
async function flush(): Promise<void> {
  for (let turn = 0; turn < 5; turn++) await Promise.resolve();
}

/** Settled state of a promise, without awaiting it forever. */
function track<T>(promise: Promise<T>): { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } {
  const result: { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } = { state: 'pending' };
  promise.then(
    (value) => Object.assign(result, { state: 'resolved', value }),
    (error: unknown) => Object.assign(result, { state: 'rejected', error }),
  );
  return result;
}

const rejections = unhandledRejections();

beforeEach(() => {
  // setImmediate stays real: unhandledRejections().settled() waits on it.
  jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick'] });
});

afterEach(() => {
  jest.useRealTimers();
});

describe('RequestClient', () => {
  it('subscribes to its reply topic first, then publishes with the response topic and correlation data, and resolves with the reply', async () => {
    const { fake, client, sent, grant, reply } = setup();
    const result = track(client.request('svc/add', { a: 1, b: 2 }, 5_000, 1));
    await flush();
    expect(sent).toEqual([]); // not before the reply subscription is granted
    const subscription = fake.subscribed[0];
    expect(subscription.filters).toEqual([expect.stringMatching(/^nestjs-mqtt\/reply\/[0-9a-f]{16}$/)]);
    expect(subscription.map[subscription.filters[0]]).toMatchObject({ qos: 1 });

    await grant();
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ topic: 'svc/add', payload: { a: 1, b: 2 }, options: { qos: 1 } });
    expect(sent[0].options.properties).toEqual({ responseTopic: subscription.filters[0], correlationData: expect.any(Buffer) });

    sent[0].resolve();
    reply(sent[0], { sum: 3 });
    await flush();
    expect(result).toEqual({ state: 'resolved', value: { sum: 3 } });
    expect(jest.getTimerCount()).toBe(0); // the timeout was cleared
  });

  it('subscribes once for concurrent requests and matches each reply to its request by correlation data', async () => {
    const { fake, client, sent, grant, reply } = setup();
    const first = track(client.request('svc/a', 'one', 5_000, 0));
    const second = track(client.request('svc/b', 'two', 5_000, 2));
    await grant();
    expect(fake.subscribed).toHaveLength(1);
    expect(sent.map((request) => [request.topic, request.options.qos])).toEqual([
      ['svc/a', 0],
      ['svc/b', 2],
    ]);
    expect(sent[0].options.properties?.correlationData).not.toEqual(sent[1].options.properties?.correlationData);
    for (const request of sent) request.resolve();
    reply(sent[1], 'for two');
    reply(sent[0], 'for one');
    await flush();
    expect([first.value, second.value]).toEqual(['for one', 'for two']);
  });

  it("rejects with MqttRequestError carrying the responder's error property", async () => {
    const { client, sent, grant, reply } = setup();
    const result = track(client.request('svc/fail', null, 5_000, 1));
    await grant();
    sent[0].resolve();
    reply(sent[0], '', { userProperties: { error: 'the handler failed' } });
    await flush();
    expect(result.state).toBe('rejected');
    expect(result.error).toBeInstanceOf(MqttRequestError);
    expect(result.error).toMatchObject({
      topic: 'svc/fail',
      timedOut: false,
      message: "Request to 'svc/fail' failed: the responder failed: the handler failed",
    });
  });

  it('times out while waiting for the reply subscription (offline: the next connection), and never publishes', async () => {
    const { client, sent } = setup();
    const result = track(client.request('svc/slow', 1, 2_000, 1));
    jest.advanceTimersByTime(1_999);
    await flush();
    expect(result.state).toBe('pending');
    jest.advanceTimersByTime(1);
    await flush();
    expect(result.error).toBeInstanceOf(MqttRequestError);
    expect(result.error).toMatchObject({ timedOut: true, message: "Request to 'svc/slow' failed: no reply within 2000 ms" });
    expect(sent).toEqual([]);
  });

  // A caller told "no reply within N ms" must not have its request run later, after an outage.
  it('does not publish a request that timed out while waiting for the reply subscription', async () => {
    const { client, sent, grant } = setup();
    const result = track(client.request('svc/slow', 1, 2_000, 1));
    jest.advanceTimersByTime(2_000);
    await flush();
    expect(result.error).toMatchObject({ timedOut: true });
    await grant(); // the connection came back
    expect(sent).toEqual([]);
  });

  it('times out while the publish waits for a flow-control slot, and a late publish failure goes nowhere', async () => {
    const { client, sent, grant } = setup();
    const result = track(client.request('svc/slow', 1, 2_000, 1));
    await grant();
    jest.advanceTimersByTime(2_000);
    await flush();
    expect(result.error).toMatchObject({ timedOut: true });
    sent[0].reject(new Error('the client closed before the broker acknowledged it'));
    await flush();
    expect(result.error).toMatchObject({ timedOut: true });
    expect(await rejections.settled()).toEqual([]);
  });

  it('rejects at once with the subscription error when the broker refuses the reply topic', async () => {
    const { client, sent, replySubscription } = setup();
    const result = track(client.request('svc/x', 1, 60_000, 1));
    replySubscription().suback(0x87);
    await flush();
    expect(result.error).toBeInstanceOf(MqttSubscribeError);
    expect(sent).toEqual([]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('rejects at once with the publish error', async () => {
    const { client, sent, grant } = setup();
    const result = track(client.request('svc/x', 1, 60_000, 1));
    await grant();
    sent[0].reject(new Error('Quota exceeded'));
    await flush();
    expect(result).toMatchObject({ state: 'rejected', error: { message: 'Quota exceeded' } });
    expect(jest.getTimerCount()).toBe(0);
  });

  it('ignores a reply that arrives after the timeout, and one without correlation data', async () => {
    const { client, sent, grant, reply, logger } = setup();
    const timedOut = track(client.request('svc/a', 1, 1_000, 1));
    const waiting = track(client.request('svc/b', 1, 60_000, 1));
    await grant();
    for (const request of sent) request.resolve();
    jest.advanceTimersByTime(1_000);
    await flush();
    reply(sent[0], 'too late');
    reply({ ...sent[1], options: { properties: { responseTopic: sent[1].options.properties?.responseTopic } } }, 'no correlation');
    await flush();
    expect(timedOut.error).toMatchObject({ timedOut: true });
    expect(waiting.state).toBe('pending');
    expect(logger.lines).toEqual([]);
    reply(sent[1], 'on time');
    await flush();
    expect(waiting).toEqual({ state: 'resolved', value: 'on time' });
    expect(await rejections.settled()).toEqual([]);
  });

  it('close() rejects every waiting request, wherever it is, and clears their timers', async () => {
    const { client, sent, grant } = setup();
    const published = track(client.request('svc/a', 1, 60_000, 1));
    await grant();
    sent[0].resolve();
    const unsent = track(client.request('svc/b', 1, 60_000, 1));
    client.close();
    await flush();
    for (const [result, topic] of [
      [published, 'svc/a'],
      [unsent, 'svc/b'],
    ] as const) {
      expect(result.error).toBeInstanceOf(MqttRequestError);
      expect(result.error).toMatchObject({ message: `Request to '${topic}' failed: the client closed before a reply arrived`, timedOut: false });
    }
    expect(jest.getTimerCount()).toBe(0);
    sent[1]?.reject(new Error('closed'));
    expect(await rejections.settled()).toEqual([]);
  });

  it('keeps one reply topic per fixed client id across restarts, and picks a random one otherwise', async () => {
    const replyTopicOf = async (clientId?: string): Promise<string> => {
      const { client, replySubscription } = setup(clientId);
      client.request('svc', 1, 1_000, 0).catch(() => undefined);
      await flush();
      client.close();
      return replySubscription().filters[0];
    };
    const plant = await replyTopicOf('plant-1');
    expect(await replyTopicOf('plant-1')).toBe(plant);
    expect(await replyTopicOf('plant-2')).not.toBe(plant);
    expect(await replyTopicOf()).not.toBe(await replyTopicOf());
    expect(plant).not.toContain('plant-1'); // the client id itself is not disclosed
  });
});

describe('checkRequestTimeout', () => {
  it.each([1, 0.5, 30_000, MAX_TIMER_DELAY_MS])('accepts %p ms', (timeout) => {
    expect(checkRequestTimeout(timeout)).toBe(timeout);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, MAX_TIMER_DELAY_MS + 1, '1000', undefined, null])('refuses %p', (timeout) => {
    expect(() => checkRequestTimeout(timeout)).toThrow(MqttArgumentError);
    expect(() => checkRequestTimeout(timeout)).toThrow(/options\.timeout.*up to 2147483647/);
  });
});
