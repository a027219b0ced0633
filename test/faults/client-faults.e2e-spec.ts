import { afterAll, describe, expect, it } from '@jest/globals';
import { Injectable, type LoggerService } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import mqtt from 'mqtt';
import { firstValueFrom } from 'rxjs';
import { filter } from 'rxjs/operators';
import { MqttConnectionError, MqttModule, MqttPublishError, MqttService, OnError, OnTopic, type MqttModuleOptions } from 'nestjs-mqtt';
import { MosquittoBroker } from '../fixtures/mosquitto.js';
import { mosquittoPub } from '../fixtures/mosquitto-clients.js';
import { brokerSuite } from '../support/broker-suite.js';
import { writeFigures } from '../support/figures.js';
import { Inbox } from '../support/inbox.js';

const suite = brokerSuite();
const rows: string[] = [];

afterAll(() => {
  writeFigures('2-client-faults', ['## Handler and client faults', '', '| scenario | result |', '| --- | --- |', ...rows].join('\n'));
});

async function app(options: Partial<MqttModuleOptions>, providers: Array<new (...args: never[]) => unknown>, logger?: LoggerService): Promise<TestingModule> {
  const builder = Test.createTestingModule({ imports: [MqttModule.forRoot({ url: suite.broker.url(), ...options })], providers });
  if (logger) builder.setLogger(logger);
  const moduleRef = await builder.compile();
  await moduleRef.init();
  return moduleRef;
}

