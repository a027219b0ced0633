import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import mqtt from 'mqtt';
import { MqttService, OnTopic, Payload, TopicParam } from 'nestjs-mqtt';
import { brokerSuite } from './support/broker-suite.js';
import { CaptureLogger } from './support/capture-logger.js';
import { Inbox } from './support/inbox.js';
import { countOf, OtelHarness, sumOf } from './support/otel.js';

/**
 * OpenTelemetry end to end on Mosquitto: spans with their parents across apps, devices and request/reply,
 * and metrics that match known traffic exactly. The SDK is registered before the apps are created, as an
 * app's tracing setup does.
 */
const suite = brokerSuite();
let otel: OtelHarness;
beforeAll(() => {
  otel = OtelHarness.register();
});
afterAll(async () => {
  await otel.close();
});
const logger = new CaptureLogger();
const boot = (providers: Array<new (...args: never[]) => unknown>, name: string) =>
  suite.boot(providers, { protocolVersion: 5, clientId: `otel-${name}-${process.pid}`, reply: true }, logger);

const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId;

@Injectable()
class Pricing {
  @OnTopic('pricing/quote', { reply: true })
  quote(@Payload() order: { id: string }): { id: string; price: number } {
    return { id: order.id, price: 42 };
  }
}

@Injectable()
class Orders {
  readonly quotes = new Inbox<unknown>();
  constructor(private readonly mqtt: MqttService) {}
  @OnTopic('orders/+id/created', { qos: 1 })
  async created(@TopicParam('id') id: string): Promise<void> {
    this.quotes.push(await this.mqtt.request('pricing/quote', { id }, { timeout: 5_000 }));
  }
}

@Injectable()
class Readings {
  readonly seen = new Inbox<string>();
  @OnTopic('fleet/+device/telemetry', { payload: 'json' })
  reading(@TopicParam('device') device: string, @Payload() value: { fail?: boolean }): void {
    this.seen.push(device);
    if (value.fail) throw new Error('reading rejected');
  }
}

