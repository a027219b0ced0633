import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { LoggerService } from '@nestjs/common';
import { FakeMqttClient } from '../../../../test/support/fake-mqtt-client.js';
import { MqttConnectionError } from '../errors/mqtt-connection.error.js';
import { MqttPublishError } from '../errors/mqtt-publish.error.js';
import { MqttRequestError } from '../errors/mqtt-request.error.js';
import type { MqttStatus } from '../interfaces/mqtt-message.interface.js';
import type { MqttModuleOptions } from '../options/mqtt-module-options.interface.js';
import { resolveMqttOptions } from '../options/resolve-mqtt-options.js';
import { parseTopicFilter } from '../protocol/topic-filter.js';
import type { BoundHandler } from '../dispatch/message-dispatcher.js';
import { MqttConnection } from './mqtt-connection.js';
import { MQTT_LOG_DEBUG } from './client-log.js';
import { MqttService } from '../mqtt.service.js';

/** A Nest logger that keeps `level: message` lines. */
class Lines implements LoggerService {
  readonly lines: string[] = [];
  log(message: string): void {
    this.lines.push(`log: ${message}`);
  }
  error(message: string): void {
    this.lines.push(`error: ${message}`);
  }
  warn(message: string): void {
    this.lines.push(`warn: ${message}`);
  }
  debug(message: string): void {
    this.lines.push(`debug: ${message}`);
  }
}

/** A connection over a fake mqtt.js client; `statuses` records every status it went through. */
function setup(options: MqttModuleOptions = {}) {
  const logger = new Lines();
  let fake: FakeMqttClient | undefined;
  const connection = new MqttConnection('default', resolveMqttOptions({ url: 'mqtt://broker.test:1883', ...options }), logger, (clientOptions) => {
    fake = new FakeMqttClient(clientOptions);
    return fake.client;
  });
  if (!fake) throw new Error('the connection did not create its client through the factory');
  const statuses: MqttStatus[] = [];
  connection.status.subscribe((status) => statuses.push(status));
  return { connection, fake, logger, statuses };
}

