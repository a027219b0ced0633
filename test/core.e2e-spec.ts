import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Inject, Injectable, Module, type ConfigurableModuleOptionsFactory } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import type { IPublishPacket, Packet } from 'mqtt';
import { firstValueFrom } from 'rxjs';
import { filter } from 'rxjs/operators';
import {
  MqttArgumentError,
  MqttConfigError,
  MqttConnectionError,
  InjectMqtt,
  getMqttToken,
  MqttHandlerError,
  MqttModule,
  MqttService,
  MqttTopicError,
  OnConnect,
  OnMessage,
  OnTopic,
  Packet as PacketParam,
  Payload,
  Topic,
  TopicParam,
  type MqttModuleOptions,
} from 'nestjs-mqtt';
import { mosquittoPub, mosquittoSub } from './fixtures/mosquitto-clients.js';
import { brokerSuite } from './support/broker-suite.js';
import { CaptureLogger } from './support/capture-logger.js';
import { Inbox } from './support/inbox.js';

interface Received {
  handler: string;
  topic: string;
  payload?: unknown;
  room?: string;
}

const suite = brokerSuite();
let port: number;
let app: TestingModule | undefined;

beforeAll(() => {
  port = suite.broker.ports.plain as number;
});
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** Shared by the handler classes of one app; the test awaits its contents. */
@Injectable()
class Recorder {
  readonly inbox = new Inbox<Received>();
}

/** Publishes a marker and waits for it, so every message sent before it has been handled. */
async function barrier(recorder: Recorder, topic = 'barrier/x'): Promise<void> {
  const before = recorder.inbox.items.filter((r) => r.handler === 'barrier').length;
  await mosquittoPub(port, topic, 'b');
  await waitUntil(recorder, () => recorder.inbox.items.filter((r) => r.handler === 'barrier').length > before);
}

/** Waits until `count` items other than barrier markers arrived (async handlers finish in any order). */
async function received(recorder: Recorder, count: number): Promise<Received[]> {
  const others = () => recorder.inbox.items.filter((r) => r.handler !== 'barrier');
  await waitUntil(recorder, () => others().length >= count);
  return others();
}

async function waitUntil(recorder: Recorder, done: () => boolean): Promise<void> {
  let count = recorder.inbox.items.length;
  while (!done()) {
    await recorder.inbox.waitFor(count + 1);
    count = recorder.inbox.items.length;
  }
}

@Injectable()
class BarrierHandler {
  constructor(private readonly recorder: Recorder) {}
  @OnTopic('barrier/+')
  onBarrier(_payload: unknown, topic: string): void {
    this.recorder.inbox.push({ handler: 'barrier', topic });
  }
}

async function boot(
  options: Partial<MqttModuleOptions>,
  metadata: { providers?: Array<new (...args: never[]) => unknown>; controllers?: Array<new (...args: never[]) => unknown> },
  beforeInit?: (moduleRef: TestingModule) => void,
): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({
    imports: [MqttModule.forRoot({ url: suite.broker.url(), ...options })],
    providers: [Recorder, BarrierHandler, ...(metadata.providers ?? [])],
    controllers: metadata.controllers ?? [],
  }).compile();
  app = moduleRef;
  beforeInit?.(moduleRef);
  await moduleRef.init();
  return moduleRef;
}

