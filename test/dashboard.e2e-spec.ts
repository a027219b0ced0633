import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { AppModule } from '../apps/dashboard/src/app.module.js';
import { DashboardConfig } from '../apps/dashboard/src/dashboard.config.js';
import { MosquittoBroker } from './fixtures/mosquitto.js';
import { mosquittoSub } from './fixtures/mosquitto-clients.js';

let broker: MosquittoBroker;
beforeAll(async () => {
  broker = await MosquittoBroker.start();
});
afterAll(async () => {
  await broker.close();
});

it('the dashboard app connects to the broker it is given and publishes its heartbeat', async () => {
  const sub = await mosquittoSub(broker.ports.plain as number, 'dashboard/heartbeat', { qos: 1 });
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.register(new DashboardConfig(broker.url(), 50), broker.url())] }).compile();
  await moduleRef.init();
  try {
    const beats = (await sub.waitForCount(2)).map((m) => JSON.parse(m.payload.toString()) as { seq: number; at: string });
    expect(beats.map((b) => b.seq)).toEqual([1, 2]);
    expect(Number.isNaN(Date.parse(beats[0].at))).toBe(false);
  } finally {
    await moduleRef.close();
    await sub.stop();
  }
});

it('reads its settings from the environment and refuses a bad HEARTBEAT_MS', () => {
  expect(DashboardConfig.fromEnv({ MQTT_URL: 'mqtt://h:1', HEARTBEAT_MS: '250' })).toEqual(new DashboardConfig('mqtt://h:1', 250));
  expect(DashboardConfig.fromEnv({}).mqttUrl).toBeUndefined();
  expect(() => DashboardConfig.fromEnv({ HEARTBEAT_MS: 'often' })).toThrow('HEARTBEAT_MS must be a positive integer');
});
