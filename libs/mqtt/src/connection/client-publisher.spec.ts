import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { IClientPublishOptions, Packet } from 'mqtt';
import { FakeMqttClient } from '../../../../test/support/fake-mqtt-client.js';
import { ClientPublisher } from './client-publisher.js';

interface Outcome {
  topic: string;
  error: Error | undefined;
  packet: Packet | undefined;
}

/** A publisher on a fake client, and every `done` call in the order it came. */
function setup(maxInflight: number, { connected = true, closed = false, publishTimeout = 0 } = {}) {
  const fake = new FakeMqttClient();
  fake.connected = connected;
  const state = { closed };
  const publisher = new ClientPublisher(fake.client, maxInflight, () => state.closed, publishTimeout);
  const outcomes: Outcome[] = [];
  const publish = (topic: string, options: IClientPublishOptions = { qos: 1 }): void =>
    publisher.publish(topic, `body of ${topic}`, options, (error, packet) => outcomes.push({ topic, error, packet }));
  return { fake, publisher, outcomes, publish, state };
}

const sentTopics = (fake: FakeMqttClient): string[] => fake.published.map((call) => call.topic);

afterEach(() => {
  jest.useRealTimers();
});

describe('ClientPublisher, QoS 0', () => {
  it('hands QoS 0 publishes to mqtt.js at once, even when the QoS 1/2 window is full', () => {
    const { fake, publish, publisher } = setup(1);
    publish('q1/a');
    publish('q1/b');
    publish('q0/x', { qos: 0 });
    expect(sentTopics(fake)).toEqual(['q1/a', 'q0/x']);
    expect(publisher.pending).toBe(2); // QoS 0 is not counted
  });

  it('calls back once mqtt.js does', () => {
    const { fake, publish, outcomes } = setup(1);
    publish('q0/x', { qos: 0 });
    expect(outcomes).toEqual([]);
    fake.lastPublishTo('q0/x').ack();
    expect(outcomes).toMatchObject([{ topic: 'q0/x', error: undefined }]);
  });

  it('fails a QoS 0 publish queued offline when the client is abandoned, and ignores a later call back', () => {
    const { fake, publish, publisher, outcomes } = setup(10, { connected: false });
    publish('q0/offline', { qos: 0 });
    expect(sentTopics(fake)).toEqual(['q0/offline']); // mqtt.js queues it
    publisher.abandon('the client closed before it was sent');
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0].error?.message).toBe('the client closed before it was sent');
    fake.lastPublishTo('q0/offline').fail(new Error('late'));
    expect(outcomes).toHaveLength(1);
  });

  it('settles an offline QoS 0 publish once mqtt.js sends it after reconnecting, so abandon() no longer touches it', () => {
    const { fake, publish, publisher, outcomes } = setup(10, { connected: false });
    publish('q0/offline', { qos: 0 });
    fake.lastPublishTo('q0/offline').ack();
    publisher.abandon('closed');
    expect(outcomes).toMatchObject([{ topic: 'q0/offline', error: undefined }]);
  });
});