describe('MqttModule registration', () => {
  it('forRoot connects, reports status, and app.close() disconnects', async () => {
    const moduleRef = await boot({}, {});
    const mqtt = moduleRef.get(MqttService);
    expect(mqtt.connected).toBe(true);
    expect(await firstValueFrom(mqtt.status$)).toBe('connected');
    const closed = firstValueFrom(mqtt.status$.pipe(filter((s) => s === 'closed')));
    await moduleRef.close();
    app = undefined;
    expect(await closed).toBe('closed');
    expect(mqtt.connected).toBe(false);
    await expect(mqtt.publish('a/b', 'late')).rejects.toThrow(/client is closed/);
  });

  @Injectable()
  class BrokerConfig {
    url(): string {
      return suite.broker.url();
    }
  }
  @Module({ providers: [BrokerConfig], exports: [BrokerConfig] })
  class ConfigModule {}

  @Injectable()
  class MqttConfigFactory implements ConfigurableModuleOptionsFactory<MqttModuleOptions, 'create'> {
    constructor(private readonly config: BrokerConfig) {}
    create(): MqttModuleOptions {
      return { url: this.config.url() };
    }
  }
  @Module({ imports: [ConfigModule], providers: [MqttConfigFactory], exports: [MqttConfigFactory] })
  class FactoryModule {}

  const variants: Array<[string, () => ReturnType<typeof MqttModule.forRootAsync>]> = [
    [
      'useFactory',
      () => MqttModule.forRootAsync({ imports: [ConfigModule], inject: [BrokerConfig], useFactory: (config: BrokerConfig) => ({ url: config.url() }) }),
    ],
    ['useClass', () => MqttModule.forRootAsync({ imports: [ConfigModule], useClass: MqttConfigFactory })],
    ['useExisting', () => MqttModule.forRootAsync({ imports: [FactoryModule], useExisting: MqttConfigFactory })],
  ];

  it.each(variants)('forRootAsync with %s connects', async (_name, module) => {
    const moduleRef = await Test.createTestingModule({ imports: [module()] }).compile();
    app = moduleRef;
    await moduleRef.init();
    const mqtt = moduleRef.get(MqttService);
    expect(mqtt.connected).toBe(true);
    expect(await firstValueFrom(mqtt.status$)).toBe('connected');
  });

  it('refuses a URL without a scheme at bootstrap, naming the option', async () => {
    const compile = Test.createTestingModule({ imports: [MqttModule.forRoot({ url: `127.0.0.1:${port}` })] }).compile();
    await expect(compile).rejects.toThrow(MqttConfigError);
    await expect(Test.createTestingModule({ imports: [MqttModule.forRoot({ url: `127.0.0.1:${port}` })] }).compile()).rejects.toThrow(
      `Invalid MQTT option 'url': 127.0.0.1:${port} has no scheme; write it as mqtt://127.0.0.1:${port}`,
    );
  });

  it("connect: 'wait' fails within connectTimeout with the URL (no credentials) and the cause", async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [MqttModule.forRoot({ url: 'mqtt://user:hunter2@127.0.0.1:1', connectTimeout: 700, reconnectPeriod: 100 })],
    }).compile();
    app = moduleRef;
    const init = moduleRef.init();
    await expect(init).rejects.toThrow(MqttConnectionError);
    await expect(init).rejects.toThrow(/MQTT connection to mqtt:\/\/127\.0\.0\.1:1 failed: no CONNACK within 700 ms \(last error: .*ECONNREFUSED/);
    await init.catch((error: Error) => expect(error.message).not.toContain('hunter2'));
  });
});

