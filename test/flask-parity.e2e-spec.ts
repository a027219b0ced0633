import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable, type LoggerService } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import type { IConnackPacket, MqttClient, Packet } from 'mqtt';
import { firstValueFrom } from 'rxjs';
import { filter } from 'rxjs/operators';
import {
  InjectMqtt,
  MQTT_LOG_DEBUG,
  MQTT_LOG_INFO,
  MqttConnectionError,
  MqttModule,
  MqttService,
  MqttSubscribeError,
  mqttOptionsFromEnv,
  OnConnect,
  OnDisconnect,
  OnError,
  OnLog,
  OnOffline,
  OnPublish,
  OnReconnect,
  OnSubscribe,
  OnTopic,
  OnUnsubscribe,
  type MqttModuleOptions,
} from 'nestjs-mqtt';
import { startEmbeddedBroker } from 'nestjs-mqtt/testing';
import { MosquittoBroker } from './fixtures/mosquitto.js';
import { mosquittoPub, mosquittoSub } from './fixtures/mosquitto-clients.js';
import { brokerSuite } from './support/broker-suite.js';
import { CaptureLogger } from './support/capture-logger.js';
import { Inbox } from './support/inbox.js';

const suite = brokerSuite({ listeners: ['plain', 'auth', 'tls', 'mtls', 'ws', 'wss'] });
let app: TestingModule | undefined;

afterEach(closeApp);

async function closeApp(): Promise<void> {
  const current = app;
  app = undefined;
  await current?.close();
}

async function boot(options: MqttModuleOptions, providers: Array<new (...args: never[]) => unknown> = [], logger?: LoggerService): Promise<TestingModule> {
  const builder = Test.createTestingModule({ imports: [MqttModule.forRoot(options)], providers });
  if (logger) builder.setLogger(logger);
  const moduleRef = await builder.compile();
  app = moduleRef;
  await moduleRef.init();
  return moduleRef;
}

async function bootFails(options: MqttModuleOptions, logger?: LoggerService): Promise<Error> {
  try {
    await boot(options, [], logger);
  } catch (error) {
    return error as Error;
  }
  throw new Error('bootstrap was expected to fail');
}

describe('authentication', () => {
  it('connects with a valid username and password', async () => {
    const { username, password } = suite.broker.users.app;
    const moduleRef = await boot({ url: suite.broker.url('auth'), username, password });
    expect(moduleRef.get(MqttService).connected).toBe(true);
  });

  it('refuses a wrong password at once with a clear error, not a silent retry loop', async () => {
    const error = await bootFails({ url: suite.broker.url('auth'), username: 'svc-app', password: 'wrong', connectTimeout: 5_000 });
    expect(error).toBeInstanceOf(MqttConnectionError);
    expect(error.message).toMatch(/MQTT connection to mqtt:\/\/127\.0\.0\.1:\d+ failed: Connection refused: Not authorized \(5\)/);
    expect(error.message).not.toContain('wrong');
  });
});

