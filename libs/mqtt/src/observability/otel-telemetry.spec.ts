import { afterEach, describe, expect, it } from '@jest/globals';
import * as api from '@opentelemetry/api';
import type { IPublishPacket } from 'mqtt';
import { OtelHarness } from '../../../../test/support/otel.js';
import { createTelemetry } from './load-telemetry.js';
import type { TelemetryGauges } from './message-telemetry.js';
import { registeredProviders } from './otel-telemetry.js';

const client = { name: 'default', clientId: 'c1', host: 'localhost', port: 1883, mqtt5: true };
const gauges: TelemetryGauges = {
  status: () => 'connected',
  inFlightHandlers: () => 0,
  offlineQueue: () => 0,
  inflightWindow: () => ({ used: 0, limit: 100 }),
};
const handler = { label: 'Rooms#temperature', filter: 'home/+room/temperature', share: undefined };
const packet = (userProperties?: Record<string, string>): IPublishPacket =>
  ({
    cmd: 'publish',
    topic: 'home/kitchen/temperature',
    payload: Buffer.from('21'),
    qos: 1,
    messageId: 7,
    retain: false,
    dup: false,
    properties: userProperties && { userProperties },
  }) as IPublishPacket;

let harness: OtelHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe('OpenTelemetry detection', () => {
  it('finds no provider until an app registers one, so the message path gets no telemetry', () => {
    expect(registeredProviders(api)).toBeUndefined();
    expect(createTelemetry(api, client, gauges)).toBeUndefined();
    expect(createTelemetry(undefined, client, gauges)).toBeUndefined();
  });

  it('takes the providers registered before the app is created', () => {
    harness = OtelHarness.register();
    const providers = registeredProviders(api);
    expect(providers?.tracer).toBeDefined();
    expect(providers?.meter).toBeDefined();
    expect(createTelemetry(api, client, gauges)?.tracing).toBe(true);
  });
});

describe('trace context over MQTT 5 user properties', () => {
  it('injects traceparent into a copy of the properties, parented by the active span', () => {
    harness = OtelHarness.register();
    const telemetry = createTelemetry(api, client, gauges);
    const given = { userProperties: { tenant: 'a' } };
    const outer = api.trace.getTracer('test').startSpan('outer');
    const send = api.context.with(api.trace.setSpan(api.context.active(), outer), () =>
      telemetry?.send({ topic: 't/1', qos: 1, retain: false, bodyBytes: 2, properties: given }),
    );
    send?.end(undefined, 5);
    outer.end();
    expect(given).toEqual({ userProperties: { tenant: 'a' } });
    const traceparent = send?.properties?.userProperties?.traceparent as string;
    const [sendSpan] = harness.spans.items;
    expect(traceparent).toBe(`00-${outer.spanContext().traceId}-${sendSpan.spanContext().spanId}-01`);
    expect(send?.properties?.userProperties?.tenant).toBe('a');
    expect(sendSpan.parentSpanContext?.spanId).toBe(outer.spanContext().spanId);
    expect(sendSpan.attributes['messaging.message.id']).toBe('5');
  });

  it('keeps a traceparent the caller set, linking the send span to it', () => {
    harness = OtelHarness.register();
    const telemetry = createTelemetry(api, client, gauges);
    const custom = `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`;
    const send = telemetry?.send({ topic: 't/1', qos: 0, retain: false, bodyBytes: 2, properties: { userProperties: { traceparent: custom } } });
    send?.end();
    expect(send?.properties?.userProperties?.traceparent).toBe(custom);
    expect(harness.spans.items[0].links.map((link) => link.context.spanId)).toEqual(['2'.repeat(16)]);
  });

  it('injects nothing on MQTT 3.1.1, which has no properties', () => {
    harness = OtelHarness.register();
    const telemetry = createTelemetry(api, { ...client, mqtt5: false }, gauges);
    const send = telemetry?.send({ topic: 't/1', qos: 0, retain: false, bodyBytes: 2, properties: undefined });
    send?.end();
    expect(send?.properties).toBeUndefined();
    expect(harness.spans.items).toHaveLength(1);
  });

  it('continues the trace a message carries and runs the handler inside the process span', () => {
    harness = OtelHarness.register();
    const telemetry = createTelemetry(api, client, gauges);
    const run = telemetry?.process(handler, 'home/kitchen/temperature', packet({ traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` }));
    const active = run?.run(() => api.trace.getActiveSpan()?.spanContext().traceId);
    run?.end('ok');
    const [span] = harness.spans.items;
    expect(active).toBe('a'.repeat(32));
    expect(span.parentSpanContext?.spanId).toBe('b'.repeat(16));
    expect(span.name).toBe('process home/+room/temperature');
    expect(span.attributes['messaging.message.id']).toBe('7');
  });

  it('starts a new trace for a message without trace context, or with a malformed one', () => {
    harness = OtelHarness.register();
    const telemetry = createTelemetry(api, client, gauges);
    for (const properties of [undefined, { traceparent: 'not-a-traceparent' }]) {
      const run = telemetry?.process(handler, 'home/kitchen/temperature', packet(properties));
      run?.end('refused');
    }
    expect(harness.spans.items.map((span) => [span.parentSpanContext, span.attributes['error.type'], span.status.code])).toEqual([
      [undefined, 'refused', api.SpanStatusCode.UNSET],
      [undefined, 'refused', api.SpanStatusCode.UNSET],
    ]);
  });
});