describe('MqttModule registration: isGlobal, tokens, names', () => {
  @Injectable()
  class NeedsMqtt {
    constructor(readonly mqtt: MqttService) {}
  }
  @Module({ providers: [NeedsMqtt] })
  class Feature {}

  it('with isGlobal: false the client is not injectable in a module that does not import it', async () => {
    const compile = Test.createTestingModule({ imports: [MqttModule.forRoot({ url: suite.broker.url(), isGlobal: false }), Feature] }).compile();
    await expect(compile).rejects.toThrow(/can't resolve dependencies of the NeedsMqtt/);
    // The importing module itself gets it.
    const moduleRef = await Test.createTestingModule({
      imports: [MqttModule.forRoot({ url: suite.broker.url(), isGlobal: false })],
      providers: [NeedsMqtt],
    }).compile();
    app = moduleRef;
    await moduleRef.init();
    expect(moduleRef.get(NeedsMqtt).mqtt.connected).toBe(true);
  });

  it("getMqttToken() is the default client's token, getMqttToken('plant') the named client's, as @InjectMqtt('plant') injects", async () => {
    @Injectable()
    class Both {
      constructor(
        @Inject(getMqttToken()) readonly byDefaultToken: MqttService,
        @InjectMqtt('plant') readonly plant: MqttService,
      ) {}
    }
    const moduleRef = await Test.createTestingModule({
      imports: [MqttModule.forRoot({ url: suite.broker.url() }), MqttModule.forRoot({ name: 'plant', url: suite.broker.url() })],
      providers: [Both],
    }).compile();
    app = moduleRef;
    await moduleRef.init();
    expect(getMqttToken()).toBe(MqttService);
    const both = moduleRef.get(Both);
    expect(both.byDefaultToken).toBe(moduleRef.get(MqttService));
    expect(both.byDefaultToken.name).toBe('default');
    const plant = moduleRef.get<MqttService>(getMqttToken('plant'));
    expect(plant).toBe(both.plant);
    expect(plant.name).toBe('plant');
    expect(plant.connected).toBe(true);
  });

  it('refuses a second forRoot without a name, naming the option', async () => {
    const compile = Test.createTestingModule({
      imports: [MqttModule.forRoot({ url: suite.broker.url(), clientId: 'first' }), MqttModule.forRoot({ url: suite.broker.url(), clientId: 'second' })],
    }).compile();
    await expect(compile).rejects.toThrow(MqttConfigError);
    await expect(
      Test.createTestingModule({
        imports: [MqttModule.forRoot({ url: suite.broker.url(), clientId: 'first' }), MqttModule.forRoot({ url: suite.broker.url(), clientId: 'second' })],
      }).compile(),
    ).rejects.toThrow("Invalid MQTT option 'name': a client named 'default' is registered twice; give each MqttModule.forRoot() its own name");
  });
});

describe('decorated handlers', () => {
  @Injectable()
  class SensorHandlers {
    constructor(private readonly recorder: Recorder) {}

    @OnTopic('home/+room/temp', { payload: 'json' })
    onTemp(@Payload() payload: unknown, @Topic() topic: string, @TopicParam('room') room: string): void {
      this.recorder.inbox.push({ handler: 'temp', topic, payload, room });
    }

    @OnTopic('home/#')
    onAnyHome(payload: unknown, topic: string, packet: IPublishPacket): void {
      expect(packet.topic).toBe(topic);
      this.recorder.inbox.push({ handler: 'home#', topic, payload });
    }

    // One handler, two overlapping filters: still runs once per message.
    @OnTopic(['home/kitchen/+', 'home/+/temp'])
    onKitchenOrTemp(payload: unknown, topic: string): void {
      this.recorder.inbox.push({ handler: 'kitchen-or-temp', topic, payload });
    }

    @OnMessage()
    onOther(payload: unknown, topic: string): void {
      this.recorder.inbox.push({ handler: 'fallback', topic, payload });
    }
  }

  @Controller()
  class DeviceController {
    constructor(private readonly recorder: Recorder) {}

    @OnTopic('devices/+id/status')
    onStatus(@Payload() payload: unknown, @TopicParam('id') id: string, @PacketParam() packet: IPublishPacket): void {
      this.recorder.inbox.push({ handler: 'controller', topic: packet.topic, payload, room: id });
    }
  }

  @Injectable()
  class SecondStatusHandler {
    constructor(private readonly recorder: Recorder) {}
    @OnTopic('devices/+/status')
    onStatus(payload: unknown, topic: string): void {
      this.recorder.inbox.push({ handler: 'provider', topic, payload });
    }
  }

  it('delivers parsed JSON, the topic and named wildcard values; overlapping handlers each run once', async () => {
    const moduleRef = await boot({}, { providers: [SensorHandlers] });
    const recorder = moduleRef.get(Recorder);
    await mosquittoPub(port, 'home/kitchen/temp', JSON.stringify({ celsius: 21.5 }));
    await received(recorder, 3);
    await barrier(recorder);
    const got = recorder.inbox.items.filter((r) => r.handler !== 'barrier');
    expect(got).toHaveLength(3);
    expect(got).toEqual(
      expect.arrayContaining([
        { handler: 'temp', topic: 'home/kitchen/temp', payload: { celsius: 21.5 }, room: 'kitchen' },
        { handler: 'home#', topic: 'home/kitchen/temp', payload: { celsius: 21.5 } },
        { handler: 'kitchen-or-temp', topic: 'home/kitchen/temp', payload: { celsius: 21.5 } },
      ]),
    );
  });

  it('routes a message no filter matched to @OnMessage, and only such messages', async () => {
    const moduleRef = await boot({}, { providers: [SensorHandlers] });
    const mqtt = moduleRef.get(MqttService);
    const recorder = moduleRef.get(Recorder);
    await mqtt.subscribe('misc/#');
    await mosquittoPub(port, 'misc/thing', 'plain text');
    await mosquittoPub(port, 'home/hall/light', 'on');
    await barrier(recorder);
    const got = recorder.inbox.items.filter((r) => r.handler !== 'barrier');
    expect(got).toEqual([
      { handler: 'fallback', topic: 'misc/thing', payload: 'plain text' },
      { handler: 'home#', topic: 'home/hall/light', payload: 'on' },
    ]);
  });

  it('runs handlers on controllers and providers; two handlers on one filter cause one SUBSCRIBE', async () => {
    const sent: Packet[] = [];
    const moduleRef = await boot({}, { providers: [SecondStatusHandler], controllers: [DeviceController] }, (ref) => {
      ref.get(MqttService).client.on('packetsend', (packet: Packet) => sent.push(packet));
    });
    const recorder = moduleRef.get(Recorder);
    const subscribes = sent.filter((p) => p.cmd === 'subscribe');
    expect(subscribes).toHaveLength(1);
    const filters = subscribes.flatMap((p) => (p.cmd === 'subscribe' ? p.subscriptions.map((s) => s.topic) : []));
    expect(filters.sort()).toEqual(['barrier/+', 'devices/+/status']);
    await mosquittoPub(port, 'devices/d-7/status', '{"online":true}');
    await received(recorder, 2);
    await barrier(recorder);
    expect(recorder.inbox.items.filter((r) => r.handler !== 'barrier')).toEqual(
      expect.arrayContaining([
        { handler: 'controller', topic: 'devices/d-7/status', payload: { online: true }, room: 'd-7' },
        { handler: 'provider', topic: 'devices/d-7/status', payload: { online: true } },
      ]),
    );
    expect(recorder.inbox.items.filter((r) => r.handler !== 'barrier')).toHaveLength(2);
  });

  @Injectable()
  class QosZero {
    @OnTopic('qos/+', { qos: 0 })
    on(): void {}
  }
  @Injectable()
  class QosTwo {
    @OnTopic('qos/+', { qos: 2 })
    on(): void {}
  }
  @Injectable()
  class QosOne {
    @OnTopic('qos/+', { qos: 1 })
    on(): void {}
  }

  it('handlers of one filter asking for QoS 0, 2 and 1 make one subscription, at QoS 2', async () => {
    const sent: Packet[] = [];
    const moduleRef = await boot({}, { providers: [QosZero, QosTwo, QosOne] }, (ref) => {
      ref.get(MqttService).client.on('packetsend', (packet: Packet) => sent.push(packet));
    });
    const entries = sent.flatMap((p) => (p.cmd === 'subscribe' ? p.subscriptions : [])).filter((s) => s.topic === 'qos/+');
    expect(entries.map((s) => s.qos)).toEqual([2]);
    expect(moduleRef.get(MqttService).topics.get('qos/+')).toEqual({ topic: 'qos/+', qos: 2 });
  });

  @Injectable()
  class ShareOptOut {
    constructor(private readonly recorder: Recorder) {}
    @OnTopic('everyone/+', { share: false })
    onEveryone(_payload: unknown, topic: string): void {
      this.recorder.inbox.push({ handler: 'everyone', topic });
    }
    @OnTopic('work/+')
    onWork(_payload: unknown, topic: string): void {
      this.recorder.inbox.push({ handler: 'work', topic });
    }
  }

  it("share: false opts a handler out of the module's share group; the others subscribe in it", async () => {
    const sent: Packet[] = [];
    const moduleRef = await boot({ share: 'workers' }, { providers: [ShareOptOut] }, (ref) => {
      ref.get(MqttService).client.on('packetsend', (packet: Packet) => sent.push(packet));
    });
    const filters = sent.flatMap((p) => (p.cmd === 'subscribe' ? p.subscriptions.map((s) => s.topic) : []));
    expect(filters.sort()).toEqual(['$share/workers/barrier/+', '$share/workers/work/+', 'everyone/+']);
    const recorder = moduleRef.get(Recorder);
    await mosquittoPub(port, 'everyone/1', 'x');
    await mosquittoPub(port, 'work/1', 'x');
    await received(recorder, 2);
    expect(recorder.inbox.items.filter((r) => r.handler !== 'barrier')).toEqual([
      { handler: 'everyone', topic: 'everyone/1' },
      { handler: 'work', topic: 'work/1' },
    ]);
  });

  @Injectable()
  class ConnectWatcher {
    readonly connacks = new Inbox<boolean>();
    @OnConnect()
    onConnect(connack: { sessionPresent: boolean }): void {
      this.connacks.push(connack.sessionPresent);
    }
  }

  it('@OnConnect runs on the first connection', async () => {
    const moduleRef = await boot({}, { providers: [ConnectWatcher] });
    expect(await moduleRef.get(ConnectWatcher).connacks.waitFor(1)).toEqual([false]);
  });

  @Injectable()
  class FailingHandlers {
    constructor(private readonly recorder: Recorder) {}
    @OnTopic('fail/sync')
    throwsSync(): void {
      throw new Error('sync boom');
    }
    @OnTopic('fail/async')
    async rejects(): Promise<void> {
      await Promise.resolve();
      throw new Error('async boom');
    }
    @OnTopic('fail/+')
    alsoRuns(_payload: unknown, topic: string): void {
      this.recorder.inbox.push({ handler: 'survivor', topic });
    }
  }

  it('a handler that throws or rejects is logged with Class#method and topic; later messages still arrive', async () => {
    const logger = new CaptureLogger();
    const moduleRef = await Test.createTestingModule({
      imports: [MqttModule.forRoot({ url: suite.broker.url() })],
      providers: [Recorder, BarrierHandler, FailingHandlers],
    })
      .setLogger(logger)
      .compile();
    app = moduleRef;
    await moduleRef.init();
    const recorder = moduleRef.get(Recorder);
    await mosquittoPub(port, 'fail/sync', 'x');
    await mosquittoPub(port, 'fail/async', 'x');
    await mosquittoPub(port, 'fail/sync', 'x');
    await barrier(recorder);
    expect(recorder.inbox.items.filter((r) => r.handler === 'survivor').map((r) => r.topic)).toEqual(['fail/sync', 'fail/async', 'fail/sync']);
    const errors = logger.lines.filter((l) => l.level === 'error').map((l) => l.text);
    expect(errors.filter((t) => t.includes("FailingHandlers#throwsSync failed on 'fail/sync': sync boom"))).toHaveLength(2);
    expect(errors.filter((t) => t.includes("FailingHandlers#rejects failed on 'fail/async': async boom"))).toHaveLength(1);
    expect(moduleRef.get(MqttService).connected).toBe(true);
  });

  @Injectable()
  class OnDemandHandler {
    constructor(private readonly recorder: Recorder) {}
    @OnTopic('ondemand/+', { subscribe: false })
    onDemand(payload: unknown, topic: string): void {
      this.recorder.inbox.push({ handler: 'ondemand', topic, payload });
    }
  }

  it('a subscribe: false handler receives nothing until MqttService.subscribe adds its filter', async () => {
    const moduleRef = await boot({}, { providers: [OnDemandHandler] });
    const mqtt = moduleRef.get(MqttService);
    const recorder = moduleRef.get(Recorder);
    expect([...mqtt.topics.keys()]).toEqual(['barrier/+']);
    await mosquittoPub(port, 'ondemand/1', 'before');
    await barrier(recorder);
    expect(recorder.inbox.items.filter((r) => r.handler === 'ondemand')).toEqual([]);
    await mqtt.subscribe('ondemand/+', { qos: 1 });
    await mosquittoPub(port, 'ondemand/2', 'after');
    await barrier(recorder);
    expect(recorder.inbox.items.filter((r) => r.handler === 'ondemand')).toEqual([{ handler: 'ondemand', topic: 'ondemand/2', payload: 'after' }]);
  });

  it('reports a bad filter at bootstrap with the filter and Class#method', async () => {
    @Injectable()
    class BadFilter {
      @OnTopic('a/#/b')
      handle(): void {}
    }
    const moduleRef = await Test.createTestingModule({ imports: [MqttModule.forRoot({ url: suite.broker.url() })], providers: [BadFilter] }).compile();
    app = moduleRef;
    const init = moduleRef.init();
    await expect(init).rejects.toThrow(MqttTopicError);
    await expect(init).rejects.toThrow(`Invalid topic filter of BadFilter#handle "a/#/b": '#' must be the last level`);
  });

  it('refuses a @TopicParam name that the filter does not bind, naming the handler, the filter and the names it binds', async () => {
    @Injectable()
    class Rooms {
      @OnTopic('home/+room/temperature')
      handle(@TopicParam('rooms') _room: string): void {}
    }
    const moduleRef = await Test.createTestingModule({ imports: [MqttModule.forRoot({ url: suite.broker.url() })], providers: [Rooms] }).compile();
    app = moduleRef;
    const init = moduleRef.init();
    await expect(init).rejects.toThrow(MqttHandlerError);
    await expect(init).rejects.toThrow("Rooms#handle: @TopicParam('rooms') is not a named wildcard of 'home/+room/temperature': it binds 'room'");
  });

  it.each([
    ['a/b+', "'+' must occupy a whole level"],
    ['', 'must not be empty'],
  ])('refuses the filter %j at bootstrap', async (bad, reason) => {
    @Injectable()
    class BadFilter {
      @OnTopic(bad)
      handle(): void {}
    }
    const moduleRef = await Test.createTestingModule({ imports: [MqttModule.forRoot({ url: suite.broker.url() })], providers: [BadFilter] }).compile();
    app = moduleRef;
    await expect(moduleRef.init()).rejects.toThrow(new RegExp(`BadFilter#handle.*${reason.replace(/[+]/g, '\\+')}`));
  });

  it('refuses a handler bound to an unknown client, naming the client and the handler', async () => {
    @Injectable()
    class WrongClient {
      @OnTopic('x', { client: 'plant' })
      handle(): void {}
    }
    const moduleRef = await Test.createTestingModule({ imports: [MqttModule.forRoot({ url: suite.broker.url() })], providers: [WrongClient] }).compile();
    app = moduleRef;
    const init = moduleRef.init();
    await expect(init).rejects.toThrow(MqttHandlerError);
    await expect(init).rejects.toThrow("WrongClient#handle: uses the MQTT client 'plant', but no MqttModule.forRoot({ name: 'plant' }) is registered");
  });
});

describe('MqttService', () => {
  it('publishes every payload type as mosquitto_sub receives it; QoS 1 resolves with a message id', async () => {
    const moduleRef = await boot({}, {});
    const mqtt = moduleRef.get(MqttService);
    const sub = await mosquittoSub(port, 'out/#');
    try {
      const bytes = Buffer.from([0x00, 0xff, 0x10, 0x80]);
      await mqtt.publish('out/string', 'hello');
      await mqtt.publish('out/buffer', bytes);
      await mqtt.publish('out/uint8array', new Uint8Array([1, 2, 3]));
      await mqtt.publish('out/number', 21.5);
      await mqtt.publish('out/boolean', true);
      await mqtt.publish('out/object', { a: 1, b: [true, null] });
      await mqtt.publish('out/null', null);
      const qos1 = await mqtt.publish('out/qos1', 'acked', { qos: 1 });
      expect(qos1.messageId).toEqual(expect.any(Number));
      expect(await mqtt.publish('out/qos0', 'written')).toEqual({});
      const got = await sub.waitForCount(9);
      expect(got.map((m) => [m.topic, m.payload])).toEqual([
        ['out/string', Buffer.from('hello')],
        ['out/buffer', bytes],
        ['out/uint8array', Buffer.from([1, 2, 3])],
        ['out/number', Buffer.from('21.5')],
        ['out/boolean', Buffer.from('true')],
        ['out/object', Buffer.from('{"a":1,"b":[true,null]}')],
        ['out/null', Buffer.alloc(0)],
        ['out/qos1', Buffer.from('acked')],
        ['out/qos0', Buffer.from('written')],
      ]);
    } finally {
      await sub.stop();
    }
  });

  @Injectable()
  class RuntimeCollector {
    constructor(private readonly recorder: Recorder) {}
    @OnMessage()
    onAny(payload: unknown, topic: string): void {
      this.recorder.inbox.push({ handler: 'any', topic, payload });
    }
  }

  it('runtime subscribe, unsubscribe and unsubscribeAll change what arrives and what topics holds', async () => {
    const moduleRef = await boot({}, { providers: [RuntimeCollector] });
    const mqtt = moduleRef.get(MqttService);
    const recorder = moduleRef.get(Recorder);
    const granted = await mqtt.subscribe(['rt/a', 'rt/b/+'], { qos: 1 });
    expect(granted).toEqual([
      { topic: 'rt/a', qos: 1 },
      { topic: 'rt/b/+', qos: 1 },
    ]);
    await mqtt.subscribe('rt/a', { qos: 2 });
    expect(Object.fromEntries(mqtt.topics)).toEqual({
      'barrier/+': { topic: 'barrier/+', qos: 0 },
      'rt/a': { topic: 'rt/a', qos: 2 },
      'rt/b/+': { topic: 'rt/b/+', qos: 1 },
    });
    await mosquittoPub(port, 'rt/a', '1');
    await mosquittoPub(port, 'rt/b/x', '2');
    await barrier(recorder);
    await mqtt.unsubscribe('rt/a');
    expect([...mqtt.topics.keys()].sort()).toEqual(['barrier/+', 'rt/b/+']);
    await mosquittoPub(port, 'rt/a', '3');
    await mosquittoPub(port, 'rt/b/y', '4');
    await barrier(recorder);
    expect(recorder.inbox.items.filter((r) => r.handler === 'any').map((r) => r.payload)).toEqual([1, 2, 4]);

    await mqtt.unsubscribeAll();
    expect(mqtt.topics.size).toBe(0);
    const sub = await mosquittoSub(port, 'rt/#');
    try {
      await mosquittoPub(port, 'rt/b/z', '5');
      await sub.waitForCount(1); // the broker routed it; our client no longer holds rt/b/+
      await mqtt.subscribe('rt/check');
      const before = recorder.inbox.items.length;
      await mosquittoPub(port, 'rt/check', '6');
      await recorder.inbox.waitFor(before + 1);
      expect(recorder.inbox.items.at(-1)).toEqual({ handler: 'any', topic: 'rt/check', payload: 6 });
      expect(recorder.inbox.items.filter((r) => r.payload === 5)).toEqual([]);
    } finally {
      await sub.stop();
    }
  });

  const badPublishes: Array<[string, (mqtt: MqttService) => Promise<unknown>, new (...args: never[]) => Error, string]> = [
    ['a + wildcard', (m) => m.publish('a/+/b', 'x'), MqttTopicError, `Invalid topic "a/+/b": wildcards ('+', '#') are not allowed in a topic name (index 2)`],
    ['a # wildcard', (m) => m.publish('a/#', 'x'), MqttTopicError, 'wildcards'],
    ['a NUL', (m) => m.publish('a\u0000b', 'x'), MqttTopicError, 'control character U+0000 at index 1'],
    ['an empty topic', (m) => m.publish('', 'x'), MqttTopicError, 'Invalid topic "": a topic must not be empty'],
    ['a non-string topic', (m) => m.publish(42 as never, 'x'), MqttTopicError, 'Invalid topic number: a topic must be a string'],
    ['QoS 3', (m) => m.publish('a', 'x', { qos: 3 as never }), MqttArgumentError, "Invalid argument 'options.qos': must be 0, 1 or 2, got 3"],
    ['QoS "1"', (m) => m.publish('a', 'x', { qos: '1' as never }), MqttArgumentError, 'must be 0, 1 or 2, got "1"'],
    ['an unknown option', (m) => m.publish('a', 'x', { qso: 1 } as never), MqttArgumentError, "Invalid argument 'options.qso': unknown option"],
    ['properties on MQTT 3.1.1', (m) => m.publish('a', 'x', { properties: { contentType: 'x' } }), MqttArgumentError, "'options.properties'"],
    ['an undefined payload', (m) => m.publish('a', undefined as never), MqttArgumentError, "Invalid argument 'payload'"],
    ['a subscribe QoS -1', (m) => m.subscribe('a', { qos: -1 as never }), MqttArgumentError, 'must be 0, 1 or 2, got -1'],
    ['a subscribe filter a/#/b', (m) => m.subscribe('a/#/b'), MqttTopicError, "'#' must be the last level"],
  ];

  it.each(badPublishes)('refuses %s with a typed error and sends nothing', async (_name, call, type, message) => {
    const sent: Packet[] = [];
    const moduleRef = await boot({}, {});
    const mqtt = moduleRef.get(MqttService);
    mqtt.client.on('packetsend', (packet: Packet) => sent.push(packet));
    const result = call(mqtt);
    await expect(result).rejects.toThrow(type);
    await expect(result).rejects.toThrow(message);
    expect(sent.filter((p) => p.cmd === 'publish' || p.cmd === 'subscribe')).toEqual([]);
    expect(mqtt.connected).toBe(true);
  });
});
