import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { firstValueFrom } from 'rxjs';
import { filter as where } from 'rxjs/operators';
import { MqttModule, MqttService, MqttSubscribeError, OnMessage, OnTopic, type MqttModuleOptions } from 'nestjs-mqtt';
import { CaptureLogger } from '../support/capture-logger.js';
import { unhandledRejections } from '../support/unhandled-rejections.js';
import { FakeBroker } from '../support/fake-broker.js';
import { Inbox } from '../support/inbox.js';

/**
 * Broker behaviours Mosquitto cannot be made to show (refused SUBACKs, scripted CONNACKs, a lost
 * UNSUBACK, copies chosen by the test), from a scripted broker on mqtt-packet.
 */
let broker: FakeBroker;
const apps: TestingModule[] = [];

beforeAll(async () => {
  broker = await FakeBroker.start();
});
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  broker.connack = [];
  broker.refuse.clear();
  broker.grantQos = undefined;
  broker.dropOnUnsubscribe = false;
});
afterAll(async () => {
  await broker.close();
});

const unhandled = unhandledRejections();

async function compile(providers: Array<new (...args: never[]) => unknown>, options: Partial<MqttModuleOptions> = {}): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({
    imports: [MqttModule.forRoot({ url: broker.url, protocolVersion: 5, reconnectPeriod: 50, ...options })],
    providers,
  })
    .setLogger(new CaptureLogger())
    .compile();
  apps.push(moduleRef);
  return moduleRef;
}

async function boot(providers: Array<new (...args: never[]) => unknown>, options: Partial<MqttModuleOptions> = {}): Promise<TestingModule> {
  const moduleRef = await compile(providers, options);
  await moduleRef.init();
  return moduleRef;
}

@Injectable()
class Fallback {
  readonly got = new Inbox<string>();
  @OnMessage()
  on(payload: string, topic: string): void {
    this.got.push(`${topic}:${payload}`);
  }
}

describe('subscriptions the broker refuses or downgrades', () => {
  it('after a refused wide filter, messages through the narrow fallback filter are handled', async () => {
    broker.refuse.add('a/#');
    const app = await boot([Fallback]);
    const mqtt = app.get(MqttService);
    const refused = await mqtt.subscribe('a/#').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(MqttSubscribeError);
    expect((refused as MqttSubscribeError).reasonCode).toBe(0x87);
    await mqtt.subscribe('a/b');
    await broker.deliver('a/b', 'one', { qos: 1 });
    expect(await app.get(Fallback).got.waitFor(1)).toEqual(['a/b:one']);
  });

  it('subscribe() and topics report the QoS the broker granted', async () => {
    broker.grantQos = 1;
    const app = await boot([]);
    const mqtt = app.get(MqttService);
    expect(await mqtt.subscribe('q/#', { qos: 2 })).toEqual([{ topic: 'q/#', qos: 1 }]);
    expect(mqtt.topics.get('q/#')).toEqual({ topic: 'q/#', qos: 1 });
  });

  it('a refused decorated subscription fails bootstrap and leaves no connection open', async () => {
    broker.refuse.add('secret/#');
    @Injectable()
    class Secret {
      @OnTopic('secret/#')
      on(): void {}
    }
    const app = await compile([Secret], { clientId: 'refused-boot' });
    const closed = broker.next('close', (event) => event.clientId === 'refused-boot');
    await expect(app.init()).rejects.toThrow(MqttSubscribeError);
    await closed;
    expect(broker.clients).not.toContain('refused-boot');
  });

  it('a bootstrap that fails after decorated subscriptions were asked for leaves no unhandled rejection', async () => {
    broker.connack = [0x84]; // MQTT 5 Unsupported Protocol Version: retrying cannot help
    @Injectable()
    class Decorated {
      @OnTopic('v/+')
      on(): void {}
    }
    const app = await compile([Decorated]);
    await expect(app.init()).rejects.toThrow(/Unsupported Protocol Version/);
    await app.close();
    expect(await unhandled.settled()).toEqual([]);
  });
});