/** A handler whose calls are recorded; `running` holds it until `release()`. */
function handler(ack: 'auto' | 'after-handler' = 'auto') {
  const calls: Array<{ topic: string; payload: unknown }> = [];
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const bound: BoundHandler = {
    label: 'Spec#handle',
    format: 'text',
    ack,
    needsContext: false,
    invoke: (payload, topic) => {
      calls.push({ topic, payload });
      return gate;
    },
  };
  return { bound, calls, release: () => release() };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

afterEach(() => {
  jest.useRealTimers();
});

describe('MqttConnection, client factory', () => {
  it('hands the factory mqtt.js options for a client that connects only when started', () => {
    const { fake } = setup({ clientId: 'spec-1' });
    expect(fake.options).toMatchObject({ clientId: 'spec-1', manualConnect: true, resubscribe: false, host: 'broker.test', port: 1883 });
    expect(fake.connectCalls).toBe(0);
  });
});

describe('MqttConnection, start', () => {
  it("with connect: 'background' connects and returns at once; the status follows the client", async () => {
    const { connection, fake, statuses } = setup({ connect: 'background' });
    await connection.start();
    expect(fake.connectCalls).toBe(1);
    expect(statuses).toEqual(['closed', 'connecting']);
    fake.simulateConnect();
    fake.simulateConnectionLoss();
    // 'close' and 'offline' both report offline; what counts is the sequence of changes.
    expect(statuses.filter((status, index) => status !== statuses[index - 1])).toEqual(['closed', 'connecting', 'connected', 'offline']);
    expect(connection.connected).toBe(false);
  });

  it('starts once, however often it is called', async () => {
    const { connection, fake } = setup({ connect: 'background' });
    await connection.start();
    await connection.start();
    expect(fake.connectCalls).toBe(1);
  });

  it("with connect: 'wait' resolves on the first CONNACK", async () => {
    const { connection, fake } = setup();
    let started = false;
    const start = connection.start().then(() => {
      started = true;
    });
    await flush();
    expect(started).toBe(false);
    fake.simulateConnect();
    await start;
    expect(connection.connected).toBe(true);
  });

  it("with connect: 'wait' fails at once on a refused CONNACK, ends the client and closes", async () => {
    const { connection, fake, statuses } = setup();
    const start = connection.start();
    fake.emit('error', Object.assign(new Error('Connection refused: Not authorized'), { code: 5 }));
    await expect(start).rejects.toThrow(MqttConnectionError);
    await expect(start).rejects.toThrow('Not authorized (5)');
    expect(fake.endCalls.map((call) => call.force)).toEqual([true]);
    expect(fake.options.reconnectPeriod).toBe(0);
    expect(statuses.at(-1)).toBe('closed');
  });

  it("with connect: 'wait' keeps waiting through a transient refusal (server busy) until connectTimeout", async () => {
    jest.useFakeTimers();
    const { connection, fake } = setup({ connectTimeout: 1_000 });
    const start = connection.start();
    fake.emit('error', Object.assign(new Error('Connection refused: Server busy'), { code: 0x89 }));
    jest.advanceTimersByTime(999);
    expect(fake.endCalls).toEqual([]);
    jest.advanceTimersByTime(1);
    await expect(start).rejects.toThrow('no CONNACK within 1000 ms (last error: Connection refused: Server busy (137))');
  });
});

describe('MqttConnection, close', () => {
  it('before start: nothing to end, the status completes as closed', async () => {
    const { connection, fake, statuses } = setup();
    let completed = false;
    connection.status.subscribe({ complete: () => (completed = true) });
    await connection.close();
    expect(fake.endCalls).toEqual([]);
    expect(statuses).toEqual(['closed', 'closed']);
    expect(completed).toBe(true);
  });

  it('waits for running handlers before it ends the client, gracefully (no will), and closes once', async () => {
    const { connection, fake, statuses } = setup({ connect: 'background' });
    const { bound, calls, release } = handler();
    connection.addRoute(parseTopicFilter('jobs/+'), bound);
    await connection.start();
    fake.simulateConnect();
    fake.deliver('jobs/1', 'a');
    expect(calls).toEqual([{ topic: 'jobs/1', payload: 'a' }]);

    const closing = connection.close();
    expect(connection.close()).toBe(closing);
    await flush();
    expect(fake.endCalls).toEqual([]); // the handler still runs
    expect(statuses.at(-1)).toBe('connected');

    release();
    await closing;
    expect(fake.endCalls.map((call) => call.force)).toEqual([false]);
    expect(statuses.at(-1)).toBe('closed');
    expect(connection.status.isStopped).toBe(true);
  });

  it('forces the end when the graceful one does not finish within shutdownTimeout', async () => {
    const { connection, fake } = setup({ connect: 'background', shutdownTimeout: 50 });
    await connection.start();
    fake.simulateConnect();
    fake.endsAtOnce = false;
    const closing = connection.close();
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(fake.endCalls.map((call) => call.force)).toEqual([false, true]);
    fake.endCalls[1].finish();
    await closing;
  });

  it('takes no more messages once draining began, and withholds their acknowledgement from the broker', async () => {
    const { connection, fake, logger } = setup({ connect: 'background' });
    const { bound, calls, release } = handler();
    connection.addRoute(parseTopicFilter('jobs/+'), bound);
    await connection.start();
    fake.simulateConnect();
    fake.deliver('jobs/1', 'first', { qos: 1, messageId: 1 });
    expect(fake.sentAcks).toEqual([{ cmd: 'puback', messageId: 1 }]);

    const draining = connection.drain();
    fake.deliver('jobs/2', 'second', { qos: 1, messageId: 2 });
    fake.deliver('jobs/3', 'third', { qos: 0 });
    expect(calls.map((call) => call.payload)).toEqual(['first']);
    expect(fake.sentAcks).toHaveLength(1); // the broker keeps 'second' for the next session
    release();
    await draining;
    expect(logger.lines.filter((line) => line.startsWith('error'))).toEqual([]);
  });
});

describe('MqttConnection, received messages', () => {
  it("acknowledges a QoS 1 message only after an 'after-handler' handler finished", async () => {
    const { connection, fake } = setup({ connect: 'background' });
    const { bound, release } = handler('after-handler');
    connection.addRoute(parseTopicFilter('jobs/+'), bound);
    await connection.start();
    fake.simulateConnect();
    fake.deliver('jobs/1', 'a', { qos: 1, messageId: 7 });
    await flush();
    expect(fake.sentAcks).toEqual([]);
    release();
    await flush();
    expect(fake.sentAcks).toEqual([{ cmd: 'puback', messageId: 7 }]);
  });

  it('gives handlers the topic an MQTT 5 topic alias stood for, on the packet too', async () => {
    const { connection, fake } = setup({ connect: 'background', protocolVersion: 5 });
    const seen: string[] = [];
    connection.addRoute(parseTopicFilter('a/+'), {
      label: 'Spec#alias',
      format: 'text',
      ack: 'auto',
      needsContext: false,
      invoke: (_payload, _topic, packet) => seen.push(packet.topic),
    });
    await connection.start();
    fake.simulateConnect();
    const packet = { cmd: 'publish' as const, topic: '', payload: Buffer.from('x'), qos: 0 as const, dup: false, retain: false };
    fake.emit('message', 'a/b', packet.payload, packet);
    expect(seen).toEqual(['a/b']);
  });

  it('drops a QoS 1 redelivery (DUP) of a message handled within dedupeWindowMs', async () => {
    const { connection, fake } = setup({ connect: 'background', dedupeWindowMs: 60_000 });
    const { bound, calls, release } = handler();
    release();
    connection.addRoute(parseTopicFilter('jobs/+'), bound);
    await connection.start();
    fake.simulateConnect();
    fake.deliver('jobs/1', 'a', { qos: 1, messageId: 3 });
    fake.deliver('jobs/1', 'a', { qos: 1, messageId: 3, dup: true });
    expect(calls).toHaveLength(1);
    expect(fake.sentAcks).toHaveLength(2); // the redelivery is still acknowledged
  });
});

describe('MqttConnection, client events', () => {
  it('reports a lost connection once, and the CONNACK that ends it', async () => {
    const { connection, fake, logger } = setup({ connect: 'background' });
    const events: unknown[][] = [];
    for (const event of ['connect', 'disconnect', 'offline'] as const) {
      connection.onClientEvent(event, { label: `Spec#${event}`, call: (...args) => events.push([event, ...args]) });
    }
    await connection.start();
    fake.simulateConnect({ sessionPresent: true });
    fake.simulateConnectionLoss();
    expect(events).toEqual([
      ['connect', expect.objectContaining({ cmd: 'connack', sessionPresent: true })],
      ['disconnect', { packet: undefined }],
      ['offline'],
    ]);
    expect(logger.lines).toContain("log: Client 'default' connected to mqtt://broker.test:1883 (session present)");
    expect(logger.lines).toContain("warn: Client 'default' lost its connection to mqtt://broker.test:1883");
  });
});

describe('MqttConnection, client-event handler failures', () => {
  it('reports a throw, a rejected promise and a rejected thenable, and still calls the other handlers', async () => {
    const { connection, fake, logger } = setup({ connect: 'background' });
    const thenable = { then: (_resolve: unknown, reject: (error: Error) => void) => reject(new Error('thenable refused')) };
    const calls: string[] = [];
    connection.onClientEvent('connect', {
      label: 'Spec#throws',
      call: () => {
        calls.push('throws');
        throw new Error('thrown');
      },
    });
    connection.onClientEvent('connect', { label: 'Spec#rejects', call: () => (calls.push('rejects'), Promise.reject(new Error('rejected'))) });
    connection.onClientEvent('connect', { label: 'Spec#thenable', call: () => (calls.push('thenable'), thenable) });
    await connection.start();
    fake.simulateConnect();
    await flush();
    expect(calls).toEqual(['throws', 'rejects', 'thenable']);
    expect(logger.lines.filter((line) => line.startsWith('error'))).toEqual([
      "error: Spec#throws failed on 'connect': thrown",
      "error: Spec#rejects failed on 'connect': rejected",
      "error: Spec#thenable failed on 'connect': thenable refused",
    ]);
  });
});

/** Every 'publish' event of the connection, as @OnPublish handlers get them. */
function publishEvents(connection: MqttConnection): unknown[] {
  const seen: unknown[] = [];
  connection.onClientEvent('publish', { label: 'Spec#published', call: (info) => seen.push(info) });
  return seen;
}

describe('MqttConnection, publish', () => {
  it('resolves once mqtt.js acknowledged it, with the packet id for QoS 1/2, and tells @OnPublish handlers', async () => {
    const { connection, fake } = setup({ connect: 'background' });
    const events = publishEvents(connection);
    await connection.start();
    fake.simulateConnect();
    const qos1 = connection.publish('t/1', 'a', { qos: 1 });
    const qos0 = connection.publish('t/0', 'b');
    fake.lastPublishTo('t/1').ack(42);
    fake.lastPublishTo('t/0').ack(0);
    await expect(qos1).resolves.toEqual({ messageId: 42 });
    await expect(qos0).resolves.toEqual({});
    expect(events).toEqual([{ topic: 't/1', messageId: 42 }, { topic: 't/0' }]);
  });

  it('maps a failure to MqttPublishError with the MQTT 5 reason code and the cause; @OnPublish is not told', async () => {
    const { connection, fake } = setup({ connect: 'background', protocolVersion: 5 });
    const events = publishEvents(connection);
    await connection.start();
    fake.simulateConnect();
    const published = connection.publish('t/1', 'a', { qos: 1 });
    const cause = Object.assign(new Error('Quota exceeded'), { code: 0x97 });
    fake.lastPublishTo('t/1').fail(cause);
    const error = await published.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MqttPublishError);
    expect(error).toMatchObject({ message: "Publish to 't/1' failed: Quota exceeded", reasonCode: 0x97, cause });
    expect(events).toEqual([]);
  });

  it('while offline admits QoS 1/2 publishes up to offlineQueueLimit, and frees a place when one is settled', async () => {
    const { connection, fake } = setup({ connect: 'background', offlineQueueLimit: 2 });
    await connection.start();
    const first = connection.publish('t/1', 'a', { qos: 1 });
    const second = connection.publish('t/2', 'a', { qos: 1 });
    await expect(connection.publish('t/3', 'a', { qos: 1 })).rejects.toThrow(
      "Publish to 't/3' failed: the offline queue is full (offlineQueueLimit: 2); the client is reconnecting",
    );
    expect(fake.published.map((call) => call.topic)).toEqual(['t/1', 't/2']); // t/3 never reached mqtt.js

    fake.simulateConnect();
    fake.lastPublishTo('t/1').ack(1);
    await first;
    fake.simulateConnectionLoss();
    const third = connection.publish('t/4', 'a', { qos: 1 });
    expect(fake.published.map((call) => call.topic)).toEqual(['t/1', 't/2', 't/4']);
    fake.lastPublishTo('t/2').ack(2);
    fake.lastPublishTo('t/4').ack(3);
    await Promise.all([second, third]);
  });

  it('while offline refuses QoS 0 unless queueQos0Offline', async () => {
    const refusing = setup({ connect: 'background', queueQos0Offline: false });
    await refusing.connection.start();
    await expect(refusing.connection.publish('t/0', 'a')).rejects.toThrow('QoS 0 messages are not queued (queueQos0Offline: false)');
    expect(refusing.fake.published).toEqual([]);

    const queueing = setup({ connect: 'background', queueQos0Offline: true });
    await queueing.connection.start();
    const queued = queueing.connection.publish('t/0', 'a');
    expect(queueing.fake.published.map((call) => call.topic)).toEqual(['t/0']);
    queueing.fake.lastPublishTo('t/0').ack(0);
    await queued;
  });

  it('refuses publishes once closed, and fails those mqtt.js still held', async () => {
    const { connection, fake } = setup({ connect: 'background', shutdownTimeout: 20 });
    await connection.start();
    fake.simulateConnect();
    const unacknowledged = connection.publish('t/1', 'a', { qos: 1 });
    await connection.close();
    await expect(unacknowledged).rejects.toThrow("Publish to 't/1' failed: the client closed before the broker acknowledged it");
    await expect(connection.publish('t/2', 'a', { qos: 1 })).rejects.toThrow("Publish to 't/2' failed: the client is closed");
  });
});

