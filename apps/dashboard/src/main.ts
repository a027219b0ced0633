import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { startEmbeddedBroker, type EmbeddedBroker } from 'nestjs-mqtt/testing';
import { AppModule } from './app.module.js';
import { DashboardConfig } from './dashboard.config.js';

async function main(): Promise<void> {
  const logger = new Logger('Dashboard');
  const config = DashboardConfig.fromEnv();
  let embedded: EmbeddedBroker | undefined;
  let brokerUrl = config.mqttUrl;
  if (!brokerUrl) {
    embedded = await startEmbeddedBroker({ port: Number(process.env.EMBEDDED_BROKER_PORT ?? 1884) });
    brokerUrl = embedded.url;
    logger.log(`MQTT_URL not set: started an embedded broker (aedes) at ${brokerUrl}`);
  }
  const app = await NestFactory.createApplicationContext(AppModule.register(config, brokerUrl));
  const stop = async (): Promise<void> => {
    await app.close();
    await embedded?.close();
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((error: unknown) => {
  new Logger('Dashboard').error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