describe('OpenTelemetry traces', () => {
  it('keeps one trace from a publish in app A through a handler in app B and its request to app C', async () => {
    const a = await boot([], 'a');
    const b = await boot([Orders], 'b');
    await boot([Pricing], 'c');
    await a.get(MqttService).publish('orders/7/created', { total: 3 }, { qos: 1 });
    await expect(b.get(Orders).quotes.waitFor(1)).resolves.toEqual([{ id: '7', price: 42 }]);
    // A's send, B's process, B's request send, C's process, C's reply send.
    await otel.spans.until((spans) => spans.filter((span) => span.name === 'process orders/+id/created').length === 1);
    const processB = otel.spans.items.find((span) => span.name === 'process orders/+id/created') as ReadableSpan;
    const trace = otel.spans.items.filter((span) => span.spanContext().traceId === processB.spanContext().traceId);
    const sendA = trace.find((span) => span.name === 'send orders/7/created');
    const request = trace.find((span) => span.name === 'send pricing/quote');
    const processC = trace.find((span) => span.name === 'process pricing/quote');
    const reply = trace.find((span) => span.kind === SpanKind.PRODUCER && span.name.startsWith('send nestjs-mqtt/reply/'));
    expect([sendA, request, processC, reply].every(Boolean)).toBe(true);
    expect(parentOf(sendA as ReadableSpan)).toBeUndefined();
    expect(parentOf(processB)).toBe(sendA?.spanContext().spanId);
    expect(parentOf(request as ReadableSpan)).toBe(processB.spanContext().spanId);
    expect(parentOf(processC as ReadableSpan)).toBe(request?.spanContext().spanId);
    expect(parentOf(reply as ReadableSpan)).toBe(processC?.spanContext().spanId);
    expect(processB.kind).toBe(SpanKind.CONSUMER);
    expect(processB.links.map((link) => link.context.spanId)).toEqual([sendA?.spanContext().spanId]);
    expect(processB.attributes).toMatchObject({
      'messaging.system': 'mqtt',
      'messaging.operation.name': 'process',
      'messaging.operation.type': 'process',
      'messaging.destination.name': 'orders/7/created',
      'messaging.destination.template': 'orders/+id/created',
      'code.function.name': 'Orders#created',
      'messaging.client.id': `otel-b-${process.pid}`,
      'messaging.mqtt.qos': 1,
      'messaging.mqtt.retain': false,
      'messaging.mqtt.client.name': 'default',
    });
    expect(processB.attributes['messaging.message.id']).toEqual(expect.any(String));
    expect(processB.attributes['messaging.message.body.size']).toBe(Buffer.byteLength('{"total":3}'));
    expect(sendA?.kind).toBe(SpanKind.PRODUCER);
    expect(sendA?.attributes).toMatchObject({
      'messaging.operation.name': 'send',
      'messaging.destination.name': 'orders/7/created',
      'messaging.mqtt.qos': 1,
      'server.port': suite.broker.ports.plain,
    });
    expect(request?.attributes['messaging.message.conversation_id']).toEqual(expect.any(String));
  });

  it('continues the trace of a plain mqtt.js device that sends a traceparent user property', async () => {
    const app = await boot([Readings], 'device');
    const traceId = 'aa'.repeat(16);
    const deviceSpan = 'bb'.repeat(8);
    const device = await mqtt.connectAsync(suite.broker.url(), { protocolVersion: 5 });
    try {
      await device.publishAsync('fleet/d1/telemetry', '{"v":1}', {
        qos: 1,
        properties: { userProperties: { traceparent: `00-${traceId}-${deviceSpan}-01` } },
      });
    } finally {
      await device.endAsync();
    }
    await app.get(Readings).seen.waitFor(1);
    await otel.spans.until((spans) => spans.some((span) => span.spanContext().traceId === traceId));
    const span = otel.spans.items.find((s) => s.spanContext().traceId === traceId) as ReadableSpan;
    expect(span.name).toBe('process fleet/+device/telemetry');
    expect(parentOf(span)).toBe(deviceSpan);
  });

  it('marks a failed handler run as an error with the exception', async () => {
    const app = await boot([Readings], 'fail');
    await app.get(MqttService).publish('fleet/bad/telemetry', { fail: true }, { qos: 1 });
    await otel.spans.until((spans) =>
      spans.some((span) => span.attributes['messaging.destination.name'] === 'fleet/bad/telemetry' && span.kind === SpanKind.CONSUMER),
    );
    const span = otel.spans.items.find(
      (s) => s.attributes['messaging.destination.name'] === 'fleet/bad/telemetry' && s.kind === SpanKind.CONSUMER,
    ) as ReadableSpan;
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'reading rejected' });
    expect(span.attributes['error.type']).toBe('Error');
    expect(span.events.map((event) => event.name)).toEqual(['exception']);
    await logger.waitFor('reading rejected');
  });
});

describe('telemetry: false and describe()', () => {
  it('with telemetry: false a client records no span, while stats() still counts', async () => {
    const app = await suite.boot([Readings], { protocolVersion: 5, telemetry: false }, logger);
    await app.get(MqttService).publish('fleet/quiet/telemetry', { v: 1 }, { qos: 1 });
    await app.get(Readings).seen.waitFor(1);
    expect(otel.spans.items.filter((span) => String(span.attributes['messaging.destination.name']).startsWith('fleet/quiet'))).toEqual([]);
    expect(app.get(MqttService).stats().messages).toMatchObject({ received: 1, handled: 1, published: 1, acknowledged: 1 });
  });

  it('describes the bound handlers, the held subscriptions and the connection', async () => {
    const plain = await boot([Readings, Pricing], 'describe');
    const description = plain.get(MqttService).describe();
    expect(description).toMatchObject({ client: 'default', clientId: `otel-describe-${process.pid}`, protocolVersion: 5, status: 'connected' });
    expect(description.url).toBe(suite.broker.url());
    expect(description.handlers).toEqual([
      { handler: 'Readings#reading', filter: 'fleet/+device/telemetry', share: undefined, payload: 'json', ack: 'auto', reply: true, qos: 0 },
      { handler: 'Pricing#quote', filter: 'pricing/quote', share: undefined, payload: 'auto', ack: 'auto', reply: true, qos: 0 },
    ]);
    expect(description.subscriptions).toEqual(
      expect.arrayContaining([
        { filter: 'fleet/+/telemetry', qos: 0, granted: 0, identifier: expect.any(Number) },
        { filter: 'pricing/quote', qos: 0, granted: 0, identifier: expect.any(Number) },
      ]),
    );
  });
});

