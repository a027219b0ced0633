import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Injectable, type LoggerService } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { MqttModule, MqttService, OnTopic, type MqttModuleOptions } from 'nestjs-mqtt';
import { MosquittoBroker } from '../fixtures/mosquitto.js';
import { mosquittoPub } from '../fixtures/mosquitto-clients.js';
import { Inbox } from '../support/inbox.js';

// Option values that validation accepted but that misbehaved against a real broker.

let broker: MosquittoBroker;
const apps: TestingModule[] = [];

beforeAll(async () => {
  broker = await MosquittoBroker.start();
});
afterEach(async () => {
  for (const moduleRef of apps.splice(0)) await moduleRef.close();
});
afterAll(async () => {
  await broker.close();
});

async function boot(options: MqttModuleOptions, providers: Array<new (...args: never[]) => unknown> = [], logger?: LoggerService): Promise<TestingModule> {
  const builder = Test.createTestingModule({ imports: [MqttModule.forRoot(options)], providers });
  if (logger) builder.setLogger(logger);
  const moduleRef = await builder.compile();
  apps.push(moduleRef);
  await moduleRef.init();
  return moduleRef;
}

@Injectable()
class Echo {
  readonly got = new Inbox<string>();
  @OnTopic('cfg/v31/+', { qos: 1 })
  v31(payload: string, topic: string): void {
    this.got.push(`${topic} ${payload}`);
  }
}

@Injectable()
class Durable {
  readonly got = new Inbox<string>();
  @OnTopic('cfg/durable', { qos: 1 })
  handle(payload: string): void {
    this.got.push(payload);
  }
}

describe('durable sessions on MQTT 5', () => {
  it('clean: false and a clientId alone keep the session: a QoS 1 message published while the app was down arrives after restart', async () => {
    const options: MqttModuleOptions = { url: broker.url(), protocolVersion: 5, clean: false, clientId: 'cfg-durable-1' };
    const first = await boot(options, [Durable]);
    await first.get(MqttService).publish('cfg/durable', 'while up', { qos: 1 });
    expect(await first.get(Durable).got.waitFor(1)).toEqual(['while up']);
    await first.close();
    apps.splice(apps.indexOf(first), 1);

    await mosquittoPub(broker.ports.plain as number, 'cfg/durable', 'while down', { qos: 1, protocolVersion: 5 });

    const second = await boot(options, [Durable]);
    expect(await second.get(Durable).got.waitFor(1)).toEqual(['while down']);
  });
});

describe('MQTT 3.1 (protocolVersion: 3)', () => {
  it('connects with a generated client id and receives its own QoS 1 publish through @OnTopic', async () => {
    const moduleRef = await boot({ url: broker.url(), protocolVersion: 3, connectTimeout: 5_000 }, [Echo]);
    const mqtt = moduleRef.get(MqttService);
    expect(mqtt.connected).toBe(true);
    expect(mqtt.client.options.clientId?.length).toBeLessThanOrEqual(23);
    await mqtt.publish('cfg/v31/a', 'hello', { qos: 1 });
    expect(await moduleRef.get(Echo).got.waitFor(1)).toEqual(['cfg/v31/a hello']);
  });
});
