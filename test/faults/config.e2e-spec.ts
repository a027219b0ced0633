import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Injectable, type LoggerService } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import type { Packet } from 'mqtt';
import { MqttConnectionError, MqttModule, MqttService, OnTopic, type MqttModuleOptions } from 'nestjs-mqtt';
import { MosquittoBroker } from '../fixtures/mosquitto.js';
import { mosquittoPub } from '../fixtures/mosquitto-clients.js';
import { Inbox } from '../support/inbox.js';

// Option values that validation accepted but that misbehaved against a real broker.

let broker: MosquittoBroker;
const apps: TestingModule[] = [];

beforeAll(async () => {
  broker = await MosquittoBroker.start({ listeners: ['plain', 'tls', 'wss'] });
});
afterEach(async () => {
  for (const moduleRef of apps.splice(0)) await moduleRef.close();
});
afterAll(async () => {
  await broker.close();
});

async function boot(options: MqttModuleOptions, providers: Array<new (...args: never[]) => unknown> = [], logger?: LoggerService): Promise<TestingModule> {
  const builder = Test.createTestingModule({ imports: [MqttModule.forRoot(options)], providers });
  if (logger) builder.setLogger(logger);
  const moduleRef = await builder.compile();
  apps.push(moduleRef);
  await moduleRef.init();
  return moduleRef;
}

async function bootFails(options: MqttModuleOptions): Promise<Error> {
  try {
    await boot(options);
  } catch (error) {
    return error as Error;
  }
  throw new Error('bootstrap was expected to fail');
}

@Injectable()
class Echo {
  readonly got = new Inbox<string>();
  @OnTopic('cfg/v31/+', { qos: 1 })
  v31(payload: string, topic: string): void {
    this.got.push(`${topic} ${payload}`);
  }
}

@Injectable()
class Durable {
  readonly got = new Inbox<string>();
  @OnTopic('cfg/durable', { qos: 1 })
  handle(payload: string): void {
    this.got.push(payload);
  }
}

describe('durable sessions on MQTT 5', () => {
  it('clean: false and a clientId alone keep the session: a QoS 1 message published while the app was down arrives after restart', async () => {
    const options: MqttModuleOptions = { url: broker.url(), protocolVersion: 5, clean: false, clientId: 'cfg-durable-1' };
    const first = await boot(options, [Durable]);
    await first.get(MqttService).publish('cfg/durable', 'while up', { qos: 1 });
    expect(await first.get(Durable).got.waitFor(1)).toEqual(['while up']);
    await first.close();
    apps.splice(apps.indexOf(first), 1);

    await mosquittoPub(broker.ports.plain as number, 'cfg/durable', 'while down', { qos: 1, protocolVersion: 5 });

    const second = await boot(options, [Durable]);
    expect(await second.get(Durable).got.waitFor(1)).toEqual(['while down']);
  });
});

@Injectable()
class Sizes {
  readonly got = new Inbox<number>();
  @OnTopic('cfg/size', { payload: 'buffer' })
  handle(payload: Buffer): void {
    this.got.push(payload.length);
  }
}

describe('inbound packet size on MQTT 5', () => {
  it('the broker does not send a packet above the advertised Maximum Packet Size (maxPayloadBytes plus headroom)', async () => {
    const moduleRef = await boot({ url: broker.url(), protocolVersion: 5, maxPayloadBytes: 1_000 }, [Sizes]);
    const mqtt = moduleRef.get(MqttService);
    const received: number[] = [];
    mqtt.client.on('packetreceive', (packet: Packet) => {
      if (packet.cmd === 'publish') received.push(packet.payload.length);
    });
    const port = broker.ports.plain as number;
    await mosquittoPub(port, 'cfg/size', Buffer.alloc(300_000), { qos: 1, protocolVersion: 5 });
    await mosquittoPub(port, 'cfg/size', Buffer.alloc(120_000), { qos: 1, protocolVersion: 5 });
    await mosquittoPub(port, 'cfg/size', Buffer.alloc(10), { qos: 1, protocolVersion: 5 });
    expect(await moduleRef.get(Sizes).got.waitFor(1)).toEqual([10]);
    // 300,000 bytes never reached this process; 120,000 did (under 1,000 + headroom) and was refused when decoding.
    expect(received).toEqual([120_000, 10]);
    expect(mqtt.connected).toBe(true);
  });
});

describe('MQTT 3.1 (protocolVersion: 3)', () => {
  it('connects with a generated client id and receives its own QoS 1 publish through @OnTopic', async () => {
    const moduleRef = await boot({ url: broker.url(), protocolVersion: 3, connectTimeout: 5_000 }, [Echo]);
    const mqtt = moduleRef.get(MqttService);
    expect(mqtt.connected).toBe(true);
    expect(mqtt.client.options.clientId?.length).toBeLessThanOrEqual(23);
    await mqtt.publish('cfg/v31/a', 'hello', { qos: 1 });
    expect(await moduleRef.get(Echo).got.waitFor(1)).toEqual(['cfg/v31/a hello']);
  });
});

describe('TLS verification', () => {
  const credentials = () => ({ username: broker.users.app.username, password: broker.users.app.password, connectTimeout: 5_000 });

  it('insecure: true still refuses a broker whose certificate chain does not verify (another CA)', async () => {
    const error = await bootFails({ url: broker.url('tls'), ...credentials(), insecure: true, tls: { ca: broker.tls.wrongCa } });
    expect(error).toBeInstanceOf(MqttConnectionError);
    expect(error.message).toMatch(/SELF_SIGNED_CERT_IN_CHAIN|self-signed certificate/);
  });

  it('insecure: true accepts a certificate from the right CA for another host name', async () => {
    // The server certificate names localhost and 127.0.0.1; the client checks it against 'other.test'.
    const mismatch = { url: broker.url('tls'), ...credentials(), tls: { ca: broker.tls.ca, servername: 'other.test' } };
    expect((await bootFails(mismatch)).message).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/);
    const moduleRef = await boot({ ...mismatch, insecure: true });
    expect(moduleRef.get(MqttService).connected).toBe(true);
  });

  it('the same over wss:, where the TLS options reach the websocket', async () => {
    const mismatch = { url: broker.url('wss'), ...credentials(), tls: { ca: broker.tls.ca, servername: 'other.test' } };
    expect((await bootFails(mismatch)).message).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/);
    expect(await bootFails({ ...mismatch, insecure: true, tls: { ca: broker.tls.wrongCa, servername: 'other.test' } })).toBeInstanceOf(MqttConnectionError);
    const moduleRef = await boot({ ...mismatch, insecure: true });
    expect(moduleRef.get(MqttService).connected).toBe(true);
  });

  it('tls.rejectUnauthorized: false turns verification off: a certificate from another CA is accepted', async () => {
    const moduleRef = await boot({ url: broker.url('tls'), ...credentials(), tls: { ca: broker.tls.wrongCa, rejectUnauthorized: false } });
    expect(moduleRef.get(MqttService).connected).toBe(true);
  });
});
