import { expect, it } from '@jest/globals';
import { Injectable, Module, Scope } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { MqttModule, MqttService, OnTopic } from 'nestjs-mqtt';
import { mosquittoPub } from './fixtures/mosquitto-clients.js';
import { CaptureLogger } from './support/capture-logger.js';
import { brokerSuite } from './support/broker-suite.js';
import { Inbox } from './support/inbox.js';

const suite = brokerSuite();
const apps = suite.apps;

const runs = new Inbox<string>();

@Injectable()
class Counter {
  @OnTopic('disc/count')
  on(): void {
    runs.push('counter');
  }
}

@Injectable({ scope: Scope.REQUEST })
class PerRequest {
  @OnTopic('disc/count')
  on(): void {
    runs.push('request-scoped');
  }
}

const ALIAS = Symbol('alias');

it('binds a handler once even when aliased (useExisting); warns about and skips request-scoped providers; ignores null-prototype values', async () => {
  const logger = new CaptureLogger();
  const moduleRef = await Test.createTestingModule({
    imports: [MqttModule.forRoot({ url: suite.broker.url() })],
    providers: [Counter, PerRequest, { provide: ALIAS, useExisting: Counter }, { provide: 'bare', useValue: Object.create(null) as object }],
  })
    .setLogger(logger)
    .compile();
  apps.push(moduleRef);
  await moduleRef.init();
  const before = runs.items.length;
  await mosquittoPub(suite.broker.ports.plain as number, 'disc/count', 'x');
  await mosquittoPub(suite.broker.ports.plain as number, 'disc/count', 'y');
  await runs.waitFor(before + 2);
  expect(runs.items.slice(before)).toEqual(['counter', 'counter']);
  expect(logger.lines).toContainEqual({ level: 'warn', text: expect.stringContaining('PerRequest#on is request-scoped or transient') });
});

it('two applications in one process share nothing: each handler runs for its own client only', async () => {
  const seen = new Inbox<string>();
  @Injectable()
  class Named {
    constructor(private readonly mqtt: MqttService) {}
    @OnTopic('disc/iso/+')
    on(_payload: unknown, topic: string): void {
      seen.push(`${this.mqtt.client.options.clientId as string}:${topic}`);
    }
  }
  @Module({ providers: [Named] })
  class Feature {}

  const make = async (clientId: string, prefix: string) => {
    const moduleRef = await Test.createTestingModule({ imports: [MqttModule.forRoot({ url: suite.broker.url(), clientId }), Feature] }).compile();
    apps.push(moduleRef);
    await moduleRef.init();
    await moduleRef.get(MqttService).unsubscribe('disc/iso/+');
    await moduleRef.get(MqttService).subscribe(`disc/iso/${prefix}`);
    return moduleRef;
  };
  await make('app-a', 'a');
  await make('app-b', 'b');
  await mosquittoPub(suite.broker.ports.plain as number, 'disc/iso/a', 'x');
  await mosquittoPub(suite.broker.ports.plain as number, 'disc/iso/b', 'x');
  await seen.waitFor(2);
  // A later message on the same connection arrives after any cross-talk from the first two would have.
  await mosquittoPub(suite.broker.ports.plain as number, 'disc/iso/a', 'z');
  await seen.until((items) => items.filter((item) => item === 'app-a:disc/iso/a').length === 2);
  expect([...seen.items].sort()).toEqual(['app-a:disc/iso/a', 'app-a:disc/iso/a', 'app-b:disc/iso/b']);
});