/** Counts log lines without keeping them (10,000 handler failures would otherwise pile up). */
class CountingLogger implements LoggerService {
  errors = 0;
  last = '';
  log(): void {}
  warn(): void {}
  debug(): void {}
  verbose(): void {}
  error(message: unknown): void {
    this.errors++;
    this.last = String(message);
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

describe("ack: 'after-handler'", () => {
  const gate = deferred();

  @Injectable()
  class StuckHandler {
    readonly started = new Inbox<number>();
    @OnTopic('acks/+', { qos: 1 })
    async on(payload: { n: number }): Promise<void> {
      this.started.push(payload.n);
      await gate.promise;
    }
  }

  @Injectable()
  class Receiver {
    readonly got = new Inbox<{ n: number; dup: boolean }>();
    @OnTopic('acks/+', { qos: 1 })
    on(payload: { n: number }, _topic: string, packet: { dup: boolean }): void {
      this.got.push({ n: payload.n, dup: packet.dup });
    }
  }

  it.each([
    ['after-handler', true],
    ['auto', false],
  ] as const)('with ack %s, a crash mid-handler means redelivery: %s', async (ack, redelivered) => {
    const clientId = `acker-${ack}-${Date.now()}`;
    const first = await app({ clientId, clean: false, ack, shutdownTimeout: 100 }, [StuckHandler]);
    await mosquittoPub(suite.broker.ports.plain as number, 'acks/x', '{"n":1}', { qos: 1 });
    await first.get(StuckHandler).started.waitFor(1);
    // A crash: the connection ends without DISCONNECT while the handler still runs.
    first.get(MqttService).client.end(true);
    await first.close();

    const second = await app({ clientId, clean: false }, [Receiver]);
    try {
      await mosquittoPub(suite.broker.ports.plain as number, 'acks/x', '{"n":2}', { qos: 1 });
      const received = second.get(Receiver).got;
      const expected = redelivered
        ? [
            { n: 1, dup: true },
            { n: 2, dup: false },
          ]
        : [{ n: 2, dup: false }];
      expect(await received.waitFor(expected.length)).toEqual(expected);
      rows.push(
        `| ack '${ack}': handler interrupted by a crash, then the client restarts with its session | message ${redelivered ? 'redelivered (DUP)' : 'not redelivered (acknowledged before the handler ran)'} |`,
      );
    } finally {
      await second.close();
    }
  });

  afterAll(() => gate.resolve());
});

describe('a handler that throws on every message', () => {
  @Injectable()
  class Handlers {
    good = 0;
    readonly done = new Inbox<number>();
    @OnTopic('boom/+')
    explode(): void {
      throw new Error('always');
    }
    @OnTopic('boom/+')
    count(payload: { n: number }): void {
      this.good++;
      if (payload.n === -1) this.done.push(this.good);
    }
  }

  it('10,000 failures: process alive, memory flat, the good handler still served', async () => {
    const logger = new CountingLogger();
    const moduleRef = await app({}, [Handlers], logger);
    const publisher = await mqtt.connectAsync(suite.broker.url());
    const gc = (globalThis as { gc?: () => void }).gc;
    const heap = () => {
      gc?.();
      return process.memoryUsage().heapUsed;
    };
    try {
      const handlers = moduleRef.get(Handlers);
      const burst = async (count: number) => {
        const markers = handlers.done.items.length;
        // QoS 0 from one publisher keeps its order; the fixture broker queues without limit, so none is dropped.
        for (let n = 0; n < count; n++) publisher.publish('boom/x', `{"n":${n}}`, { qos: 0 });
        await publisher.publishAsync('boom/x', '{"n":-1}', { qos: 1 });
        await handlers.done.waitFor(markers + 1, 30_000);
      };
      await burst(1_000); // warm-up
      const before = heap();
      await burst(10_000);
      const growth = (heap() - before) / 1024 / 1024;
      expect(handlers.good).toBe(11_002);
      expect(logger.errors).toBe(11_002);
      expect(logger.last).toContain("Handlers#explode failed on 'boom/x': always");
      expect(moduleRef.get(MqttService).connected).toBe(true);
      expect(growth).toBeLessThan(8);
      rows.push(
        `| handler throwing on 10,000 messages | process alive, 10,000 failures logged, good handler ran 10,000 times, heap growth ${growth.toFixed(2)} MiB${gc ? '' : ' (no --expose-gc)'} |`,
      );
    } finally {
      await publisher.endAsync();
      await moduleRef.close();
    }
  });
});

describe('graceful shutdown', () => {
  const gate = deferred();
  const order: string[] = [];

  @Injectable()
  class Slow {
    readonly started = new Inbox<string>();
    @OnTopic('slow/+')
    async on(_payload: unknown, topic: string): Promise<void> {
      this.started.push(topic);
      await gate.promise;
      order.push('handler finished');
    }
  }

  it('app.close() waits for an in-flight async handler before it disconnects', async () => {
    const moduleRef = await app({}, [Slow]);
    await mosquittoPub(suite.broker.ports.plain as number, 'slow/job', 'x');
    await moduleRef.get(Slow).started.waitFor(1);
    const mqttService = moduleRef.get(MqttService);
    const closing = moduleRef.close().then(() => order.push('app closed'));
    // Intake stops at once; the handler is still running and the client still connected.
    await firstValueFrom(mqttService.status$.pipe(filter((s) => s === 'connected')));
    expect(order).toEqual([]);
    gate.resolve();
    await closing;
    expect(order).toEqual(['handler finished', 'app closed']);
    expect(mqttService.connected).toBe(false);
    rows.push('| app.close() with an async handler running | handler finished first, then DISCONNECT |');
  });
});

/** An app on its own broker, which is then stopped: the client is offline when this resolves. */
async function offlineApp(own: MosquittoBroker, options: MqttModuleOptions): Promise<{ moduleRef: TestingModule; service: MqttService }> {
  const moduleRef = await Test.createTestingModule({ imports: [MqttModule.forRoot({ url: own.url(), reconnectPeriod: 100, ...options })] }).compile();
  await moduleRef.init();
  const service = moduleRef.get(MqttService);
  const offline = firstValueFrom(service.status$.pipe(filter((s) => s === 'offline')));
  await own.stop();
  await offline;
  return { moduleRef, service };
}

describe('shutdown with publishes the broker never acknowledged', () => {
  it('app.close() settles them: each rejects with MqttPublishError instead of hanging', async () => {
    const own = await MosquittoBroker.start();
    try {
      const { moduleRef, service } = await offlineApp(own, { clientId: `durable-${Date.now()}`, clean: false, shutdownTimeout: 200 });
      // A durable client keeps these for the next connection, which never comes.
      const pending = Array.from({ length: 30 }, (_, n) => service.publish(`never/${n}`, 'x', { qos: n % 2 === 0 ? 1 : 2 }));
      await moduleRef.close();
      const settled = await Promise.allSettled(pending);
      expect(settled.map((result) => result.status)).toEqual(Array.from({ length: 30 }, () => 'rejected'));
      for (const result of settled) {
        expect((result as PromiseRejectedResult).reason).toBeInstanceOf(MqttPublishError);
      }
      rows.push(
        '| app.close() while offline with 30 unacknowledged QoS 1/2 publishes (clean: false) | all 30 rejected with MqttPublishError, none left hanging |',
      );
    } finally {
      await own.close();
    }
  });
});

describe('offline publishing', () => {
  it('queues up to offlineQueueLimit, then rejects with a typed error; QoS 0 can be refused while offline', async () => {
    const own = await MosquittoBroker.start();
    const { moduleRef, service } = await offlineApp(own, { offlineQueueLimit: 2, queueQos0Offline: false });
    try {
      const queued = [service.publish('q/a', '1', { qos: 1 }), service.publish('q/b', '2', { qos: 1 })];
      await expect(service.publish('q/c', '3', { qos: 1 })).rejects.toThrow(MqttPublishError);
      await expect(service.publish('q/c', '3', { qos: 1 })).rejects.toThrow('the offline queue is full (offlineQueueLimit: 2)');
      await expect(service.publish('q/d', '4')).rejects.toThrow('QoS 0 messages are not queued');
      await own.restart();
      const results = await Promise.all(queued);
      expect(results.map((r) => typeof r.messageId)).toEqual(['number', 'number']);
      await expect(service.publish('q/e', '5', { qos: 1 })).resolves.toEqual({ messageId: expect.any(Number) });
      rows.push('| 3 QoS 1 publishes while offline with offlineQueueLimit 2 | 2 queued and delivered after reconnect, 1 rejected (MqttPublishError) |');
    } finally {
      await moduleRef.close();
      await own.close();
    }
  });
});

describe('client id collision', () => {
  @Injectable()
  class Errors {
    readonly seen = new Inbox<Error>();
    @OnError()
    on(error: Error): void {
      if (error instanceof MqttConnectionError) this.seen.push(error);
    }
  }

  it('two instances with one client id are reported, naming the id', async () => {
    const options = { clientId: `twin-${Date.now()}`, reconnectPeriod: 100 };
    const a = await app(options, [Errors]);
    const b = await app(options, [Errors]);
    try {
      const first = await Promise.race([a.get(Errors).seen.waitFor(1, 20_000), b.get(Errors).seen.waitFor(1, 20_000)]);
      expect(first[0].message).toContain(`client id '${options.clientId}' is probably in use by another client`);
      rows.push('| two instances sharing one client id | reported as an error naming the id |');
    } finally {
      await a.close();
      await b.close();
    }
  });
});