describe('ClientPublisher, QoS 1/2 flow control', () => {
  it('keeps at most maxInflight publishes unacknowledged and sends the rest in order as acks arrive', () => {
    const { fake, publish, publisher, outcomes } = setup(2);
    for (const topic of ['t/1', 't/2', 't/3', 't/4']) publish(topic, { qos: topic === 't/2' ? 2 : 1 });
    expect(sentTopics(fake)).toEqual(['t/1', 't/2']);
    expect(publisher.pending).toBe(4);

    fake.published[1].ack(); // out of order: t/2 first
    expect(sentTopics(fake)).toEqual(['t/1', 't/2', 't/3']);
    fake.published[0].ack();
    expect(sentTopics(fake)).toEqual(['t/1', 't/2', 't/3', 't/4']);
    expect(outcomes.map((outcome) => outcome.topic)).toEqual(['t/2', 't/1']);
    expect(publisher.pending).toBe(2);
  });

  it('passes the options and the acknowledging packet through unchanged', () => {
    const { fake, publish, outcomes } = setup(5);
    const options: IClientPublishOptions = { qos: 2, retain: true, properties: { contentType: 'text/plain' } };
    publish('t/opts', options);
    expect(fake.published[0].options).toBe(options);
    expect(fake.published[0].body).toBe('body of t/opts');
    fake.published[0].ack(42);
    expect(outcomes[0].packet).toMatchObject({ messageId: 42 });
  });

  it("a failed publish frees its slot and reports mqtt.js's error", () => {
    const { fake, publish, outcomes } = setup(1);
    publish('t/a');
    publish('t/b');
    fake.published[0].fail(new Error('Quota exceeded'));
    expect(outcomes).toMatchObject([{ topic: 't/a', error: { message: 'Quota exceeded' } }]);
    expect(sentTopics(fake)).toEqual(['t/a', 't/b']);
  });

  it("lowers the window to the broker's Receive Maximum on connect", () => {
    const { fake, publisher, publish } = setup(10);
    publisher.connected(1);
    publish('t/a');
    publish('t/b');
    expect(sentTopics(fake)).toEqual(['t/a']);
  });

  it('never raises the window above maxInflight, and a CONNACK without Receive Maximum restores maxInflight', () => {
    const { fake, publisher, publish } = setup(2);
    publisher.connected(1);
    for (const topic of ['t/1', 't/2', 't/3']) publish(topic);
    expect(sentTopics(fake)).toEqual(['t/1']);
    publisher.connected(undefined); // a new connection: MQTT 3.1.1, or MQTT 5 without the property
    expect(sentTopics(fake)).toEqual(['t/1', 't/2']);
    publisher.connected(65_535);
    expect(sentTopics(fake)).toEqual(['t/1', 't/2']);
  });
});

describe("ClientPublisher, publishes mqtt.js failed unsent with 'Connection closed'", () => {
  it('hands it back to mqtt.js on the next turn (not from inside the call back), and reports only the final outcome', () => {
    jest.useFakeTimers();
    const { fake, publish, publisher, outcomes } = setup(1);
    publish('t/a');
    publish('t/b');
    fake.published[0].fail(new Error('Connection closed'));
    expect(sentTopics(fake)).toEqual(['t/a']); // not again synchronously, and t/b still waits
    expect(outcomes).toEqual([]);
    expect(publisher.pending).toBe(2);

    jest.runOnlyPendingTimers();
    expect(sentTopics(fake)).toEqual(['t/a', 't/a']);
    fake.published[1].ack();
    expect(outcomes).toMatchObject([{ topic: 't/a', error: undefined }]);
    expect(sentTopics(fake)).toEqual(['t/a', 't/a', 't/b']);
  });

  it('reports it as failed once the client is closing', () => {
    const { fake, publish, outcomes, state } = setup(1);
    publish('t/a');
    state.closed = true;
    fake.published[0].fail(new Error('Connection closed'));
    expect(outcomes).toMatchObject([{ topic: 't/a', error: { message: 'Connection closed' } }]);
  });

  it('does not hand it back when abandon() came first', () => {
    jest.useFakeTimers();
    const { fake, publish, publisher, outcomes } = setup(1);
    publish('t/a');
    fake.published[0].fail(new Error('Connection closed'));
    publisher.abandon('gone');
    jest.runOnlyPendingTimers();
    expect(sentTopics(fake)).toEqual(['t/a']);
    expect(outcomes).toMatchObject([{ topic: 't/a', error: { message: 'gone' } }]);
  });
});

describe('ClientPublisher.abandon', () => {
  it('fails in-flight and waiting publishes once each, and ignores acks that come later', () => {
    const { fake, publish, publisher, outcomes } = setup(1);
    publish('t/in-flight');
    publish('t/waiting');
    publisher.abandon('the client closed before the broker acknowledged it');
    expect(outcomes.map(({ topic, error }) => [topic, error?.message])).toEqual([
      ['t/in-flight', 'the client closed before the broker acknowledged it'],
      ['t/waiting', 'the client closed before the broker acknowledged it'],
    ]);
    expect(publisher.pending).toBe(0);
    fake.published[0].ack();
    expect(outcomes).toHaveLength(2);
    expect(sentTopics(fake)).toEqual(['t/in-flight']); // the waiting one was never sent
  });
});