describe('MqttConnection, replies', () => {
  /** An MQTT 5 request for a `reply: true` handler that answers 'pong'. */
  async function responder(options: MqttModuleOptions) {
    const context = setup({ connect: 'background', protocolVersion: 5, ...options });
    context.connection.addRoute(parseTopicFilter('svc/ping'), {
      label: 'Spec#ping',
      format: 'text',
      ack: 'auto',
      reply: true,
      needsContext: false,
      invoke: () => 'pong',
    });
    await context.connection.start();
    context.fake.simulateConnect();
    const ask = (responseTopic: string): void => {
      context.fake.deliver('svc/ping', '', { qos: 1, messageId: 1, properties: { responseTopic, correlationData: Buffer.from('c') } });
    };
    return { ...context, ask };
  }

  it('go through the publish path: @OnPublish is told of a reply as of any publish', async () => {
    const { connection, fake, ask } = await responder({});
    const events = publishEvents(connection);
    ask('replies/a');
    fake.lastPublishTo('replies/a').ack(9);
    await flush();
    expect(fake.lastPublishTo('replies/a').body).toBe('pong');
    expect(events).toEqual([{ topic: 'replies/a', messageId: 9 }]);
  });

  it('go through the publish path: while offline they count against offlineQueueLimit', async () => {
    const { fake, logger, ask } = await responder({ offlineQueueLimit: 1 });
    fake.connected = false; // the request arrived just before the connection dropped
    ask('replies/a');
    ask('replies/b');
    expect(fake.published.map((call) => call.topic)).toEqual(['replies/a']);
    expect(logger.lines).toContain(
      "warn: Reply failed: Publish to 'replies/b' failed: the offline queue is full (offlineQueueLimit: 1); the client is reconnecting",
    );
  });
});

