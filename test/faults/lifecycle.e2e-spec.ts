import { describe, expect, it } from '@jest/globals';
import { ForbiddenException, Injectable } from '@nestjs/common';
import type { Packet } from 'mqtt';
import { firstValueFrom } from 'rxjs';
import { filter as where } from 'rxjs/operators';
import { MqttPublishError, MqttService, MqttSubscribeError, OnConnect, OnTopic, type MqttModuleOptions } from 'nestjs-mqtt';
import { mosquittoPub } from '../fixtures/mosquitto-clients.js';
import { brokerSuite } from '../support/broker-suite.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { Inbox } from '../support/inbox.js';

const suite = brokerSuite();
const boot = suite.boot.bind(suite);
const port = (): number => suite.broker.ports.plain as number;

/** A promise the test resolves when it wants the handler to finish. */
class Gate {
  open!: () => void;
  readonly opened = new Promise<void>((resolve) => (this.open = resolve));
}

/** Resolves when the client has received a PUBLISH with this payload (before any handler or acknowledgement). */
function received(mqtt: MqttService, payload: string): Promise<void> {
  return new Promise((resolve) => {
    const onPacket = (packet: Packet): void => {
      if (packet.cmd === 'publish' && packet.payload.toString() === payload) {
        mqtt.client.off('packetreceive', onPacket);
        resolve();
      }
    };
    mqtt.client.on('packetreceive', onPacket);
  });
}

describe('shutdown', () => {
  it.each([4, 5] as const)(
    'QoS 1/2 messages that arrive while app.close() drains stay with the broker for the next process (protocol %i)',
    async (protocolVersion) => {
      const clientId = `drain-durable-${protocolVersion}`;
      const gate = new Gate();
      @Injectable()
      class Slow {
        readonly started = new Inbox<string>();
        @OnTopic('drain/+', { qos: 2 })
        async on(payload: string): Promise<void> {
          this.started.push(payload);
          if (payload === 'A') await gate.opened;
        }
      }
      const durable: Partial<MqttModuleOptions> = {
        clientId,
        clean: false,
        protocolVersion,
        ...(protocolVersion === 5 ? { sessionExpiryInterval: 300 } : {}),
      };
      const logger = new CaptureLogger();
      const first = await boot([Slow], durable, logger);
      const mqtt = first.get(MqttService);
      await mosquittoPub(port(), 'drain/a', 'A', { qos: 1 });
      await first.get(Slow).started.waitFor(1);

      const closed = first.close();
      await logger.waitFor('takes no more messages');
      const arrivedB = received(mqtt, 'B');
      const arrivedC = received(mqtt, 'C');
      await mosquittoPub(port(), 'drain/b', 'B', { qos: 1 });
      await mosquittoPub(port(), 'drain/c', 'C', { qos: 2 });
      await arrivedB;
      await arrivedC;
      gate.open();
      await closed;
      expect(first.get(Slow).started.items).toEqual(['A']);

      const second = await boot([Slow], durable);
      await second.get(Slow).started.waitFor(2);
      expect([...second.get(Slow).started.items].sort()).toEqual(['B', 'C']);
      await second.get(MqttService).unsubscribeAll();
    },
  );

  it('app.close() waits for a stuck handler once, up to shutdownTimeout, and warns once', async () => {
    const gate = new Gate();
    @Injectable()
    class Stuck {
      readonly started = new Inbox<string>();
      @OnTopic('stuck/+')
      async on(payload: string): Promise<void> {
        this.started.push(payload);
        await gate.opened;
      }
    }
    const logger = new CaptureLogger();
    const app = await boot([Stuck], { shutdownTimeout: 300 }, logger);
    await mosquittoPub(port(), 'stuck/x', 'x');
    await app.get(Stuck).started.waitFor(1);
    await app.close();
    gate.open();
    expect(logger.lines.filter((line) => line.text.includes('still running after')).length).toBe(1);
  });

  it('a QoS 0 publish queued while offline rejects when the app closes instead of hanging', async () => {
    const app = await boot([], { reconnectPeriod: 100, shutdownTimeout: 200 });
    const mqtt = app.get(MqttService);
    const offline = firstValueFrom(mqtt.status$.pipe(where((status) => status === 'offline')));
    await suite.broker.stop();
    await offline;
    const queued0 = mqtt.publish('t/offline', 'x', { qos: 0 });
    const queued1 = mqtt.publish('t/offline', 'x', { qos: 1 });
    await app.close();
    await expect(queued0).rejects.toThrow(MqttPublishError);
    await expect(queued1).rejects.toThrow(MqttPublishError);
    await suite.broker.restart();
  });
});