describe('TLS', () => {
  it('connects with the right CA, verifying the certificate (TLS 1.2 minimum)', async () => {
    const { username, password } = suite.broker.users.app;
    const moduleRef = await boot({ url: suite.broker.url('tls'), username, password, tls: { ca: suite.broker.tls.ca } });
    const mqtt = moduleRef.get(MqttService);
    expect(mqtt.connected).toBe(true);
    expect(mqtt.client.options.rejectUnauthorized).toBe(true);
    expect((mqtt.client.options as { minVersion?: string }).minVersion).toBe('TLSv1.2');
  });

  it('refuses a broker signed by another CA', async () => {
    const { username, password } = suite.broker.users.app;
    const error = await bootFails({ url: suite.broker.url('tls'), username, password, tls: { ca: suite.broker.tls.wrongCa } });
    expect(error).toBeInstanceOf(MqttConnectionError);
    expect(error.message).toMatch(/SELF_SIGNED_CERT_IN_CHAIN|self-signed certificate/);
  });

  it('refuses a certificate for another host name', async () => {
    const { username, password } = suite.broker.users.app;
    const error = await bootFails({ url: suite.broker.url('tls'), username, password, tls: { ca: suite.broker.tls.ca, servername: 'other.test' } });
    expect(error).toBeInstanceOf(MqttConnectionError);
    expect(error.message).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/);
  });

  it('with insecure: true (MQTT_TLS_INSECURE) still verifies the chain, skips only the host name, and warns at every connect', async () => {
    const logger = new CaptureLogger();
    const { username, password } = suite.broker.users.app;
    const untrusted = await bootFails({ url: suite.broker.url('tls'), username, password, insecure: true, connectTimeout: 3_000 });
    expect(untrusted).toBeInstanceOf(MqttConnectionError);
    const moduleRef = await boot(
      { url: suite.broker.url('tls'), username, password, insecure: true, tls: { ca: suite.broker.tls.ca, servername: 'other.test' }, reconnectPeriod: 100 },
      [],
      logger,
    );
    const mqtt = moduleRef.get(MqttService);
    expect(mqtt.connected).toBe(true);
    const warning = { level: 'warn', text: expect.stringContaining('TLS host-name check is OFF') };
    expect(logger.lines.filter((line) => line.text.includes('TLS host-name check is OFF'))).toEqual([warning]);
    mqtt.client.stream.destroy(); // a dropped connection: the client reconnects and warns again
    await logger.until((lines) => lines.filter((line) => line.text.includes('TLS host-name check is OFF')).length === 2);
  });

  it('with tls.rejectUnauthorized: false connects without a CA and warns that verification is off', async () => {
    const logger = new CaptureLogger();
    const { username, password } = suite.broker.users.app;
    const moduleRef = await boot({ url: suite.broker.url('tls'), username, password, tls: { rejectUnauthorized: false } }, [], logger);
    expect(moduleRef.get(MqttService).connected).toBe(true);
    expect(logger.lines).toContainEqual({ level: 'warn', text: expect.stringContaining('TLS certificate verification is OFF') });
  });

  it('mutual TLS: connects with a client certificate and is refused without one', async () => {
    const moduleRef = await boot({
      url: suite.broker.url('mtls'),
      tls: { ca: suite.broker.tls.ca, cert: suite.broker.tls.clientCert, key: suite.broker.tls.clientKey },
    });
    expect(moduleRef.get(MqttService).connected).toBe(true);
    await closeApp();
    const error = await bootFails({ url: suite.broker.url('mtls'), tls: { ca: suite.broker.tls.ca }, connectTimeout: 3_000 });
    expect(error).toBeInstanceOf(MqttConnectionError);
  });
});

describe('transports', () => {
  it('connects over ws://', async () => {
    const moduleRef = await boot({ url: suite.broker.url('ws') });
    const mqtt = moduleRef.get(MqttService);
    await mqtt.subscribe('ws/echo');
    const sub = await mosquittoSub(suite.broker.ports.plain as number, 'ws/#');
    await mqtt.publish('ws/echo', 'over websockets', { qos: 1 });
    expect((await sub.waitForCount(1))[0].payload.toString()).toBe('over websockets');
    await sub.stop();
  });

  it('connects over wss:// with the CA', async () => {
    const { username, password } = suite.broker.users.app;
    const moduleRef = await boot({ url: suite.broker.url('wss'), username, password, tls: { ca: suite.broker.tls.ca } });
    expect(moduleRef.get(MqttService).connected).toBe(true);
  });
});

describe('will', () => {
  const will = { topic: 'wills/device-1', payload: { online: false }, qos: 1 as const, retain: false };

  it('is published when the connection drops abruptly', async () => {
    const sub = await mosquittoSub(suite.broker.ports.plain as number, 'wills/#', { qos: 1 });
    try {
      const moduleRef = await boot({ url: suite.broker.url(), will, keepalive: 5 });
      // Destroy the socket without DISCONNECT, as a crash or a pulled cable would.
      (moduleRef.get(MqttService).client as MqttClient & { stream: { destroy(): void } }).stream.destroy();
      const [message] = await sub.waitForCount(1);
      expect(message).toEqual({ topic: 'wills/device-1', payload: Buffer.from('{"online":false}') });
    } finally {
      await sub.stop();
    }
  });

  it('is not published when app.close() disconnects gracefully', async () => {
    const sub = await mosquittoSub(suite.broker.ports.plain as number, 'wills/#', { qos: 1 });
    try {
      const moduleRef = await boot({ url: suite.broker.url(), will });
      expect(moduleRef.get(MqttService).connected).toBe(true);
      await closeApp();
      // A marker sent after the close: if the will had been published it would arrive first.
      await mosquittoPub(suite.broker.ports.plain as number, 'wills/marker', 'm', { qos: 1 });
      const [first] = await sub.waitForCount(1);
      expect(first.topic).toBe('wills/marker');
    } finally {
      await sub.stop();
    }
  });
});

