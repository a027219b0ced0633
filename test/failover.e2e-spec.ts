import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { Test, type TestingModule } from '@nestjs/testing';
import { MqttModule, MqttService, OnSubscribe, OnTopic, type MqttModuleOptions, type TopicQos } from 'nestjs-mqtt';
import { MqttHealthIndicator } from 'nestjs-mqtt/terminus';
import { MosquittoBroker } from './fixtures/mosquitto.js';
import { mosquittoPub } from './fixtures/mosquitto-clients.js';
import { CaptureLogger } from './support/capture-logger.js';
import { Inbox } from './support/inbox.js';

/** Two private brokers, the nodes of a failover list. `b`'s plain listener needs credentials. */
let a: MosquittoBroker;
let b: MosquittoBroker;
const apps: TestingModule[] = [];

const received = new Inbox<{ topic: string; payload: unknown; server: string }>();
/** SUBACKs, with the broker the client was on: a subscription restored after failing over shows up here. */
const grants = new Inbox<{ server: string; filters: string[] }>();

@Injectable()
class Relay {
  constructor(private readonly mqtt: MqttService) {}

  @OnTopic('failover/+node', { qos: 1 })
  onMessage(payload: unknown, topic: string): void {
    received.push({ topic, payload, server: this.mqtt.server });
  }

  @OnSubscribe()
  onSubscribe(granted: TopicQos[]): void {
    grants.push({ server: this.mqtt.server, filters: granted.map((grant) => grant.topic) });
  }
}

@Injectable()
class SharedWorker {
  @OnTopic('jobs/+', { share: 'workers', qos: 1 })
  onJob(): void {}
}

beforeAll(async () => {
  [a, b] = await Promise.all([MosquittoBroker.start({ listeners: ['plain', 'tls'] }), MosquittoBroker.start({ listeners: ['auth', 'tls'] })]);
});
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  received.clear();
  grants.clear();
  // A test that stopped a broker leaves it stopped if it failed half-way.
  for (const broker of [a, b]) if (broker.pid === undefined) await broker.restart();
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
});

async function boot(options: MqttModuleOptions, logger: CaptureLogger, providers: Array<new (...args: never[]) => unknown> = [Relay]): Promise<TestingModule> {
  const app = await Test.createTestingModule({
    imports: [TerminusModule.forRoot({ logger: false }), MqttModule.forRoot({ reconnectPeriod: 100, ...options })],
    providers: [...providers, MqttHealthIndicator],
  })
    .setLogger(logger)
    .compile();
  apps.push(app);
  await app.init();
  return app;
}

/** `mqtt://127.0.0.1:<port>` with `user:password@` in it. */
function withCredentials(url: string, { username, password }: { username: string; password: string }): string {
  return url.replace('://', `://${username}:${password}@`);
}

