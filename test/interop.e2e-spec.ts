// The broker interop matrix: one suite of broker-facing behaviours against every broker of
// test/fixtures/brokers (Mosquitto with MQTT 5 and 3.1.1, aedes, an own NATS node and an own ejabberd node in
// `npm test`; an own RabbitMQ node with `npm run test:interop:rabbitmq`). Where a broker lacks a feature, the test
// asserts what the library does about it (a typed error, a warning naming the filter, or the documented
// degradation of docs/brokers.md); nothing is skipped.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  MqttConnectionError,
  MqttModule,
  MqttPublishError,
  MqttService,
  MqttSubscribeError,
  OnTopic,
  TopicParam,
  Payload,
  type MqttModuleOptions,
} from 'nestjs-mqtt';
import { selectedBrokers, type BrokerUnderTest } from './fixtures/brokers/index.js';
import { MosquittoBroker } from './fixtures/mosquitto.js';
import { CaptureLogger } from './support/capture-logger.js';
import { FakeBroker } from './support/fake-broker.js';
import { Inbox } from './support/inbox.js';

/** Starting a broker node (ejabberd's Erlang VM, a NATS JetStream store) on a loaded 2-core machine: a hang guard. */
const START_TIMEOUT_MS = 60_000;

interface Seen {
  handler: string;
  topic: string;
  payload: unknown;
  device?: string;
}
const seen = new Inbox<Seen>();

@Injectable()
class Readings {
  @OnTopic('interop/+device/reading', { qos: 1 })
  onReading(@Payload() payload: unknown, @TopicParam('device') device: string): void {
    seen.push({ handler: 'reading', topic: `interop/${device}/reading`, payload, device });
  }

  @OnTopic('interop/retained/+', { qos: 1 })
  onRetained(payload: unknown, topic: string): void {
    seen.push({ handler: 'retained', topic, payload });
  }

  @OnTopic('interop/exactly-once', { qos: 2 })
  onExactlyOnce(payload: unknown, topic: string): void {
    seen.push({ handler: 'qos2', topic, payload });
  }
}

@Injectable()
class RetainedExact {
  @OnTopic('interop/retained/exact', { qos: 1 })
  onRetained(payload: unknown, topic: string): void {
    seen.push({ handler: 'retained', topic, payload });
  }
}

@Injectable()
class Shared {
  @OnTopic('interop/jobs/+', { qos: 1, share: 'workers' })
  onJob(payload: unknown, topic: string): void {
    seen.push({ handler: 'shared', topic, payload });
  }
}

/**
 * The same topics without a group, in an app of its own: on MQTT 3.1.1 a copy names no subscription, so in one
 * client a plain subscription's copy would also run the group's handler (routing is by topic there).
 */
@Injectable()
class Witness {
  @OnTopic('interop/jobs/+', { qos: 1 })
  onAnyJob(payload: unknown, topic: string): void {
    seen.push({ handler: 'plain', topic, payload });
  }
}

@Injectable()
class Responder {
  @OnTopic('interop/double', { reply: true })
  double(value: number): number {
    return value * 2;
  }
}

