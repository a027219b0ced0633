// The consumer's own test (node:test), on the in-process broker of nestjs-mqtt/testing: no broker to install.
import 'reflect-metadata';
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { NestFactory } from '@nestjs/core';
import { MqttService } from 'nestjs-mqtt';
import { createTestBroker, type EmbeddedBroker } from 'nestjs-mqtt/testing';
import { firstValueFrom } from 'rxjs';
import { appModule } from './thermostat.js';

void test('a cold reading on home/<room>/temperature turns that room on', { timeout: 10_000 }, async () => {
  const broker: EmbeddedBroker = await createTestBroker();
  try {
    const app = await NestFactory.createApplicationContext(appModule(broker.url), { logger: false });
    try {
      assert.equal(broker.aedes.connectedClients, 1);
      const mqtt = app.get(MqttService);
      await mqtt.subscribe('home/+/heater', { qos: 1 });
      const heater = firstValueFrom(mqtt.observe('home/+/heater'));
      await mqtt.publish('home/bathroom/temperature', { celsius: 16 }, { qos: 1 });
      const command = await heater;
      assert.equal(command.topic, 'home/bathroom/heater');
      assert.deepEqual(command.payload, { on: true, room: 'bathroom' });
    } finally {
      await app.close();
    }
  } finally {
    await broker.close();
  }
});
