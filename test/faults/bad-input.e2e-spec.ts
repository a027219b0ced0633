import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import type { Packet } from 'mqtt';
import {
  MqttArgumentError,
  MqttConfigError,
  MqttError,
  MqttModule,
  MqttService,
  MqttTopicError,
  OnTopic,
  topicFrom,
  type MqttModuleOptions,
} from 'nestjs-mqtt';
import { MosquittoBroker } from '../fixtures/mosquitto.js';
import { mosquittoPub } from '../fixtures/mosquitto-clients.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { writeFigures } from '../support/figures.js';
import { Inbox } from '../support/inbox.js';

type ErrorClass = new (...args: never[]) => MqttError;

let broker: MosquittoBroker;
let moduleRef: TestingModule;
let mqtt: MqttService;
const logger = new CaptureLogger();
const sent: Packet[] = [];
let connects = 0;
const rows: string[] = [];

@Injectable()
class Decoding {
  readonly got = new Inbox<string>();
  @OnTopic('in/json', { payload: 'json' })
  json(payload: unknown): void {
    this.got.push(`json:${JSON.stringify(payload)}`);
  }
  @OnTopic('in/text', { payload: 'text' })
  text(payload: string): void {
    this.got.push(`text:${payload}`);
  }
}

beforeAll(async () => {
  broker = await MosquittoBroker.start();
  moduleRef = await Test.createTestingModule({
    imports: [MqttModule.forRoot({ url: broker.url(), maxPayloadBytes: 1_024 })],
    providers: [Decoding],
  })
    .setLogger(logger)
    .compile();
  mqtt = moduleRef.get(MqttService);
  mqtt.client.on('packetsend', (packet: Packet) => sent.push(packet));
  mqtt.client.on('connect', () => connects++);
  await moduleRef.init();
});

afterAll(async () => {
  await moduleRef.close();
  await broker.close();
  writeFigures(
    '3-bad-input',
    [
      '## Bad input (reliability.md §6)',
      '',
      'Each call below rejects with a typed error naming the argument or option. For runtime calls, the suite also checks that no PUBLISH or SUBSCRIBE packet was sent and the connection was never dropped (one CONNACK for the whole suite).',
      '',
      '| # | input | error |',
      '| --- | --- | --- |',
      ...rows,
    ].join('\n'),
  );
});

const longTopic = 'x'.repeat(65_536);
const deep = Array.from({ length: 201 }, () => 'l').join('/');

