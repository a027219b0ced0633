import { afterAll, afterEach, beforeAll } from '@jest/globals';
import type { TestingModule } from '@nestjs/testing';
import { MosquittoBroker, type MosquittoOptions } from '../fixtures/mosquitto.js';

export interface BrokerSuite {
  /** The suite's private broker (started before the first test). */
  readonly broker: MosquittoBroker;
  /** Apps a test started; each is closed after that test. */
  readonly apps: TestingModule[];
}

/** Registers the hooks of a suite that shares one private broker and closes its apps after every test. */
export function brokerSuite(options?: MosquittoOptions): BrokerSuite {
  let broker: MosquittoBroker | undefined;
  const apps: TestingModule[] = [];
  beforeAll(async () => {
    broker = await MosquittoBroker.start(options);
  });
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
  });
  afterAll(async () => {
    await broker?.close();
  });
  return {
    get broker(): MosquittoBroker {
      if (!broker) throw new Error('the broker starts in beforeAll');
      return broker;
    },
    apps,
  };
}