describe.each(selectedBrokers().map((descriptor) => [descriptor.name, descriptor] as const))('%s', (_name, descriptor) => {
  let broker: BrokerUnderTest;
  const apps: TestingModule[] = [];

  beforeAll(async () => {
    broker = await descriptor.start();
  }, START_TIMEOUT_MS);
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
    seen.clear();
  });
  afterAll(async () => {
    await broker?.close();
  }, 30_000);

  async function boot(
    providers: Array<new (...args: never[]) => unknown>,
    options: Partial<MqttModuleOptions> = {},
    logger = new CaptureLogger(),
  ): Promise<TestingModule> {
    const app = await Test.createTestingModule({
      imports: [
        MqttModule.forRoot({
          url: broker.url,
          username: broker.username,
          password: broker.password,
          protocolVersion: descriptor.protocolVersion,
          reconnectPeriod: 200,
          ...options,
        }),
      ],
      providers,
    })
      .setLogger(logger)
      .compile();
    apps.push(app);
    await app.init();
    return app;
  }

  it('handlers get QoS 0 and QoS 1 messages the app publishes, with named wildcards bound', async () => {
    const app = await boot([Readings]);
    const mqtt = app.get(MqttService);
    await mqtt.publish('interop/d1/reading', { t: 21.5 }, { qos: 0 });
    await mqtt.publish('interop/d2/reading', { t: 22.5 }, { qos: 1 });
    const got = await seen.waitFor(2);
    expect(got.map(({ device, payload }) => ({ device, payload })).sort((a, b) => String(a.device).localeCompare(String(b.device)))).toEqual([
      { device: 'd1', payload: { t: 21.5 } },
      { device: 'd2', payload: { t: 22.5 } },
    ]);
  });

  const { qos2, share, mqtt5, retainedOnWildcard } = descriptor.capabilities;

  it(`a retained message reaches a handler of an app that starts later (${retainedOnWildcard ? 'a wildcard filter' : 'an exact topic: the broker keeps none for wildcards'})`, async () => {
    const topic = retainedOnWildcard ? 'interop/retained/r1' : 'interop/retained/exact';
    const publisher = await boot([]);
    await publisher.get(MqttService).publish(topic, 'kept', { qos: 1, retain: true });
    await boot([retainedOnWildcard ? Readings : RetainedExact]);
    const [got] = await seen.waitFor(1);
    expect(got).toEqual({ handler: 'retained', topic, payload: 'kept' });
    // Clear it, so that a rerun on a persistent broker starts clean.
    await publisher.get(MqttService).publish(topic, '', { qos: 1, retain: true });
  });

  if (qos2 === 'exactly-once') {
    it('QoS 2: granted 2, and a QoS 2 publish is handled once', async () => {
      const app = await boot([Readings]);
      const mqtt = app.get(MqttService);
      expect(mqtt.describe().subscriptions.find((entry) => entry.filter === 'interop/exactly-once')?.granted).toBe(2);
      await mqtt.publish('interop/exactly-once', 'once', { qos: 2 });
      await expect(seen.waitFor(1)).resolves.toEqual([{ handler: 'qos2', topic: 'interop/exactly-once', payload: 'once' }]);
    });
  } else {
    it('QoS 2: a lower grant is warned about, naming the filter and both levels; describe() shows it', async () => {
      const logger = new CaptureLogger();
      const app = await boot([Readings], {}, logger);
      const line = await logger.waitFor("'interop/exactly-once'");
      expect(line.level).toBe('warn');
      expect(line.text).toMatch(/QoS 2.*QoS 1|granted QoS 1/);
      expect(
        app
          .get(MqttService)
          .describe()
          .subscriptions.find((entry) => entry.filter === 'interop/exactly-once')?.granted,
      ).toBe(1);
    });
  }

  if (qos2 === 'closes-connection') {
    it('QoS 2: a publish the broker answers by closing the connection fails with MqttPublishError instead of a reconnect loop', async () => {
      // NATS 2.9 closes the connection on a QoS 2 PUBLISH; mqtt.js would send it again on every reconnect.
      const app = await boot([Readings]);
      const mqtt = app.get(MqttService);
      const error = await mqtt.publish('interop/exactly-once', 'lost?', { qos: 2 }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(MqttPublishError);
      expect(String((error as Error).message)).toMatch(/interop\/exactly-once.*QoS 2/);
      // It left mqtt.js's store: the client stays connected and the next publish goes through, once the clean
      // session's subscription is granted again (it resolves at once if it already is).
      await mqtt.subscribe('interop/+/reading', { qos: 1 });
      await mqtt.publish('interop/d3/reading', 3, { qos: 1 });
      await expect(seen.waitFor(1, 10_000)).resolves.toEqual([{ handler: 'reading', topic: 'interop/d3/reading', payload: 3, device: 'd3' }]);
    });
  }

  if (qos2 === 'granted-as-1') {
    it('QoS 2: a QoS 2 publish settles and its message is handled (at QoS 1 at most)', async () => {
      const app = await boot([Readings]);
      await app.get(MqttService).publish('interop/exactly-once', 'at most 1', { qos: 2 });
      await expect(seen.waitFor(1)).resolves.toEqual([{ handler: 'qos2', topic: 'interop/exactly-once', payload: 'at most 1' }]);
    });
  }

  if (share === 'split') {
    it('$share: two apps in one group split the messages, each handled once', async () => {
      await boot([Shared]);
      await boot([Shared]);
      const publisher = await boot([Witness]);
      for (let i = 0; i < 10; i++) await publisher.get(MqttService).publish(`interop/jobs/${i}`, i, { qos: 1 });
      // The witness got all ten: the broker has routed every one of them, to the group too.
      await seen.until(
        (items) => items.filter((item) => item.handler === 'plain').length === 10 && items.filter((item) => item.handler === 'shared').length >= 10,
      );
      const shared = seen.items.filter((item) => item.handler === 'shared').map((item) => item.payload);
      expect([...shared].sort((a, b) => Number(a) - Number(b))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });
  }

  if (share === 'refused') {
    it('$share: a broker whose CONNACK has no shared subscriptions gets no $share SUBSCRIBE: a typed refusal naming the filter, and the connection stays up', async () => {
      // A decorated $share handler fails the bootstrap (connect: 'wait'), like any refused subscription.
      const error = await boot([Shared]).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(MqttSubscribeError);
      expect(String((error as Error).message)).toMatch(/\$share\/workers\/interop\/jobs\/\+.*shared subscriptions/);
      // At run time: the promise rejects, and the client stays connected with its other subscriptions.
      const app = await boot([Witness]);
      const mqtt = app.get(MqttService);
      await expect(mqtt.subscribe('$share/other/interop/x')).rejects.toThrow(/shared subscriptions/);
      await mqtt.publish('interop/jobs/1', 1, { qos: 1 });
      await expect(seen.waitFor(1)).resolves.toEqual([{ handler: 'plain', topic: 'interop/jobs/1', payload: 1 }]);
      expect(mqtt.stats().reconnects).toBe(0);
    });
  }

  if (share === 'literal') {
    it('$share: a broker that takes it as a literal topic delivers nothing to the group (documented in docs/brokers.md)', async () => {
      await boot([Shared]);
      const witness = await boot([Witness]);
      const mqtt = witness.get(MqttService);
      await mqtt.publish('interop/jobs/1', 1, { qos: 1 });
      await mqtt.publish('interop/jobs/2', 2, { qos: 1 });
      // Both reached the witness: the broker routed them, and gave the group's literal filter nothing.
      await seen.until((items) => items.filter((item) => item.handler === 'plain').length === 2);
      expect(seen.items.filter((item) => item.handler === 'shared')).toEqual([]);
    });
  }

  if (!mqtt5) {
    it('an MQTT 5 client gets MqttConnectionError naming the protocol version (a refusing CONNACK, or a closed connection and the hint)', async () => {
      const error = await boot([], { protocolVersion: 5, connectTimeout: 5_000 }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(MqttConnectionError);
      expect(String((error as Error).message)).toMatch(/protocol/i);
    });
  }

  if (descriptor.name.includes('MQTT 5')) {
    it('request() gets the reply of a handler (MQTT 5 response topic and correlation data)', async () => {
      await boot([Responder]);
      const client = await boot([]);
      await expect(client.get(MqttService).request('interop/double', 21, { timeout: 5_000 })).resolves.toBe(42);
    });
  }
});

// MQTT 5 brokers may announce in their CONNACK what they lack; sending it anyway is a protocol error that closes the
// connection. Mosquitto announces max_qos and retain_available; the others are scripted (test/faults/scripted-broker).
describe('an MQTT 5 CONNACK with limits (Mosquitto with max_qos 1 and retain_available false)', () => {
  let broker: MosquittoBroker;
  const apps: TestingModule[] = [];

  beforeAll(async () => {
    broker = await MosquittoBroker.start({ listenerConfig: ['max_qos 1', 'retain_available false'] });
  });
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
    seen.clear();
  });
  afterAll(async () => {
    await broker?.close();
  });

  it('refuses a QoS 2 and a retained publish with MqttPublishError naming the CONNACK, before the wire; the connection stays up', async () => {
    const app = await Test.createTestingModule({
      imports: [MqttModule.forRoot({ url: broker.url(), protocolVersion: 5 })],
      providers: [Readings],
    })
      .setLogger(new CaptureLogger())
      .compile();
    apps.push(app);
    await app.init();
    const mqtt = app.get(MqttService);
    await expect(mqtt.publish('interop/exactly-once', 'two', { qos: 2 })).rejects.toThrow(
      "Publish to 'interop/exactly-once' failed: the broker accepts QoS 1 at most (its CONNACK says Maximum QoS: 1)",
    );
    await expect(mqtt.publish('interop/retained/r2', 'kept', { qos: 1, retain: true })).rejects.toThrow('its CONNACK says Retain Available: 0');
    await mqtt.publish('interop/d4/reading', 4, { qos: 1 });
    await expect(seen.waitFor(1)).resolves.toEqual([{ handler: 'reading', topic: 'interop/d4/reading', payload: 4, device: 'd4' }]);
    expect(mqtt.stats().reconnects).toBe(0);
    expect(mqtt.stats().messages).toMatchObject({ published: 1, publishFailed: 2 });
  });
});