describe('MqttConnection, subscriptions and requests', () => {
  it('tells @OnUnsubscribe handlers which filters were dropped', async () => {
    const { connection, fake } = setup({ connect: 'background' });
    const dropped: unknown[] = [];
    connection.onClientEvent('unsubscribe', { label: 'Spec#unsubscribed', call: (filters) => dropped.push(filters) });
    await connection.start();
    fake.simulateConnect();
    const granted = connection.subscribe([
      { filter: 'a/+', qos: 1 },
      { filter: 'b/#', qos: 0 },
    ]);
    fake.lastSubscribeTo('a/+').suback();
    await expect(granted).resolves.toEqual([
      { topic: 'a/+', qos: 1 },
      { topic: 'b/#', qos: 0 },
    ]);
    expect([...connection.topics.keys()]).toEqual(['a/+', 'b/#']);
    const all = connection.unsubscribeAll();
    fake.unsubscribed[0].resolveUnsubscribe();
    await all;
    expect(dropped).toEqual([['a/+', 'b/#']]);
    await connection.unsubscribeAll(); // nothing held: no UNSUBSCRIBE, no event
    expect(fake.unsubscribed).toHaveLength(1);
    expect(dropped).toHaveLength(1);
  });

  it('rejects the requests still waiting for a reply when it closes', async () => {
    const { connection, fake } = setup({ connect: 'background', protocolVersion: 5 });
    await connection.start();
    fake.simulateConnect();
    const pending = connection.request('svc/ask', { n: 1 }, 60_000, 1).catch((caught: unknown) => caught);
    await flush();
    fake.subscribed[0].suback(1);
    await flush();
    fake.lastPublishTo('svc/ask').ack(5);
    expect(fake.lastPublishTo('svc/ask').body).toBe('{"n":1}');
    await connection.close();
    const error = await pending;
    expect(error).toBeInstanceOf(MqttRequestError);
    expect(error).toMatchObject({ message: expect.stringContaining('the client closed before a reply arrived') });
  });
});