describe("connect: 'background'", () => {
  @Injectable()
  class ConnectWatcher {
    readonly connects = new Inbox<IConnackPacket>();
    @OnConnect()
    onConnect(connack: IConnackPacket): void {
      this.connects.push(connack);
    }
  }

  it('boots with the broker down, then connects when it starts, firing @OnConnect', async () => {
    const later = await MosquittoBroker.start();
    try {
      await later.stop();
      const moduleRef = await boot({ url: later.url(), connect: 'background', reconnectPeriod: 100 }, [ConnectWatcher]);
      const mqtt = moduleRef.get(MqttService);
      expect(mqtt.connected).toBe(false);
      expect(moduleRef.get(ConnectWatcher).connects.items).toEqual([]);
      await later.restart();
      await moduleRef.get(ConnectWatcher).connects.waitFor(1, 10_000);
      expect(mqtt.connected).toBe(true);
    } finally {
      await closeApp();
      await later.close();
    }
  });
});

describe('named clients from a Flask-style environment', () => {
  @Injectable()
  class PlantHandlers {
    readonly received = new Inbox<string>();
    constructor(
      @InjectMqtt('plant') readonly plant: MqttService,
      readonly main: MqttService,
    ) {}

    @OnTopic('plant/+line/status', { client: 'plant' })
    onPlant(payload: unknown, topic: string): void {
      this.received.push(`plant:${topic}:${String(payload)}`);
    }

    @OnTopic('office/status')
    onOffice(payload: unknown, topic: string): void {
      this.received.push(`default:${topic}:${String(payload)}`);
    }
  }

  it('mqttOptionsFromEnv with two prefixes connects two named clients to two brokers', async () => {
    const second = await MosquittoBroker.start({ listeners: ['auth'] });
    try {
      const env = {
        MQTT_BROKER_URL: '127.0.0.1',
        MQTT_BROKER_PORT: String(suite.broker.ports.plain),
        MQTT_CLIENT_ID: 'office-1',
        MQTT_KEEPALIVE: '30',
        PLANT_BROKER_URL: '127.0.0.1',
        PLANT_BROKER_PORT: String(second.ports.auth),
        PLANT_USERNAME: second.users.app.username,
        PLANT_PASSWORD: second.users.app.password,
        PLANT_CLEAN_SESSION: 'false',
        PLANT_CLIENT_ID: 'plant-1',
      };
      const moduleRef = await Test.createTestingModule({
        imports: [MqttModule.forRoot(mqttOptionsFromEnv(env)), MqttModule.forRoot({ name: 'plant', ...mqttOptionsFromEnv(env, 'PLANT') })],
        providers: [PlantHandlers],
      }).compile();
      app = moduleRef;
      await moduleRef.init();
      const handlers = moduleRef.get(PlantHandlers);
      expect(handlers.plant.name).toBe('plant');
      expect(handlers.plant.client.options.clientId).toBe('plant-1');
      expect(handlers.main.client.options.clientId).toBe('office-1');
      expect([...handlers.plant.topics.keys()]).toEqual(['plant/+/status']);
      expect([...handlers.main.topics.keys()]).toEqual(['office/status']);
      await mosquittoPub(second.ports.auth as number, 'plant/l1/status', 'running', {
        username: second.users.app.username,
        password: second.users.app.password,
      });
      await mosquittoPub(suite.broker.ports.plain as number, 'office/status', 'open');
      expect((await handlers.received.waitFor(2)).sort()).toEqual(['default:office/status:open', 'plant:plant/l1/status:running']);
    } finally {
      await closeApp();
      await second.close();
    }
  });
});

