import { afterAll, afterEach, beforeAll } from '@jest/globals';
import { Test, type TestingModule } from '@nestjs/testing';
import { MqttModule, type MqttModuleOptions } from 'nestjs-mqtt';
import { MosquittoBroker, type MosquittoOptions } from '../fixtures/mosquitto.js';
import { CaptureLogger } from './capture-logger.js';

export interface BrokerSuite {
  /** The suite's private broker (started before the first test). */
  readonly broker: MosquittoBroker;
  /** Apps a test started; each is closed after that test. */
  readonly apps: TestingModule[];
  /** Starts an app with MqttModule on the suite's broker (plain listener), closed after the test. */
  boot(providers: Array<new (...args: never[]) => unknown>, options?: Partial<MqttModuleOptions>, logger?: CaptureLogger): Promise<TestingModule>;
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
    async boot(providers, options = {}, logger = new CaptureLogger()) {
      const moduleRef = await Test.createTestingModule({
        imports: [MqttModule.forRoot({ url: (broker as MosquittoBroker).url(), ...options })],
        providers,
      })
        .setLogger(logger)
        .compile();
      apps.push(moduleRef);
      await moduleRef.init();
      return moduleRef;
    },
  };
}