describe('MqttConnection, failover list', () => {
  /** A connection over a fake client, to a list of brokers. */
  function failover(options: MqttModuleOptions) {
    const logger = new Lines();
    let fake: FakeMqttClient | undefined;
    const connection = new MqttConnection('default', resolveMqttOptions(options), logger, (clientOptions) => {
      fake = new FakeMqttClient(clientOptions);
      return fake.client;
    });
    if (!fake) throw new Error('the connection did not create its client through the factory');
    return { connection, fake, logger };
  }
  const refused = (message: string, code: number | string) => Object.assign(new Error(message), { code });

  it("moves to the next broker at every reconnect, wrapping around, with that broker's credentials; logs and describe() name it", async () => {
    const { connection, fake, logger } = failover({
      servers: [{ url: 'mqtt://a.test:1883' }, { url: 'mqtt://b.test:1884', username: 'svc-b', password: 'pw-b' }, { url: 'mqtt://c.test:1885' }],
      connect: 'background',
    });
    await connection.start();
    expect(fake.options).toMatchObject({ host: 'a.test', port: 1883 });
    expect(connection.describe()).toMatchObject({ url: 'mqtt://a.test:1883', servers: ['mqtt://a.test:1883', 'mqtt://b.test:1884', 'mqtt://c.test:1885'] });
    fake.emit('error', refused('connect ECONNREFUSED 10.0.0.1:1883', 'ECONNREFUSED'));
    fake.emit('reconnect');
    expect(fake.options).toMatchObject({ host: 'b.test', hostname: 'b.test', port: 1884, username: 'svc-b', password: 'pw-b' });
    fake.simulateConnect();
    expect(connection.describe().url).toBe('mqtt://b.test:1884');
    fake.simulateConnectionLoss();
    fake.emit('reconnect');
    expect(fake.options).toMatchObject({ host: 'c.test', port: 1885 });
    expect(fake.options).not.toHaveProperty('username');
    expect(fake.options).not.toHaveProperty('password');
    fake.emit('reconnect');
    expect(fake.options).toMatchObject({ host: 'a.test', port: 1883 });
    expect(logger.lines).toEqual([
      "error: Client 'default' (mqtt://a.test:1883): connect ECONNREFUSED 10.0.0.1:1883",
      "log: Client 'default' connected to mqtt://b.test:1884",
      "warn: Client 'default' lost its connection to mqtt://b.test:1884",
    ]);
  });

  it("with connect: 'wait' passes over a broker that refuses for good, and fails once every broker did", async () => {
    const { connection, fake, logger } = failover({ url: ['mqtt://a.test', 'mqtt://b.test'] });
    const start = connection.start();
    fake.emit('error', refused('Connection refused: Not authorized', 5));
    fake.emit('reconnect');
    await flush();
    expect(fake.endCalls).toEqual([]);
    expect(logger.lines).toEqual(["error: Client 'default' (mqtt://a.test:1883): Connection refused: Not authorized (5)"]);
    fake.emit('error', refused('Connection refused: Bad username or password', 4));
    await expect(start).rejects.toThrow(
      'MQTT connection to mqtt://a.test:1883, mqtt://b.test:1883 failed: every broker refused: mqtt://a.test:1883: Connection refused: Not authorized (5); mqtt://b.test:1883: Connection refused: Bad username or password (4)',
    );
    expect(fake.endCalls.map((call) => call.force)).toEqual([true]);
  });

  it("with connect: 'wait' waits one round: connectTimeout per broker and reconnectPeriod between them", async () => {
    jest.useFakeTimers();
    const { connection, fake } = failover({ url: ['mqtt://a.test', 'mqtt://b.test'], connectTimeout: 1_000, reconnectPeriod: 100 });
    const start = connection.start();
    fake.emit('error', new Error('connack timeout'));
    fake.emit('reconnect');
    fake.emit('error', new Error('connack timeout'));
    jest.advanceTimersByTime(2_099);
    expect(fake.endCalls).toEqual([]);
    jest.advanceTimersByTime(1);
    await expect(start).rejects.toThrow('no CONNACK from any of the 2 brokers within 2100 ms (last error: mqtt://b.test:1883: connack timeout)');
  });

  it("with connect: 'wait' resolves when a later broker accepts", async () => {
    const { connection, fake } = failover({ url: ['mqtts://a.test', 'mqtts://b.test'] });
    const start = connection.start();
    fake.emit('error', refused('certificate has expired', 'CERT_HAS_EXPIRED'));
    fake.emit('reconnect');
    fake.simulateConnect();
    await start;
    expect(connection.describe().url).toBe('mqtts://b.test:8883');
  });
});