describe('connection refusals that mean "try again later"', () => {
  it.each([
    [5, 'Server busy (0x89)', 0x89],
    [5, 'Server unavailable (0x88)', 0x88],
    [5, 'Quota exceeded (0x97)', 0x97],
    [5, 'Connection rate exceeded (0x9F)', 0x9f],
    [4, 'Server unavailable (3)', 3],
  ] as const)('MQTT %i: a CONNACK refusal %s once does not fail bootstrap; the client connects on the next attempt', async (protocolVersion, _name, code) => {
    broker.connack = [code];
    const app = await boot([], { protocolVersion });
    expect(app.get(MqttService).connected).toBe(true);
    expect(broker.received('connect').length).toBeGreaterThanOrEqual(2);
  });
});

describe("connect: 'background' and reconnectPeriod", () => {
  it.each([
    [5, 'Not authorized (0x87), then Bad user name or password (0x86)', [0x87, 0x86]],
    [4, 'Not authorized (5), then Bad user name or password (4)', [5, 4]],
  ] as const)("MQTT %i: connect: 'background' keeps retrying through refused CONNACKs (%s) until one is accepted", async (protocolVersion, _name, codes) => {
    broker.connack = [...codes];
    const clientId = `background-refused-${protocolVersion}`;
    const accepted = broker.next('connect', (event) => event.clientId === clientId && event.returnCode === 0);
    const app = await boot([], { protocolVersion, clientId, connect: 'background' });
    await accepted;
    const mqtt = app.get(MqttService);
    await firstValueFrom(mqtt.status$.pipe(where((status) => status === 'connected')));
    expect(broker.received('connect', clientId)).toHaveLength(codes.length + 1);
  });

  it('reconnectPeriod: 0 never reconnects after the connection drops, while a client with a period does, again and again', async () => {
    const once = await boot([], { clientId: 'no-reconnect', reconnectPeriod: 0 });
    const control = await boot([], { clientId: 'control', reconnectPeriod: 50 });
    const statuses: string[] = [];
    once.get(MqttService).status$.subscribe((status) => statuses.push(status));
    for (let drop = 0; drop < 3; drop++) {
      const back = broker.next('connect', (event) => event.clientId === 'control');
      await broker.dropClients();
      await back;
      await firstValueFrom(control.get(MqttService).status$.pipe(where((status) => status === 'connected')));
    }
    // The control client came back three times, each after a reconnectPeriod; the other never tried.
    expect(broker.received('connect', 'control')).toHaveLength(4);
    expect(broker.received('connect', 'no-reconnect')).toHaveLength(1);
    expect(once.get(MqttService).connected).toBe(false);
    expect(statuses).not.toContain('reconnecting');
    // Not replaced by the default (1000 ms, longer than this test waited): mqtt.js got 0, which schedules no attempt.
    expect(once.get(MqttService).client.options.reconnectPeriod).toBe(0);
  });
});

describe('offline publishing', () => {
  it('queueQos0Offline (default true): a QoS 0 publish made while offline is queued and sent after reconnecting', async () => {
    const app = await boot([], { clientId: 'qos0-offline' });
    const mqtt = app.get(MqttService);
    const offline = firstValueFrom(mqtt.status$.pipe(where((status) => status === 'offline')));
    await broker.dropClients();
    await offline;
    const arrived = broker.next('publish', (event) => event.clientId === 'qos0-offline' && event.packet.topic === 'offline/q0');
    const published = mqtt.publish('offline/q0', 'while offline');
    const { packet } = await arrived;
    expect(packet.qos).toBe(0);
    expect(packet.payload.toString()).toBe('while offline');
    await expect(published).resolves.toEqual({});
    expect(broker.received('connect', 'qos0-offline')).toHaveLength(2);
  });
});

