import { expect, it } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { MqttModule, MqttService, OnTopic } from 'nestjs-mqtt';
import { brokerSuite } from './support/broker-suite.js';
import { Inbox } from './support/inbox.js';

const suite = brokerSuite();

/** Both instances record into one inbox, as a shared database would. */
const handled = new Inbox<{ instance: string; n: number }>();

@Injectable()
class Worker {
  constructor(private readonly mqtt: MqttService) {}
  @OnTopic('orders/+', { qos: 1 })
  onOrder(payload: { n: number }): void {
    handled.push({ instance: this.mqtt.client.options.clientId as string, n: payload.n });
  }
}

async function instance(): Promise<TestingModule> {
  // The same code and configuration on every instance: unique client ids come by default.
  const moduleRef = await Test.createTestingModule({
    imports: [MqttModule.forRoot({ url: suite.broker.url(), share: 'order-workers' })],
    providers: [Worker],
  }).compile();
  await moduleRef.init();
  return moduleRef;
}

it("several instances with share: 'group' split the work: each message is handled by exactly one", async () => {
  const instances = [await instance(), await instance(), await instance()];
  try {
    const ids = new Set(instances.map((i) => i.get(MqttService).client.options.clientId));
    expect(ids.size).toBe(3);
    expect([...instances[0].get(MqttService).topics.keys()]).toEqual(['$share/order-workers/orders/+']);
    const publisher = instances[0].get(MqttService);
    const count = 90;
    for (let n = 0; n < count; n++) await publisher.publish(`orders/${n}`, { n }, { qos: 1 });
    const got = await handled.waitFor(count);
    expect(got.map((h) => h.n).sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, n) => n));
    // Every instance took part, and none handled a message twice.
    expect(new Set(got.map((h) => h.instance)).size).toBe(3);
    expect(new Set(got.map((h) => h.n)).size).toBe(count);
  } finally {
    for (const moduleRef of instances) await moduleRef.close();
  }
});