describe('OpenTelemetry metrics', () => {
  it('counts known traffic exactly: sent, consumed, handled, failed and decode failures', async () => {
    const app = await boot([Readings], 'metrics');
    const service = app.get(MqttService);
    const before = await otel.collect();
    const [good, bad, broken] = [7, 3, 2];
    for (let i = 0; i < broken; i++) await service.publish(`fleet/broken${i}/telemetry`, Buffer.from('{not json'), { qos: 1 });
    for (let i = 0; i < bad; i++) await service.publish(`fleet/bad${i}/telemetry`, { fail: true }, { qos: 1 });
    for (let i = 0; i < good; i++) await service.publish(`fleet/good${i}/telemetry`, { v: i }, { qos: 1 });
    // One QoS 1 publisher, one subscription: delivered in order, so the last good run ends last.
    await otel.spans.until((spans) =>
      spans.some((span) => span.attributes['messaging.destination.name'] === `fleet/good${good - 1}/telemetry` && span.kind === SpanKind.CONSUMER),
    );
    const after = await otel.collect();
    const client = { 'messaging.mqtt.client.name': 'default' };
    const handler = { 'code.function.name': 'Readings#reading', 'messaging.destination.template': 'fleet/+device/telemetry' };
    const delta = (name: string, where: Record<string, unknown>, read = sumOf) => read(after.get(name), where) - read(before.get(name), where);
    // Every app in this file shares the global meter, so counts are taken for this handler or as differences.
    expect(delta('messaging.client.sent.messages', { ...client, 'error.type': undefined })).toBeGreaterThanOrEqual(good + bad + broken);
    expect(delta('messaging.process.duration', { ...handler, 'error.type': undefined }, countOf)).toBe(good);
    expect(delta('messaging.process.duration', { ...handler, 'error.type': 'Error' }, countOf)).toBe(bad);
    expect(delta('messaging.mqtt.dropped.messages', { ...handler, 'messaging.mqtt.drop.reason': 'decode' })).toBe(broken);
    const stats = service.stats();
    expect(stats.messages).toMatchObject({
      received: good + bad + broken,
      handled: good,
      failed: bad,
      published: good + bad + broken,
      acknowledged: good + bad + broken,
    });
    expect(stats.messages.dropped.decode).toBe(broken);
    expect(stats.handlers).toEqual([
      expect.objectContaining({ handler: 'Readings#reading', filters: ['fleet/+device/telemetry'], handled: good, failed: bad, refused: broken }),
    ]);
  });

  it('labels by filter, never by topic: 10,000 distinct topics through one wildcard handler make one series', async () => {
    const app = await boot([Readings], 'cardinality');
    const service = app.get(MqttService);
    const topics = 10_000;
    await service.publish('fleet/first/telemetry', { v: 0 });
    await app.get(Readings).seen.waitFor(1);
    const seriesOf = async (): Promise<number[]> => {
      const collected = await otel.collect();
      return [...collected.values()].map((metric) => metric.dataPoints.length);
    };
    const before = await seriesOf();
    // In batches: mqtt.js adds a 'drain' listener per QoS 0 write waiting on a full socket.
    for (let batch = 0; batch < topics; batch += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, i) => service.publish(`fleet/c${batch + i}/telemetry`, { v: batch + i })));
    }
    await app.get(Readings).seen.waitFor(topics + 1, 30_000);
    // Every metric has as many series as before the 10,000 topics, and none has more than a handful.
    expect(await seriesOf()).toEqual(before);
    expect(Math.max(...before)).toBeLessThan(20);
  });
});