describe('MqttConnection, TLS warnings', () => {
  it.each([
    ['tls.rejectUnauthorized: false', { tls: { rejectUnauthorized: false } }, 'TLS certificate verification is OFF for mqtts://broker.test:8883'],
    ['insecure: true', { insecure: true }, 'TLS host-name check is OFF for mqtts://broker.test:8883'],
  ] as const)('with %s warns at every connect, not only the first', async (_what, tls, warning) => {
    const { connection, fake, logger } = setup({ url: 'mqtts://broker.test:8883', connect: 'background', ...tls });
    await connection.start();
    for (let connects = 0; connects < 3; connects++) {
      fake.simulateConnect();
      fake.simulateConnectionLoss();
    }
    expect(logger.lines.filter((line) => line.startsWith('warn: ') && line.includes(warning))).toHaveLength(3);
  });
});

describe("MqttConnection, mqtt.js's packet log lines", () => {
  /** What mqtt.js's debug logging calls `options.log` with (a format and a packet). */
  const packetLine = ['sending packet %o', { cmd: 'pingreq' }] as const;

  it('are neither logged nor routed without logging: true or an @OnLog handler', async () => {
    const { connection, fake, logger } = setup({ connect: 'background' });
    await connection.start();
    fake.log(...packetLine);
    fake.simulateConnect();
    expect(logger.lines.filter((line) => line.startsWith('debug'))).toEqual([]);
  });

  it('with logging: true reach the logger at debug level', async () => {
    const { connection, fake, logger } = setup({ connect: 'background', logging: true });
    await connection.start();
    fake.log(...packetLine);
    expect(logger.lines).toContain("debug: sending packet { cmd: 'pingreq' }");
  });

  it('with an @OnLog handler reach the handler (MQTT_LOG_DEBUG), but not the logger unless logging: true', async () => {
    const { connection, fake, logger } = setup({ connect: 'background' });
    const seen: unknown[][] = [];
    connection.onClientEvent('log', { label: 'Spec#log', call: (...args) => seen.push(args) });
    await connection.start();
    fake.log(...packetLine);
    expect(seen).toContainEqual([MQTT_LOG_DEBUG, "sending packet { cmd: 'pingreq' }"]);
    expect(logger.lines.filter((line) => line.startsWith('debug'))).toEqual([]);
  });
});

