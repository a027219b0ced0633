import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MqttModule, MqttRequestError, MqttService } from 'nestjs-mqtt';
import { startBroker, type BenchBroker } from './broker.js';

/**
 * `npm run soak:requests`: a Nest app sends request() after request() to a topic nobody answers while
 * its broker is stopped and started again, as a user would try it. It fails if the process sees an
 * unhandled rejection, or if any request is still pending once the app closed. REQUEST_SOAK_SECONDS
 * sets the length (60 by default; CI runs a short version).
 */
const SECONDS = Number(process.env.REQUEST_SOAK_SECONDS ?? 60);
const RESTART_EVERY_MS = 5_000;
const DOWN_MS = 1_500;

async function main(): Promise<void> {
  const unhandled: unknown[] = [];
  process.on('unhandledRejection', (reason) => unhandled.push(reason));
  let broker: BenchBroker = await startBroker();
  const port = broker.port;

  @Module({ imports: [MqttModule.forRoot({ url: broker.url, protocolVersion: 5, reconnectPeriod: 200, connect: 'background' })] })
  class SoakModule {}
  const app = await NestFactory.createApplicationContext(SoakModule, { logger: false });
  const mqtt = app.get(MqttService);

  const outcomes = { sent: 0, timedOut: 0, otherError: 0, replied: 0, restarts: 0 };
  const settled: Array<Promise<void>> = [];
  const deadline = Date.now() + SECONDS * 1_000;
  let nextRestart = Date.now() + RESTART_EVERY_MS;
  while (Date.now() < deadline) {
    for (let i = 0; i < 5; i++) {
      outcomes.sent++;
      const timeout = 100 + Math.floor(Math.random() * 900);
      settled.push(
        mqtt.request('rpc/void', { n: outcomes.sent }, { timeout, qos: (i % 2) as 0 | 1 }).then(
          () => void outcomes.replied++,
          (error: unknown) => {
            if (error instanceof MqttRequestError && error.timedOut) outcomes.timedOut++;
            else outcomes.otherError++;
          },
        ),
      );
    }
    if (Date.now() >= nextRestart) {
      outcomes.restarts++;
      await broker.stop();
      await new Promise((resolve) => setTimeout(resolve, DOWN_MS));
      broker = await startBroker(port);
      nextRestart = Date.now() + RESTART_EVERY_MS;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  // Requests still waiting are rejected by close(); a hang would keep this await from ending.
  const closing = app.close();
  const all = Promise.all(settled);
  const limit = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 15_000).unref());
  const result = await Promise.race([all.then(() => 'settled' as const), limit]);
  await closing;
  await broker.stop();
  const pending = outcomes.sent - outcomes.timedOut - outcomes.otherError - outcomes.replied;
  console.log(
    `request soak: ${SECONDS} s, ${outcomes.restarts} broker restarts, ${outcomes.sent} requests: ${outcomes.timedOut} timed out, ` +
      `${outcomes.otherError} rejected otherwise (client closed, publish failed), ${outcomes.replied} replied, ${pending} pending; ` +
      `${unhandled.length} unhandled rejections`,
  );
  if (result !== 'settled' || pending !== 0 || unhandled.length > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
