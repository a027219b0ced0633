import { afterAll, describe, expect, it } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import mqtt, { type IConnackPacket, type Packet } from 'mqtt';
import { MqttModule, MqttService, OnConnect, OnTopic, type MqttModuleOptions } from 'nestjs-mqtt';
import { brokerSuite } from '../support/broker-suite.js';
import { writeFigures } from '../support/figures.js';
import { Inbox } from '../support/inbox.js';

const BURST = 300;
/**
 * Published at each QoS after the burst settled. Delivery keeps the order within one QoS (a QoS 2 message
 * reaches the handler at PUBREL, later than a QoS 1 one sent after it), so once both markers arrived,
 * everything that will arrive has.
 */
const MARKER = -1;
const rows: string[] = [];
const suite = brokerSuite();

afterAll(() => {
  writeFigures(
    '4-flow-control',
    [
      '## Flow control',
      '',
      `${BURST} QoS 1 and 2 publishes (alternating) made in one tick, against a Mosquitto with its default \`max_inflight_messages 20\`. Bare mqtt.js sends them all at once: Mosquitto then refuses what exceeds its limit, with "Quota exceeded" on MQTT 5 and, on MQTT 3.1.1, by acknowledging and dropping it. nestjs-mqtt (\`MqttService.publish\`) keeps at most \`maxInflight\` (default 20, lowered to the broker's Receive Maximum on MQTT 5) unacknowledged.`,
      '',
      '| client | MQTT | maxInflight | broker Receive Maximum | published | resolved | received | most unacknowledged at once | order kept per QoS |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
      ...rows,
    ].join('\n'),
  );
});

@Injectable()
class Sink {
  readonly got = new Inbox<{ qos: number; n: number }>();
  @OnTopic('burst/+qos', { qos: 2 })
  on(payload: { n: number }, topic: string, { qos }: { qos: string }): void {
    this.got.push({ qos: Number(qos), n: payload.n });
  }
}

@Injectable()
class ConnackProbe {
  connack: IConnackPacket | undefined;
  @OnConnect()
  on(connack: IConnackPacket): void {
    this.connack = connack;
  }
}

async function app(options: MqttModuleOptions, providers: Array<new (...args: never[]) => unknown> = []): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({ imports: [MqttModule.forRoot(options)], providers }).compile();
  await moduleRef.init();
  return moduleRef;
}

interface BurstFigures {
  resolved: number;
  received: number;
  /** Most QoS 1/2 publishes on the wire without their PUBACK/PUBCOMP, from the client's own packets. */
  most: number;
  inOrder: boolean;
}

/** Fires the burst through `publish`, then a marker; counts what the subscriber got once the marker arrived. */
async function burst(client: mqtt.MqttClient, sink: Sink, publish: (topic: string, n: number, qos: 1 | 2) => Promise<unknown>): Promise<BurstFigures> {
  const unacked = new Set<number>();
  let most = 0;
  client.on('packetsend', (packet: Packet) => {
    if (packet.cmd === 'publish' && packet.qos > 0 && packet.messageId !== undefined) {
      unacked.add(packet.messageId);
      most = Math.max(most, unacked.size);
    }
  });
  client.on('packetreceive', (packet: Packet) => {
    if ((packet.cmd === 'puback' || packet.cmd === 'pubcomp') && packet.messageId !== undefined) unacked.delete(packet.messageId);
  });
  const settled = await Promise.allSettled(
    Array.from({ length: BURST }, (_, n) => {
      const qos = n % 2 === 0 ? 1 : 2;
      return publish(`burst/${qos}`, n, qos);
    }),
  );
  await Promise.all([publish('burst/1', MARKER, 1), publish('burst/2', MARKER, 2)]);
  await sink.got.until((items) => items.filter((item) => item.n === MARKER).length === 2, 10_000);
  const got = sink.got.items.filter((item) => item.n !== MARKER);
  const inOrder = [1, 2].every((qos) => {
    const ns = got.filter((item) => item.qos === qos).map((item) => item.n);
    return ns.every((n, i) => i === 0 || n > ns[i - 1]);
  });
  return {
    resolved: settled.filter((result) => result.status === 'fulfilled').length,
    received: new Set(got.map((item) => item.n)).size,
    most,
    inOrder,
  };
}

function record(client: string, protocolVersion: 4 | 5, maxInflight: string, receiveMaximum: number | undefined, f: BurstFigures): void {
  rows.push(
    `| ${client} | ${protocolVersion === 5 ? '5' : '3.1.1'} | ${maxInflight} | ${receiveMaximum ?? '— (3.1.1)'} | ${BURST} | ${f.resolved} | ${f.received} | ${f.most} | ${f.inOrder ? 'yes' : 'no'} |`,
  );
}

describe.each([
  [4, undefined],
  [5, undefined],
  [5, 1_000],
] as const)('a burst of QoS 1/2 publishes (MQTT %s, maxInflight %s)', (protocolVersion, maxInflight) => {
  it('stays within the broker limit: every message resolves and arrives, in order per QoS', async () => {
    const subscriber = await app({ url: suite.broker.url(), protocolVersion }, [Sink]);
    const publisher = await app({ url: suite.broker.url(), protocolVersion, ...(maxInflight ? { maxInflight } : {}) }, [ConnackProbe]);
    try {
      const mqttService = publisher.get(MqttService);
      const figures = await burst(mqttService.client, subscriber.get(Sink), (topic, n, qos) => mqttService.publish(topic, { n }, { qos }));
      const receiveMaximum = publisher.get(ConnackProbe).connack?.properties?.receiveMaximum;
      record('nestjs-mqtt', protocolVersion, String(maxInflight ?? '20 (default)'), receiveMaximum, figures);
      expect(figures).toEqual({ resolved: BURST, received: BURST, most: expect.any(Number), inOrder: true });
      expect(figures.most).toBeLessThanOrEqual(20);
    } finally {
      await subscriber.close();
      await publisher.close();
    }
  });
});

describe('the same burst through bare mqtt.js (the comparison)', () => {
  it.each([4, 5] as const)('MQTT %s: publishes past the broker limit (figures recorded, only the unacknowledged count asserted)', async (protocolVersion) => {
    const subscriber = await app({ url: suite.broker.url(), protocolVersion }, [Sink]);
    const client = mqtt.connect(suite.broker.url(), { protocolVersion });
    try {
      const connack = await new Promise<IConnackPacket>((resolve) => client.once('connect', resolve));
      const figures = await burst(client, subscriber.get(Sink), (topic, n, qos) => client.publishAsync(topic, JSON.stringify({ n }), { qos }));
      record('bare mqtt.js', protocolVersion, '—', connack.properties?.receiveMaximum, figures);
      // What makes flow control necessary: mqtt.js writes the whole burst before the first acknowledgement.
      expect(figures.most).toBeGreaterThan(20);
    } finally {
      await client.endAsync();
      await subscriber.close();
    }
  });
});