const runtime: Array<[id: string, input: string, call: () => Promise<unknown>, type: ErrorClass, message: string]> = [
  ['B1', "subscribe('a/#/b')", () => mqtt.subscribe('a/#/b'), MqttTopicError, "'#' must be the last level"],
  ['B2', "subscribe('sport+')", () => mqtt.subscribe('sport+'), MqttTopicError, "'+' must occupy a whole level"],
  ['B3', "subscribe('')", () => mqtt.subscribe(''), MqttTopicError, 'must not be empty'],
  ['B4', 'subscribe([])', () => mqtt.subscribe([]), MqttArgumentError, "'filter'"],
  ['B5', "subscribe('a/\\nb')", () => mqtt.subscribe('a/\nb'), MqttTopicError, 'control character U+000A'],
  ['B5', "subscribe('a/\\u0000')", () => mqtt.subscribe('a/\u0000'), MqttTopicError, 'control character U+0000'],
  ['B6', "subscribe('$share/g+/t')", () => mqtt.subscribe('$share/g+/t'), MqttTopicError, 'must not contain'],
  ['B6', "subscribe('$share//t')", () => mqtt.subscribe('$share//t'), MqttTopicError, 'group must not be empty'],
  ['B6', "subscribe('$share/g')", () => mqtt.subscribe('$share/g'), MqttTopicError, 'needs a filter'],
  ['B7', 'subscribe(201 levels)', () => mqtt.subscribe(deep), MqttTopicError, 'too many levels'],
  ['B8', "publish('a/+/b')", () => mqtt.publish('a/+/b', 'x', { qos: 1 }), MqttTopicError, 'wildcards'],
  ['B8', "publish('a/#')", () => mqtt.publish('a/#', 'x'), MqttTopicError, 'wildcards'],
  ['B9', "publish('')", () => mqtt.publish('', 'x'), MqttTopicError, 'must not be empty'],
  ['B10', 'publish(undefined)', () => mqtt.publish(undefined as never, 'x'), MqttTopicError, 'must be a string'],
  ['B10', 'publish(null)', () => mqtt.publish(null as never, 'x'), MqttTopicError, 'must be a string'],
  ['B10', 'publish(42)', () => mqtt.publish(42 as never, 'x'), MqttTopicError, 'must be a string'],
  ['B11', "publish('a\\u0000b')", () => mqtt.publish('a\u0000b', 'x', { qos: 1 }), MqttTopicError, 'control character U+0000'],
  ['B12', 'publish(65,536-byte topic)', () => mqtt.publish(longTopic, 'x'), MqttTopicError, '65535 bytes'],
  ['B13', 'publish(201 levels)', () => mqtt.publish(deep, 'x', { qos: 1 }), MqttTopicError, 'too many levels'],
  ['B14', "topicFrom('devices', 'a/b', 'cmd')", async () => topicFrom('devices', 'a/b', 'cmd'), MqttTopicError, "must not contain '/', '+' or '#'"],
  ['B14', "topicFrom('devices', '+', 'cmd')", async () => topicFrom('devices', '+', 'cmd'), MqttTopicError, "must not contain '/', '+' or '#'"],
  ['B15', 'publish qos: 3', () => mqtt.publish('a', 'x', { qos: 3 as never }), MqttArgumentError, 'options.qos'],
  ['B15', 'publish qos: -1', () => mqtt.publish('a', 'x', { qos: -1 as never }), MqttArgumentError, 'options.qos'],
  ['B15', "subscribe qos: '1'", () => mqtt.subscribe('a', { qos: '1' as never }), MqttArgumentError, 'options.qos'],
  ['B16', 'publish(payload > maxPayloadBytes)', () => mqtt.publish('a', Buffer.alloc(1_025)), MqttArgumentError, 'exceed maxPayloadBytes (1024)'],
  ['B18', 'publish(a function)', () => mqtt.publish('a', (() => 1) as never), MqttArgumentError, "'payload'"],
  ['B18', 'publish(undefined payload)', () => mqtt.publish('a', undefined as never), MqttArgumentError, "'payload'"],
];

