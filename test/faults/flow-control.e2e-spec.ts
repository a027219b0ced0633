import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import type { IConnackPacket, Packet } from 'mqtt';
import { MqttModule, MqttService, OnTopic, type MqttModuleOptions } from 'nestjs-mqtt';
import { MosquittoBroker } from '../fixtures/mosquitto.js';
import { writeFigures } from '../support/figures.js';
import { Inbox } from '../support/inbox.js';

const BURST = 300;
const rows: string[] = [];
let broker: MosquittoBroker;

beforeAll(async () => {
  broker = await MosquittoBroker.start();
});

afterAll(async () => {
  await broker?.close();
  writeFigures(
    '4-flow-control',
    [
      '## Flow control',
      '',
      `${BURST} QoS 1 and 2 publishes (alternating) made in one tick through \`MqttService.publish\`, against a Mosquitto with its default \`max_inflight_messages 20\`. Bare mqtt.js sends them all at once: Mosquitto then refuses what exceeds its limit, with "Quota exceeded" on MQTT 5 and, on MQTT 3.1.1, by acknowledging and dropping it. nestjs-mqtt keeps at most \`maxInflight\` (default 20, lowered to the broker's Receive Maximum on MQTT 5) unacknowledged.`,
      '',
      '| MQTT | maxInflight | broker Receive Maximum | published | resolved | received | most unacknowledged at once | order kept per QoS |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
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

async function app(options: MqttModuleOptions, providers: Array<new (...args: never[]) => unknown> = []): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({ imports: [MqttModule.forRoot(options)], providers }).compile();
  await moduleRef.init();
  return moduleRef;
}

describe.each([
  [4, undefined],
  [5, undefined],
  [5, 1_000],
] as const)('a burst of QoS 1/2 publishes (MQTT %s, maxInflight %s)', (protocolVersion, maxInflight) => {
  it('stays within the broker limit: every message resolves and arrives, in order per QoS', async () => {
    const subscriber = await app({ url: broker.url(), protocolVersion }, [Sink]);
    const publisher = await app({ url: broker.url(), protocolVersion, ...(maxInflight ? { maxInflight } : {}) });
    try {
      const mqtt = publisher.get(MqttService);
      const receiveMaximum = (mqtt.client as unknown as { connackPacket?: IConnackPacket }).connackPacket?.properties?.receiveMaximum;
      // Unacknowledged QoS 1/2 publishes on the wire, counted from the client's own packets.
      const unacked = new Set<number>();
      let most = 0;
      mqtt.client.on('packetsend', (packet: Packet) => {
        if (packet.cmd === 'publish' && packet.qos > 0 && packet.messageId !== undefined) {
          unacked.add(packet.messageId);
          most = Math.max(most, unacked.size);
        }
      });
      mqtt.client.on('packetreceive', (packet: Packet) => {
        if ((packet.cmd === 'puback' || packet.cmd === 'pubcomp') && packet.messageId !== undefined) unacked.delete(packet.messageId);
      });
      const settled = await Promise.allSettled(
        Array.from({ length: BURST }, (_, n) => {
          const qos = n % 2 === 0 ? 1 : 2;
          return mqtt.publish(`burst/${qos}`, { n }, { qos });
        }),
      );
      const sink = subscriber.get(Sink);
      await sink.got.waitFor(BURST, 10_000);
      const resolved = settled.filter((result) => result.status === 'fulfilled').length;
      const inOrder = [1, 2].every((qos) => {
        const ns = sink.got.items.filter((item) => item.qos === qos).map((item) => item.n);
        return ns.every((n, i) => i === 0 || n > ns[i - 1]);
      });
      rows.push(
        `| ${protocolVersion === 5 ? '5' : '3.1.1'} | ${maxInflight ?? '20 (default)'} | ${receiveMaximum ?? '— (3.1.1)'} | ${BURST} | ${resolved} | ${sink.got.items.length} | ${most} | ${inOrder ? 'yes' : 'no'} |`,
      );
      expect(settled.filter((result) => result.status === 'rejected')).toEqual([]);
      expect(new Set(sink.got.items.map((item) => item.n)).size).toBe(BURST);
      expect(most).toBeLessThanOrEqual(20);
      expect(inOrder).toBe(true);
    } finally {
      await subscriber.close();
      await publisher.close();
    }
  });
});