describe('MqttConnection, request() timeout', () => {
  beforeEach(() => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick'] });
  });

  it('covers waiting for a flow-control slot: the request times out while its publish still waits behind maxInflight', async () => {
    const { connection, fake } = setup({ connect: 'background', protocolVersion: 5, maxInflight: 1 });
    await connection.start();
    fake.simulateConnect();
    const holder = connection.publish('t/hold', 'x', { qos: 1 }); // takes the only slot, never acknowledged here
    holder.catch(() => undefined);
    let outcome: unknown;
    const pending = connection.request('svc/ask', 1, 500, 1).catch((error: unknown) => (outcome = error));
    await flush();
    fake.lastSubscribeTo(fake.subscribed[0].filters[0]).suback(1); // the reply subscription is granted
    await flush();
    expect(fake.published.map((call) => call.topic)).toEqual(['t/hold']); // the request waits for the slot
    jest.advanceTimersByTime(499);
    await flush();
    expect(outcome).toBeUndefined();
    jest.advanceTimersByTime(1);
    await pending;
    expect(outcome).toBeInstanceOf(MqttRequestError);
    expect(outcome).toMatchObject({ timedOut: true, message: "Request to 'svc/ask' failed: no reply within 500 ms" });
    expect(fake.published.map((call) => call.topic)).toEqual(['t/hold']);
  });

  it('defaults to 10000 ms', async () => {
    const { connection, fake } = setup({ connect: 'background', protocolVersion: 5 });
    await connection.start();
    fake.simulateConnect();
    let outcome: unknown;
    const pending = new MqttService(connection).request('svc/nobody', 1).catch((error: unknown) => (outcome = error));
    await flush();
    fake.subscribed[0].suback(1);
    await flush();
    fake.lastPublishTo('svc/nobody').ack(1);
    jest.advanceTimersByTime(9_999);
    await flush();
    expect(outcome).toBeUndefined();
    jest.advanceTimersByTime(1);
    await pending;
    expect(outcome).toMatchObject({ timedOut: true, message: "Request to 'svc/nobody' failed: no reply within 10000 ms" });
  });
});