// First: other suites' Test.createTestingModule() calls replace Nest's static logger override.
describe('incoming payloads', () => {
  it('B19/B20: invalid JSON, oversize payloads, invalid UTF-8 never reach the handler and are reported with the topic; __proto__ pollutes nothing', async () => {
    const decoding = moduleRef.get(Decoding);
    await mosquittoPub(broker.ports.plain as number, 'in/json', '{not json');
    await mosquittoPub(broker.ports.plain as number, 'in/json', JSON.stringify({ pad: 'x'.repeat(2_000) }));
    await mosquittoPub(broker.ports.plain as number, 'in/text', Buffer.from([0xc3, 0x28]));
    await mosquittoPub(broker.ports.plain as number, 'in/json', '{"__proto__":{"polluted":true},"ok":1}');
    await mosquittoPub(broker.ports.plain as number, 'in/text', 'fine');
    expect(await decoding.got.waitFor(2)).toEqual(['json:{"ok":1}', 'text:fine']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const warnings = logger.lines.filter((l) => l.level === 'warn').map((l) => l.text);
    expect(warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/Payload on 'in\/json' not delivered to Decoding#json: not valid JSON/),
        expect.stringMatching(/Payload on 'in\/json' not delivered to Decoding#json: 2\d{3} bytes exceed maxPayloadBytes \(1024\)/),
        expect.stringMatching(/Payload on 'in\/text' not delivered to Decoding#text: not valid UTF-8/),
      ]),
    );
    rows.push(
      '| B19 | invalid JSON, 2 KB JSON over a 1 KB cap, `{"__proto__":…}` | handler not called, warning with topic and handler; `__proto__` key dropped |',
    );
    rows.push('| B20 | bytes `c3 28` to a `text` handler | handler not called, warning: not valid UTF-8 |');
  });
});

describe('runtime calls', () => {
  it.each(runtime)('%s %s: typed error, nothing sent, connection kept', async (id, input, call, type, message) => {
    const before = sent.length;
    const result = call();
    await expect(result).rejects.toThrow(type);
    await expect(result).rejects.toThrow(message);
    const error = await result.catch((e: Error) => e);
    expect(sent.slice(before).filter((p) => p.cmd === 'publish' || p.cmd === 'subscribe')).toEqual([]);
    expect(mqtt.connected).toBe(true);
    expect(connects).toBe(1);
    rows.push(`| ${id} | \`${input}\` | ${(error as Error).constructor.name}: ${(error as Error).message.slice(0, 240).replace(/\|/g, '\\|')} |`);
  });
});

const config: Array<[id: string, input: string, options: MqttModuleOptions, field: string]> = [
  ['B21', 'password without username', { url: 'mqtt://127.0.0.1:1', password: 'p' }, 'password'],
  ['B22', 'clean: false without clientId', { url: 'mqtt://127.0.0.1:1', clean: false }, 'clientId'],
  ['B22', "clientId: ''", { url: 'mqtt://127.0.0.1:1', clientId: '' }, 'clientId'],
  ['B25', "url 'localhost:1883'", { url: 'localhost:1883' }, 'url'],
  ['B25', "url 'foo://h:1'", { url: 'foo://h:1' }, 'url'],
  ['B26', 'rejectUnauthorized: false without insecure', { url: 'mqtts://h', clientOptions: { rejectUnauthorized: false } }, 'clientOptions.rejectUnauthorized'],
  ['B27', 'keepalive 70000', { url: 'mqtt://h', keepalive: 70_000 }, 'keepalive'],
  ['B27', 'reconnectPeriod -1', { url: 'mqtt://h', reconnectPeriod: -1 }, 'reconnectPeriod'],
  ['—', 'will.qos 3', { url: 'mqtt://h', will: { topic: 'w', qos: 3 as never } }, 'will.qos'],
  ['—', "will.topic 'w/#'", { url: 'mqtt://h', will: { topic: 'w/#' } }, 'will.topic'],
  ['—', "tls.ca '/missing.pem'", { url: 'mqtts://h', tls: { ca: '/missing.pem' } }, 'tls.ca'],
];

describe('module options', () => {
  it.each(config)('%s %s: MqttConfigError naming the option at bootstrap', async (id, input, options, field) => {
    const error = await Test.createTestingModule({ imports: [MqttModule.forRoot(options)] })
      .compile()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(MqttConfigError);
    expect((error as MqttConfigError).field).toBe(field);
    rows.push(`| ${id} | ${input} | MqttConfigError: ${(error as Error).message.replace(/\|/g, '\\|')} |`);
  });
});

describe('MQTT 5 publish properties', () => {
  const bad: Array<[input: string, properties: Record<string, unknown>, argument: string]> = [
    ['contentType: 5', { contentType: 5 }, 'options.properties.contentType'],
    ['messageExpiryInterval: -5', { messageExpiryInterval: -5 }, 'options.properties.messageExpiryInterval'],
    ['userProperties: { k: 1 }', { userProperties: { k: 1 } }, 'options.properties.userProperties'],
  ];

  it('values mqtt-packet cannot encode are refused before the wire; the connection stays up and later publishes go through', async () => {
    const v5 = await Test.createTestingModule({ imports: [MqttModule.forRoot({ url: broker.url(), protocolVersion: 5 })] }).compile();
    await v5.init();
    const client = v5.get(MqttService);
    const packets: Packet[] = [];
    let connacks = 0;
    client.client.on('packetsend', (packet: Packet) => packets.push(packet));
    client.client.on('connect', () => connacks++);
    try {
      for (const [input, properties, argument] of bad) {
        for (const qos of [0, 1] as const) {
          const error = await client.publish('t/props', 'x', { qos, properties: properties as never }).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(MqttArgumentError);
          expect((error as MqttArgumentError).argument).toMatch(argument);
        }
        rows.push(`| B28 | publish properties \`${input}\` (MQTT 5) | MqttArgumentError naming \`${argument}\` |`);
      }
      expect(packets.filter((packet) => packet.cmd === 'publish')).toEqual([]);
      await expect(client.publish('t/props', 'fine', { qos: 1, properties: { contentType: 'text/plain' } })).resolves.toHaveProperty('messageId');
      expect(connacks).toBe(0);
      expect(client.connected).toBe(true);
    } finally {
      await v5.close();
    }
  });
});