describe('unsubscribe()', () => {
  it('an UNSUBSCRIBE cut off by a lost connection is sent again on reconnect of a durable session; the filter stays dropped', async () => {
    broker.dropOnUnsubscribe = true;
    const app = await boot([], { clientId: 'unsub-durable', clean: false });
    const mqtt = app.get(MqttService);
    await mqtt.subscribe('alerts/#');
    const reconnected = firstValueFrom(mqtt.status$.pipe(where((status) => status === 'offline')));
    await mqtt.unsubscribe('alerts/#');
    await reconnected;
    broker.dropOnUnsubscribe = false;
    const again = await broker.nextPacket('unsubscribe');
    expect(again.unsubscriptions).toEqual(['alerts/#']);
    await firstValueFrom(mqtt.status$.pipe(where((status) => status === 'connected')));
    expect(broker.subscriptions('unsub-durable').map((subscription) => subscription.filter)).not.toContain('alerts/#');
    expect(mqtt.topics.has('alerts/#')).toBe(false);
  });
});

describe('copies (MQTT 5)', () => {
  @Injectable()
  class Overlap {
    readonly hash = new Inbox<string>();
    readonly plus = new Inbox<string>();
    @OnTopic('c/#')
    onHash(payload: string): void {
      this.hash.push(payload);
    }
    @OnTopic('c/+/b')
    onPlus(payload: string): void {
      this.plus.push(payload);
    }
  }

  it('one copy per matching subscription, or one copy naming every identifier: each handler runs once', async () => {
    const app = await boot([Overlap]);
    const handlers = app.get(Overlap);
    const copies = await broker.deliver('c/a/b', 'per-subscription', { qos: 1 });
    expect(copies).toHaveLength(2);
    await broker.deliver('c/a/b', 'one-copy', { qos: 1, oneCopyPerClient: true });
    await broker.deliver('c/a/b', 'marker', { qos: 1, oneCopyPerClient: true });
    await handlers.hash.until((items) => items.includes('marker'));
    await handlers.plus.until((items) => items.includes('marker'));
    expect(handlers.hash.items).toEqual(['per-subscription', 'one-copy', 'marker']);
    expect(handlers.plus.items).toEqual(['per-subscription', 'one-copy', 'marker']);
  });

  it('a copy whose identifiers this process never handed out is routed by its topic', async () => {
    const app = await boot([Overlap], { clientId: 'old-ids' });
    const handlers = app.get(Overlap);
    await broker.deliverRaw('old-ids', { topic: 'c/x/b', payload: 'queued-by-v1', qos: 1, properties: { subscriptionIdentifier: [268_435_000, 268_435_001] } });
    await handlers.hash.waitFor(1);
    await handlers.plus.waitFor(1);
    expect(handlers.hash.items).toEqual(['queued-by-v1']);
    expect(handlers.plus.items).toEqual(['queued-by-v1']);
  });
});

describe('observe()', () => {
  it('every observer that joined before a refusal errors with it; observe() after close errors too', async () => {
    broker.refuse.add('o/#');
    const app = await boot([]);
    const mqtt = app.get(MqttService);
    const first = firstValueFrom(mqtt.observe('o/#')).catch((error: unknown) => error);
    const second = firstValueFrom(mqtt.observe('o/#')).catch((error: unknown) => error);
    expect(await first).toBeInstanceOf(MqttSubscribeError);
    expect(await second).toBeInstanceOf(MqttSubscribeError);
    await app.close();
    await expect(firstValueFrom(mqtt.observe('p/#'))).rejects.toThrow(MqttSubscribeError);
  });
});

describe('MQTT 5 topic aliases', () => {
  it('a message sent with a topic alias reaches the handler with its topic, in the packet too', async () => {
    @Injectable()
    class Aliased {
      readonly got = new Inbox<string>();
      @OnTopic('al/+')
      on(payload: string, topic: string, packet: { topic: string }): void {
        this.got.push(`${payload}@${topic}|${packet.topic}`);
      }
    }
    const app = await boot([Aliased], { clientId: 'aliased', clientOptions: { properties: { topicAliasMaximum: 10 } } });
    await broker.deliverRaw('aliased', { topic: 'al/1', payload: 'first', qos: 1, properties: { topicAlias: 1 } });
    await broker.deliverRaw('aliased', { topic: '', payload: 'second', qos: 1, properties: { topicAlias: 1 } });
    expect(await app.get(Aliased).got.waitFor(2)).toEqual(['first@al/1|al/1', 'second@al/1|al/1']);
  });
});