describe('MqttConnection, close() bounded by one shutdownTimeout', () => {
  it('a stuck handler, an unacknowledged publish and a disconnect that never finishes take one shutdownTimeout in all, not one each', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick'] });
    const { connection, fake } = setup({ connect: 'background', shutdownTimeout: 1_000 });
    const { bound } = handler(); // never released
    connection.addRoute(parseTopicFilter('jobs/+'), bound);
    await connection.start();
    fake.simulateConnect();
    fake.deliver('jobs/1', 'stuck');
    const unacknowledged = connection.publish('t/1', 'a', { qos: 1 }).catch((error: unknown) => error);
    fake.endsAtOnce = false; // the graceful DISCONNECT never completes
    let closed = false;
    const closing = connection.close().then(() => (closed = true));
    await jest.advanceTimersByTimeAsync(999);
    expect(fake.endCalls).toEqual([]); // still waiting for the handler
    // The handler's wait ends at shutdownTimeout; what is left for the publishes and the graceful end is 0 ms
    // (Node runs a zero-delay timer after 1 ms). Each with a budget of its own would take until 3000 ms.
    await jest.advanceTimersByTimeAsync(1 + 2);
    expect(fake.endCalls.map((call) => call.force)).toEqual([false, true]);
    fake.endCalls[1].finish();
    await closing;
    expect(closed).toBe(true);
    expect(await unacknowledged).toBeInstanceOf(MqttPublishError);
  });
});
