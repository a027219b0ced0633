import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { Test, type TestingModule } from '@nestjs/testing';
import { firstValueFrom } from 'rxjs';
import { filter } from 'rxjs/operators';
import { MqttError, MqttModule, MqttService } from 'nestjs-mqtt';
import { MqttHealthIndicator } from 'nestjs-mqtt/terminus';
import { MosquittoBroker } from './fixtures/mosquitto.js';

let broker: MosquittoBroker;
let moduleRef: TestingModule;

beforeAll(async () => {
  broker = await MosquittoBroker.start();
  moduleRef = await Test.createTestingModule({
    imports: [
      TerminusModule.forRoot({ logger: false }),
      MqttModule.forRoot({ url: broker.url(), reconnectPeriod: 100 }),
      MqttModule.forRoot({ name: 'plant', url: broker.url() }),
    ],
    providers: [MqttHealthIndicator],
  }).compile();
  await moduleRef.init();
});
afterAll(async () => {
  await moduleRef.close();
  await broker.close();
});

it('reports up while connected (with a PUBACK ping), and down with the state when the broker is gone', async () => {
  const health = moduleRef.get(HealthCheckService);
  const indicator = moduleRef.get(MqttHealthIndicator);
  await expect(
    health.check([() => indicator.isHealthy('mqtt', { ping: true }), () => indicator.isHealthy('plant-mqtt', { client: 'plant' })]),
  ).resolves.toMatchObject({
    status: 'ok',
    details: { mqtt: { status: 'up', client: 'default', state: 'connected' }, 'plant-mqtt': { status: 'up', client: 'plant' } },
  });

  const offline = firstValueFrom(moduleRef.get(MqttService).status$.pipe(filter((s) => s !== 'connected')));
  await broker.stop();
  await offline;
  const down = await indicator.isHealthy('mqtt');
  expect(down.mqtt).toMatchObject({ status: 'down', client: 'default' });
  await expect(health.check([() => indicator.isHealthy('mqtt')])).rejects.toThrow();
  await broker.restart();
});

it('reports down when the broker does not acknowledge the ping within timeout, while the client still counts as connected', async () => {
  const indicator = moduleRef.get(MqttHealthIndicator);
  const mqtt = moduleRef.get(MqttService);
  await firstValueFrom(mqtt.status$.pipe(filter((s) => s === 'connected')));
  await expect(indicator.isHealthy('mqtt', { ping: true, timeout: 2_000 })).resolves.toMatchObject({ mqtt: { status: 'up' } });
  broker.pause(); // the socket stays open; nothing answers
  try {
    const result = await indicator.isHealthy('mqtt', { ping: true, timeout: 300 });
    expect(result.mqtt).toMatchObject({ status: 'down', client: 'default', state: 'connected', message: 'no PUBACK within 300 ms' });
  } finally {
    broker.resume();
  }
});

it('fails the start with an MqttError naming TerminusModule when the app does not import it', async () => {
  const app = await Test.createTestingModule({ providers: [MqttHealthIndicator] }).compile();
  try {
    const error = await app.init().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MqttError);
    expect((error as MqttError).message).toBe('MqttHealthIndicator needs the HealthIndicatorService of @nestjs/terminus: import TerminusModule in the app');
  } finally {
    await app.close();
  }
});