describe('event decorators', () => {
  @Injectable()
  class EventLog {
    readonly events = new Inbox<[string, ...unknown[]]>();
    @OnConnect() connect(connack: IConnackPacket): void {
      this.events.push(['connect', connack.cmd]);
    }
    @OnDisconnect() disconnect(info: unknown): void {
      this.events.push(['disconnect', info]);
    }
    @OnReconnect() reconnect(): void {
      this.events.push(['reconnect']);
    }
    @OnOffline() offline(): void {
      this.events.push(['offline']);
    }
    @OnError() error(error: Error): void {
      this.events.push(['error', error instanceof Error]);
    }
    @OnPublish() publish(info: unknown): void {
      this.events.push(['publish', info]);
    }
    @OnSubscribe() subscribe(granted: unknown): void {
      this.events.push(['subscribe', granted]);
    }
    @OnUnsubscribe() unsubscribe(filters: unknown): void {
      this.events.push(['unsubscribe', filters]);
    }
    @OnLog() log(level: number, message: string): void {
      if (level === MQTT_LOG_INFO && message.includes('connected')) this.events.push(['log', level]);
    }
  }

  it('each fires with its documented arguments', async () => {
    const moduleRef = await boot({ url: suite.broker.url(), reconnectPeriod: 100 }, [EventLog]);
    const mqtt = moduleRef.get(MqttService);
    const log = moduleRef.get(EventLog).events;
    const names = () => log.items.map(([name]) => name);
    await mqtt.subscribe('ev/+', { qos: 1 });
    const { messageId } = await mqtt.publish('ev/a', 'x', { qos: 1 });
    await mqtt.unsubscribe('ev/+');
    expect(log.items).toEqual(
      expect.arrayContaining([
        ['connect', 'connack'],
        ['log', MQTT_LOG_INFO],
        ['subscribe', [{ topic: 'ev/+', qos: 1 }]],
        ['publish', { topic: 'ev/a', messageId }],
        ['unsubscribe', ['ev/+']],
      ]),
    );
    const reconnected = firstValueFrom(mqtt.status$.pipe(filter((status) => status === 'reconnecting')));
    (mqtt.client as MqttClient & { stream: { destroy(): void } }).stream.destroy();
    await reconnected;
    await firstValueFrom(mqtt.status$.pipe(filter((status) => status === 'connected')));
    expect(names()).toEqual(expect.arrayContaining(['disconnect', 'offline', 'reconnect']));
    expect(names().filter((name) => name === 'connect')).toHaveLength(2);
    expect(log.items.find(([name]) => name === 'disconnect')).toEqual(['disconnect', { packet: undefined }]);
  });

  it('@OnError gets client errors', async () => {
    const embedded = await startEmbeddedBroker({ aedes: { authenticate: (_client, _user, _pass, done) => done(null, false) } });
    try {
      const moduleRef = await Test.createTestingModule({
        imports: [MqttModule.forRoot({ url: embedded.url, connect: 'background' })],
        providers: [EventLog],
      }).compile();
      app = moduleRef;
      await moduleRef.init();
      const [[name, isError]] = await moduleRef.get(EventLog).events.waitFor(1);
      expect([name, isError]).toEqual(['error', true]);
    } finally {
      await closeApp();
      await embedded.close();
    }
  });
});