describe('failover across brokers', () => {
  it('first broker down at start: app.init() connects to the next one; logs, describe() and health name it without credentials', async () => {
    await a.stop();
    const logger = new CaptureLogger();
    const app = await boot({ url: [a.url(), withCredentials(b.url('auth'), b.users.app)] }, logger);
    const mqtt = app.get(MqttService);

    expect(mqtt.server).toBe(b.url('auth'));
    expect(mqtt.describe()).toMatchObject({ url: b.url('auth'), servers: [a.url(), b.url('auth')], status: 'connected' });
    expect(logger.text()).toContain(`error: Client 'default' (${a.url()}): connect ECONNREFUSED`);
    expect(logger.text()).toContain(`log: Client 'default' connected to ${b.url('auth')}`);
    const health = await app.get(MqttHealthIndicator).isHealthy('mqtt');
    expect(health).toEqual({ mqtt: { status: 'up', client: 'default', state: 'connected', server: b.url('auth') } });

    // The decorated subscription was made on b: a device there reaches the handler.
    await mosquittoPub(b.ports.auth as number, 'failover/b', '{"n":1}', { qos: 1, ...b.users.app });
    expect(await received.waitFor(1)).toEqual([{ topic: 'failover/b', payload: { n: 1 }, server: b.url('auth') }]);

    const secret = b.users.app.password;
    expect(logger.text()).not.toContain(secret);
    expect(JSON.stringify(mqtt.describe())).not.toContain(secret);
    expect(JSON.stringify(health)).not.toContain(secret);
  });

  it('the current broker stops: the client moves to the next one with its own credentials, restores its subscriptions there, and wraps around', async () => {
    const logger = new CaptureLogger();
    const app = await boot({ servers: [{ url: a.url() }, { url: b.url('auth'), username: b.users.app.username, password: b.users.app.password }] }, logger);
    const mqtt = app.get(MqttService);
    const health = app.get(MqttHealthIndicator);
    expect(mqtt.server).toBe(a.url());
    await mosquittoPub(a.ports.plain as number, 'failover/a', '{"n":1}', { qos: 1 });
    await received.waitFor(1);

    await a.stop();
    await grants.until((items) => items.some((grant) => grant.server === b.url('auth') && grant.filters.includes('failover/+')));
    expect(logger.text()).toContain(`warn: Client 'default' lost its connection to ${a.url()}`);
    await logger.waitFor(`Client 'default' connected to ${b.url('auth')}`);
    expect(mqtt.describe().url).toBe(b.url('auth'));
    expect((await health.isHealthy('mqtt')).mqtt).toMatchObject({ status: 'up', server: b.url('auth') });
    await mosquittoPub(b.ports.auth as number, 'failover/b', '{"n":2}', { qos: 1, ...b.users.app });
    await received.waitFor(2);

    // From the last broker of the list, the next attempt goes to the first one again.
    await a.restart();
    grants.clear();
    await b.stop();
    await grants.until((items) => items.some((grant) => grant.server === a.url() && grant.filters.includes('failover/+')));
    await mosquittoPub(a.ports.plain as number, 'failover/a', '{"n":3}', { qos: 1 });
    expect(await received.waitFor(3)).toEqual([
      { topic: 'failover/a', payload: { n: 1 }, server: a.url() },
      { topic: 'failover/b', payload: { n: 2 }, server: b.url('auth') },
      { topic: 'failover/a', payload: { n: 3 }, server: a.url() },
    ]);
    expect(logger.text()).not.toContain(b.users.app.password);
  });

  it("gives each broker its own TLS options: trusting only each broker's own CA, the client fails over between them", async () => {
    const logger = new CaptureLogger();
    const app = await boot(
      {
        servers: [
          { url: a.url('tls'), tls: { ca: a.tls.ca } },
          { url: b.url('tls'), tls: { ca: b.tls.ca } },
        ],
        ...b.users.app,
      },
      logger,
    );
    const mqtt = app.get(MqttService);
    expect(mqtt.server).toBe(a.url('tls'));

    await a.stop();
    await grants.until((items) => items.some((grant) => grant.server === b.url('tls')));
    await mqtt.publish('failover/tls', { n: 1 }, { qos: 1 });
    expect(await received.waitFor(1)).toEqual([{ topic: 'failover/tls', payload: { n: 1 }, server: b.url('tls') }]);
    // b's certificate was verified against b's CA, fully: no verification warning, no TLS error.
    expect(logger.lines.filter((line) => line.level === 'warn' && line.text.includes('TLS'))).toEqual([]);
    expect(logger.text()).not.toMatch(/certificate|self.signed/i);
  });
});

describe('$share members and their sessions', () => {
  it('warns at bootstrap when a $share handler runs on a session that outlives a generated client id, and not on a clean session', async () => {
    const durable = new CaptureLogger();
    await boot({ url: a.url(), protocolVersion: 5, sessionExpiryInterval: 60 }, durable, [SharedWorker]);
    const warning = await durable.waitFor("'$share/workers/jobs/+' on a session the broker keeps for 60 s after a disconnect, under a generated client id");
    expect(warning.level).toBe('warn');
    expect(warning.text).toContain('stableClientId()');

    const clean = new CaptureLogger();
    await boot({ url: a.url(), protocolVersion: 5 }, clean, [SharedWorker]);
    expect(clean.text()).not.toContain('$share/workers');
  });
});
