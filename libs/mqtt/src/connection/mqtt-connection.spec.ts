import { afterEach, describe, expect, it, jest } from '@jest/globals';
import type { LoggerService } from '@nestjs/common';
import { FakeMqttClient } from '../../../../test/support/fake-mqtt-client.js';
import { MqttConnectionError } from '../errors/mqtt-connection.error.js';
import type { MqttStatus } from '../interfaces/mqtt-message.interface.js';
import type { MqttModuleOptions } from '../options/mqtt-module-options.interface.js';
import { resolveMqttOptions } from '../options/resolve-mqtt-options.js';
import { parseTopicFilter } from '../protocol/topic-filter.js';
import type { BoundHandler } from '../dispatch/message-dispatcher.js';
import { MqttConnection } from './mqtt-connection.js';

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
    connection.dispatcher.addTopicHandler(parseTopicFilter('jobs/+'), bound);
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
    connection.dispatcher.addTopicHandler(parseTopicFilter('jobs/+'), bound);
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
    connection.dispatcher.addTopicHandler(parseTopicFilter('jobs/+'), bound);
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
    connection.dispatcher.addTopicHandler(parseTopicFilter('a/+'), {
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
    connection.dispatcher.addTopicHandler(parseTopicFilter('jobs/+'), bound);
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
      connection.events.add(event, { label: `Spec#${event}`, call: (...args) => events.push([event, ...args]) });
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
