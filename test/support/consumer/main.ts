// The consumer app's entry point: boots against MQTT_URL, prints READY once subscribed, handles one reading, closes
// and exits by itself (a handle left open would keep it running).
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { HealthCheckService } from '@nestjs/terminus';
import { MqttHealthIndicator } from 'nestjs-mqtt/terminus';
import { appModule, firstHandled } from './thermostat.js';

async function main(): Promise<void> {
  const url = process.env['MQTT_URL'];
  if (!url) throw new Error('MQTT_URL is not set');
  const app = await NestFactory.createApplicationContext(appModule(url), { logger: ['error', 'warn'] });
  const indicator = app.get(MqttHealthIndicator);
  const health = await app.get(HealthCheckService).check([() => indicator.isHealthy('mqtt', { ping: true })]);
  console.log(`HEALTH ${health.status}`);
  console.log('READY');
  const room = await firstHandled;
  await app.close();
  console.log(`HANDLED ${room}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