describe('an MQTT 5 CONNACK without subscription identifiers or wildcard subscriptions (scripted broker)', () => {
  let broker: FakeBroker;
  const apps: TestingModule[] = [];

  beforeAll(async () => {
    broker = await FakeBroker.start({ connackProperties: { subscriptionIdentifiersAvailable: false, wildcardSubscriptionAvailable: false } });
  });
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
    seen.clear();
  });
  afterAll(async () => {
    await broker?.close();
  });

  async function boot(providers: Array<new (...args: never[]) => unknown>): Promise<TestingModule> {
    const app = await Test.createTestingModule({ imports: [MqttModule.forRoot({ url: broker.url, protocolVersion: 5 })], providers })
      .setLogger(new CaptureLogger())
      .compile();
    apps.push(app);
    await app.init();
    return app;
  }

  it('subscribes without an identifier and routes copies by their topic', async () => {
    await boot([RetainedExact]);
    const [subscribe] = broker.received('subscribe');
    expect(subscribe.properties?.subscriptionIdentifier).toBeUndefined();
    await broker.deliver('interop/retained/exact', 'routed', { qos: 1 });
    await expect(seen.waitFor(1)).resolves.toEqual([{ handler: 'retained', topic: 'interop/retained/exact', payload: 'routed' }]);
  });

  it('refuses a wildcard filter with MqttSubscribeError naming it, without a SUBSCRIBE (a decorated one fails the bootstrap)', async () => {
    const before = broker.received('subscribe').length;
    const error = await boot([Readings]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MqttSubscribeError);
    expect(String((error as Error).message)).toMatch(/interop\/\+\/reading.*Wildcard Subscription Available: 0/);
    const sent = broker
      .received('subscribe')
      .slice(before)
      .flatMap((packet) => packet.subscriptions.map((subscription) => subscription.topic));
    expect(sent.filter((topic) => /[+#]/.test(topic))).toEqual([]);
  });
});