describe('promises settle across reconnects and app.close()', () => {
  it('subscribe() while offline resolves after the next connection; one still pending at app.close() rejects', async () => {
    const app = await boot([], { reconnectPeriod: 100 });
    const mqtt = app.get(MqttService);
    const offline = firstValueFrom(mqtt.status$.pipe(where((status) => status === 'offline')));
    await suite.broker.stop();
    await offline;
    const later = mqtt.subscribe('later/#', { qos: 1 });
    await suite.broker.restart();
    await expect(later).resolves.toEqual([{ topic: 'later/#', qos: 1 }]);
    const down = firstValueFrom(mqtt.status$.pipe(where((status) => status === 'offline')));
    await suite.broker.stop();
    await down;
    const never = mqtt.subscribe('never/#');
    await app.close();
    await expect(never).rejects.toThrow(MqttSubscribeError);
    await suite.broker.restart();
  });

  it('app.close() lets in-flight QoS 1/2 publishes finish before it disconnects', async () => {
    const app = await boot([]);
    const mqtt = app.get(MqttService);
    const publishes = Array.from({ length: 60 }, (_, i) => mqtt.publish('flush/x', String(i), { qos: (1 + (i % 2)) as 1 | 2 }));
    await app.close();
    const results = await Promise.all(publishes);
    expect(results.every((result) => typeof result.messageId === 'number')).toBe(true);
  });
});

describe('an outage in the log', () => {
  it('the same connection error is logged once per outage, not once per reconnect attempt; the reconnect line counts them', async () => {
    const logger = new CaptureLogger();
    const app = await boot([], { reconnectPeriod: 20 }, logger);
    const mqtt = app.get(MqttService);
    let attempts = 0;
    const enough = new Promise<void>((resolve) =>
      mqtt.client.on('reconnect', () => {
        if (++attempts === 15) resolve();
      }),
    );
    await suite.broker.stop();
    await enough;
    const connected = firstValueFrom(mqtt.status$.pipe(where((status) => status === 'connected')));
    await suite.broker.restart();
    await connected;
    const errors = logger.lines.filter((line) => line.level === 'error');
    expect(errors).toEqual([{ level: 'error', text: expect.stringContaining('ECONNREFUSED') }]);
    expect(logger.lines).toContainEqual({ level: 'log', text: expect.stringMatching(/connected to .* after \d+ failed attempts in \d+ s/) });
  });
});