describe('ClientPublisher.whenIdle', () => {
  beforeEach(() => {
    jest.useFakeTimers(); // no real timeout is left behind, whatever a test does
  });

  it('resolves true at once when nothing is pending', async () => {
    const { publisher } = setup(1);
    await expect(publisher.whenIdle(1_000)).resolves.toBe(true);
  });

  it('resolves true once the last QoS 1/2 publish is acknowledged', async () => {
    const { fake, publish, publisher } = setup(1);
    publish('t/a');
    publish('t/b');
    let idle: boolean | undefined;
    const waiting = publisher.whenIdle(60_000).then((value) => (idle = value));
    fake.published[0].ack();
    await Promise.resolve();
    expect(idle).toBeUndefined();
    fake.published[1].ack();
    await waiting;
    expect(idle).toBe(true);
  });

  it('resolves true when abandon() empties it', async () => {
    const { publish, publisher } = setup(1);
    publish('t/a');
    const waiting = publisher.whenIdle(60_000);
    publisher.abandon('closed');
    await expect(waiting).resolves.toBe(true);
  });

  it('resolves false after the timeout while publishes are still unacknowledged', async () => {
    const { fake, publish, publisher } = setup(1);
    publish('t/a');
    const waiting = publisher.whenIdle(5_000);
    jest.advanceTimersByTime(5_000);
    await expect(waiting).resolves.toBe(false);
    fake.published[0].ack(); // a waiter that timed out is not called again
    expect(publisher.pending).toBe(0);
  });
});

describe('ClientPublisher, publishTimeout', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });

  it('fails a publish the broker has not acknowledged within it, naming the QoS, and frees its slot', () => {
    const { fake, publish, outcomes } = setup(1, { publishTimeout: 1_000 });
    publish('t/a', { qos: 2 });
    publish('t/b');
    expect(sentTopics(fake)).toEqual(['t/a']);
    jest.advanceTimersByTime(999);
    expect(outcomes).toEqual([]);
    jest.advanceTimersByTime(251); // swept every publishTimeout / 4
    expect(outcomes).toMatchObject([{ topic: 't/a' }]);
    expect(outcomes[0].error?.message).toBe('the broker did not acknowledge the QoS 2 publish within publishTimeout (1000 ms); it may not support QoS 2');
    expect(sentTopics(fake)).toEqual(['t/a', 't/b']);
    fake.published[0].ack(); // a late acknowledgement settles nothing twice
    expect(outcomes).toHaveLength(1);
  });

  it('does not count time offline, and starts again when the publishes are sent again on the next connection', () => {
    const { fake, publish, publisher, outcomes } = setup(5, { publishTimeout: 1_000 });
    publish('t/a');
    jest.advanceTimersByTime(500);
    fake.connected = false;
    jest.advanceTimersByTime(10_000);
    expect(outcomes).toEqual([]);
    fake.connected = true;
    publisher.connected(undefined);
    jest.advanceTimersByTime(900);
    expect(outcomes).toEqual([]);
    jest.advanceTimersByTime(400);
    expect(outcomes).toMatchObject([{ topic: 't/a' }]);
  });

  it('is off with 0: nothing fails by itself', () => {
    const { publish, outcomes } = setup(5);
    publish('t/a');
    jest.advanceTimersByTime(24 * 3_600_000);
    expect(outcomes).toEqual([]);
  });
});

describe('ClientPublisher, a QoS 2 publish the broker answers by closing the connection', () => {
  it('fails after three short connections in a row and leaves mqtt.js store; QoS 1 publishes are kept', () => {
    const { fake, publish, publisher, outcomes } = setup(5);
    publish('t/two', { qos: 2 });
    publish('t/one', { qos: 1 });
    publisher.disconnected(true);
    publisher.disconnected(true);
    expect(outcomes).toEqual([]);
    publisher.disconnected(true);
    expect(outcomes).toMatchObject([{ topic: 't/two' }]);
    expect(outcomes[0].error?.message).toMatch(/closed the connection 3 times in a row .*QoS 2/);
    expect(fake.removedIds).toEqual([1]);
    expect(publisher.pending).toBe(1);
  });

  it('starts counting again after a connection that lasted', () => {
    const { publish, publisher, outcomes } = setup(5);
    publish('t/two', { qos: 2 });
    publisher.disconnected(true);
    publisher.disconnected(true);
    publisher.disconnected(false);
    publisher.disconnected(true);
    publisher.disconnected(true);
    expect(outcomes).toEqual([]);
  });
});
