// The CommonJS twin of missing-peers.js: require() of both subpaths works without their optional peers (no
// top-level await in the package), and using them fails with an MqttError that names the package to install.
/* global console, require */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS app, written as its users write it */
require('reflect-metadata');
const { Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { MqttError } = require('nestjs-mqtt');
const { createTestBroker } = require('nestjs-mqtt/testing');
const { MqttHealthIndicator } = require('nestjs-mqtt/terminus');

class AppModule {}
Module({ providers: [MqttHealthIndicator] })(AppModule);

const attempts = {
  testing: () => createTestBroker(),
  terminus: () => NestFactory.createApplicationContext(AppModule, { logger: false, abortOnError: false }),
};

async function main() {
  for (const [subpath, attempt] of Object.entries(attempts)) {
    try {
      await attempt();
      console.log(`${subpath}: no error`);
    } catch (error) {
      console.log(`${subpath}: ${error instanceof MqttError ? '' : 'not an MqttError: '}${String(error)}`);
    }
  }
}

void main();