describe('subscriptions across reconnects', () => {
  @Injectable()
  class Restored {
    readonly received = new Inbox<string>();
    @OnTopic('restore/decorated', { qos: 1 })
    onDecorated(payload: unknown): void {
      this.received.push(`decorated:${String(payload)}`);
    }
    @OnTopic('restore/runtime/+', { subscribe: false })
    onRuntime(payload: unknown): void {
      this.received.push(`runtime:${String(payload)}`);
    }
  }

  it('after a broker restart every filter is subscribed again exactly once, with its QoS', async () => {
    const restarting = await MosquittoBroker.start();
    try {
      const sent: Packet[] = [];
      const moduleRef = await boot({ url: restarting.url(), reconnectPeriod: 100 }, [Restored]);
      const mqtt = moduleRef.get(MqttService);
      await mqtt.subscribe('restore/runtime/+', { qos: 2 });
      await mqtt.subscribe('restore/dropped');
      await mqtt.unsubscribe('restore/dropped');
      mqtt.client.on('packetsend', (packet: Packet) => sent.push(packet));

      const back = firstValueFrom(mqtt.status$.pipe(filter((s) => s === 'offline')));
      await restarting.restart();
      await back;
      const granted = new Inbox<unknown>();
      mqtt.client.on('packetreceive', (packet: Packet) => packet.cmd === 'suback' && granted.push(packet));
      await granted.waitFor(1, 10_000);

      const subscribes = sent.filter((p): p is Extract<Packet, { cmd: 'subscribe' }> => p.cmd === 'subscribe');
      expect(subscribes).toHaveLength(1);
      expect(subscribes[0].subscriptions.map((s) => [s.topic, s.qos]).sort()).toEqual([
        ['restore/decorated', 1],
        ['restore/runtime/+', 2],
      ]);
      await mosquittoPub(restarting.ports.plain as number, 'restore/decorated', 'a', { qos: 1 });
      await mosquittoPub(restarting.ports.plain as number, 'restore/runtime/x', 'b', { qos: 1 });
      expect((await moduleRef.get(Restored).received.waitFor(2)).sort()).toEqual(['decorated:a', 'runtime:b']);
      expect(Object.fromEntries(mqtt.topics)).toEqual({
        'restore/decorated': { topic: 'restore/decorated', qos: 1 },
        'restore/runtime/+': { topic: 'restore/runtime/+', qos: 2 },
      });
    } finally {
      await closeApp();
      await restarting.close();
    }
  });

  it('a refused subscription (SUBACK 0x80) rejects with a typed error and is not recorded', async () => {
    const embedded = await startEmbeddedBroker({
      aedes: { authorizeSubscribe: (_client, subscription, done) => done(null, subscription.topic.startsWith('forbidden/') ? null : subscription) },
    });
    try {
      const moduleRef = await boot({ url: embedded.url });
      const mqtt = moduleRef.get(MqttService);
      const refused = mqtt.subscribe('forbidden/x');
      await expect(refused).rejects.toThrow(MqttSubscribeError);
      await expect(refused).rejects.toThrow("Subscription to 'forbidden/x' failed: refused by the broker (SUBACK 0x80)");
      expect(mqtt.topics.has('forbidden/x')).toBe(false);
      await expect(mqtt.subscribe('allowed/x')).resolves.toEqual([{ topic: 'allowed/x', qos: 0 }]);
    } finally {
      await closeApp();
      await embedded.close();
    }
  });
});

describe('logging', () => {
  it('logs packets at debug level with every secret redacted', async () => {
    const logger = new CaptureLogger();
    const secret = suite.broker.users.app.password;
    const moduleRef = await boot({ url: `mqtt://svc-app:${secret}@127.0.0.1:${suite.broker.ports.auth}`, logging: true }, [], logger);
    await moduleRef.get(MqttService).publish('log/test', 'payload', { qos: 1 });
    await closeApp();
    await bootFails({ url: suite.broker.url('auth'), username: 'svc-app', password: 'other-secret-pw', logging: true }, logger);
    await closeApp();
    await bootFails({ url: suite.broker.url('tls'), username: 'svc-app', password: secret, logging: true, tls: { ca: suite.broker.tls.wrongCa } }, logger);
    await closeApp();
    // MQTT 5 enhanced authentication: Mosquitto without an auth plugin refuses the method, after the CONNECT
    // (with its authentication data) went through the packet log.
    const authData = 'auth-data-secret-1234';
    const refused = await bootFails(
      {
        url: suite.broker.url(),
        protocolVersion: 5,
        logging: true,
        clientOptions: { properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: Buffer.from(authData) } },
      },
      logger,
    );
    expect(refused).toBeInstanceOf(MqttConnectionError);

    const debug = logger.lines.filter((line) => line.level === 'debug').map((line) => line.text);
    expect(debug.some((text) => text.includes("cmd: 'connect'") || text.includes('connect'))).toBe(true);
    expect(debug.some((text) => text.includes('[redacted]'))).toBe(true);
    const all = logger.text();
    expect(all).not.toContain(secret);
    expect(all).not.toContain('other-secret-pw');
    expect(debug.some((text) => text.includes('SCRAM-SHA-256'))).toBe(true); // the CONNECT was logged
    for (const encoding of ['utf8', 'hex', 'base64'] as const) expect(all).not.toContain(Buffer.from(authData).toString(encoding));
    expect(MQTT_LOG_DEBUG).toBe(0x10);
  });
});
