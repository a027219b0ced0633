// Run by test/package.e2e-spec.ts, as an ES module, in an app that installed nestjs-mqtt without its optional peers
// aedes and @nestjs/terminus: both subpaths import, and using them fails with an MqttError that names the package
// to install. Plain JavaScript: without the peers, their types are missing too, so there is nothing to compile.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MqttError } from 'nestjs-mqtt';
import { createTestBroker } from 'nestjs-mqtt/testing';
import { MqttHealthIndicator } from 'nestjs-mqtt/terminus';

class AppModule {}
Module({ providers: [MqttHealthIndicator] })(AppModule);

const attempts = {
  testing: () => createTestBroker(),
  terminus: () => NestFactory.createApplicationContext(AppModule, { logger: false, abortOnError: false }),
};
for (const [subpath, attempt] of Object.entries(attempts)) {
  try {
    await attempt();
    console.log(`${subpath}: no error`);
  } catch (error) {
    console.log(`${subpath}: ${error instanceof MqttError ? '' : 'not an MqttError: '}${String(error)}`);
  }
}