describe('subscriptions after a reconnect', () => {
  const subscribes = (mqtt: MqttService): Packet[] => {
    const sent: Packet[] = [];
    mqtt.client.on('packetsend', (packet: Packet) => {
      if (packet.cmd === 'subscribe') sent.push(packet);
    });
    return sent;
  };
  const reconnect = async (mqtt: MqttService): Promise<void> => {
    const connected = new Promise<void>((resolve) => mqtt.client.once('connect', () => resolve()));
    mqtt.client.stream.destroy(); // the connection drops; mqtt.js reconnects
    await connected;
  };

  @Injectable()
  class Two {
    @OnTopic('re/a', { qos: 1 })
    a(): void {}
    @OnTopic('re/b/+')
    b(): void {}
    @OnTopic('$share/g/re/jobs')
    jobs(): void {}
  }

  it('MQTT 5, clean session: every filter again, one SUBSCRIBE per filter, each with its subscription identifier', async () => {
    const app = await boot([Two], { protocolVersion: 5, reconnectPeriod: 50 });
    const mqtt = app.get(MqttService);
    const sent = subscribes(mqtt);
    await reconnect(mqtt);
    await mqtt.subscribe(['re/a', 're/b/+', '$share/g/re/jobs'], { qos: 1 }); // resolves once all are granted
    const filters = sent.map((packet) => (packet as unknown as { subscriptions: Array<{ topic: string }> }).subscriptions.map((s) => s.topic));
    expect(filters.slice(0, 3).sort()).toEqual([['$share/g/re/jobs'], ['re/a'], ['re/b/+']]);
    expect(
      sent
        .slice(0, 3)
        .every((packet) => typeof (packet as { properties?: { subscriptionIdentifier?: number } }).properties?.subscriptionIdentifier === 'number'),
    ).toBe(true);
  });

  it('MQTT 3.1.1, present session: only the $share filter is sent again', async () => {
    const app = await boot([Two], { clientId: 're-durable', clean: false, reconnectPeriod: 50 });
    const mqtt = app.get(MqttService);
    const sent = subscribes(mqtt);
    const subscribed = new Promise<void>((resolve) => {
      const onPacket = (packet: Packet): void => {
        if (packet.cmd !== 'suback') return;
        mqtt.client.off('packetreceive', onPacket);
        resolve();
      };
      mqtt.client.on('packetreceive', onPacket);
    });
    await reconnect(mqtt);
    await subscribed;
    const filters = sent.flatMap((packet) => (packet as unknown as { subscriptions: Array<{ topic: string }> }).subscriptions.map((s) => s.topic));
    expect(filters).toEqual(['$share/g/re/jobs']);
    await mqtt.unsubscribeAll();
  });
});

describe('handler failures never crash the process', () => {
  it('a handler that throws or rejects with a value String() cannot convert is logged, and later messages still arrive', async () => {
    @Injectable()
    class Odd {
      readonly got = new Inbox<string>();
      @OnTopic('odd/sync')
      sync(): void {
        throw Object.create(null) as Error;
      }
      @OnTopic('odd/async')
      async async(): Promise<void> {
        await Promise.resolve();
        throw {
          toString: (): string => {
            throw new Error('no text');
          },
        } as unknown as Error;
      }
      @OnTopic('odd/ok')
      ok(payload: string): void {
        this.got.push(payload);
      }
    }
    const logger = new CaptureLogger();
    const app = await boot([Odd], {}, logger);
    await mosquittoPub(port(), 'odd/sync', 'x');
    await mosquittoPub(port(), 'odd/async', 'x');
    await mosquittoPub(port(), 'odd/ok', 'still here');
    expect(await app.get(Odd).got.waitFor(1)).toEqual(['still here']);
    await logger.waitFor('Odd#async failed');
    expect(logger.lines.some((line) => line.text.includes("Odd#sync failed on 'odd/sync'"))).toBe(true);
  });

  it("a handler that throws Nest's ForbiddenException itself is reported as a failure, not as a guard's refusal", async () => {
    @Injectable()
    class Forbidding {
      @OnTopic('forbid/x')
      on(): never {
        throw new ForbiddenException();
      }
    }
    const logger = new CaptureLogger();
    await boot([Forbidding], {}, logger);
    await mosquittoPub(port(), 'forbid/x', 'x');
    expect(await logger.waitFor('Forbidding#on failed')).toMatchObject({ level: 'error' });
  });

  it('an @OnConnect handler that throws a value String() cannot convert is logged; the client runs on', async () => {
    @Injectable()
    class Hooks {
      @OnConnect()
      connected(): void {
        throw Object.create(null) as Error;
      }
    }
    const logger = new CaptureLogger();
    const app = await boot([Hooks], {}, logger);
    expect(await logger.waitFor("Hooks#connected failed on 'connect'")).toMatchObject({ level: 'error' });
    await expect(app.get(MqttService).publish('hooks/ok', 'x', { qos: 1 })).resolves.toHaveProperty('messageId');
  });
});
