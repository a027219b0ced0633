import 'reflect-metadata';
import { Injectable, Module, UseGuards, type CanActivate, type PipeTransform } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import mqtt from 'mqtt';
import { MqttModule, OnTopic, Payload } from 'nestjs-mqtt';
import { ReceiveWindow, type ConsumerMessage } from './measure.js';
import { workloadByName, type Workload } from './workloads.js';

/** A consumer process: `node consumer.js <raw|nest> <workload> <url> <messages>`. */
const [mode, workloadName, url, messages] = process.argv.slice(2);
const expected = Number(messages);
const send = (message: ConsumerMessage) => process.send?.(message);
const PROGRESS_EVERY = 1_000;

const window = new ReceiveWindow(expected, (result) => send({ type: 'done', result }));
function tick(): void {
  window.tick();
  if (window.received % PROGRESS_EVERY === 0) send({ type: 'progress', received: window.received, rssBytes: process.memoryUsage.rss() });
}

let sink = 0;

/** The floor: bare mqtt.js, one Map lookup and one JSON.parse per message. */
async function runRaw(workload: Workload): Promise<void> {
  const handlers = new Map<string, (payload: unknown) => void>();
  for (const key of workload.rawKeys) handlers.set(key, (payload) => (sink += (payload as { i: number }).i & 1));
  const client = await mqtt.connectAsync(url, { clean: true, protocolVersion: workload.moduleOptions?.protocolVersion ?? 4 });
  client.on('message', (topic, payload) => {
    handlers.get(workload.rawKey(topic))?.(JSON.parse(payload.toString()));
    tick();
  });
  // On MQTT 5 the floor receives the same packets as the library: each one names a subscription identifier.
  const properties = workload.moduleOptions?.protocolVersion === 5 ? { properties: { subscriptionIdentifier: 1 } } : {};
  await client.subscribeAsync([...workload.filters], { qos: workload.qos, ...properties });
}

@Injectable()
class AllowAll implements CanActivate {
  canActivate(): boolean {
    return true;
  }
}

class Identity implements PipeTransform {
  transform(value: unknown): unknown {
    return value;
  }
}

/**
 * A recording OpenTelemetry SDK whose exporters drop what they get: the cost of creating, recording and
 * ending spans and of recording metrics, without the cost of shipping them anywhere.
 */
async function registerOtelSdk(): Promise<void> {
  const [
    { context, metrics, propagation, trace },
    { AsyncLocalStorageContextManager },
    { W3CTraceContextPropagator },
    { MeterProvider, MetricReader },
    sdkTrace,
  ] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'),
    import('@opentelemetry/sdk-metrics'),
    import('@opentelemetry/sdk-trace-base'),
  ]);
  class Reader extends MetricReader {
    protected onForceFlush(): Promise<void> {
      return Promise.resolve();
    }
    protected onShutdown(): Promise<void> {
      return Promise.resolve();
    }
  }
  const discard = { export: (_spans: unknown, done: (result: { code: 0 }) => void) => done({ code: 0 }), shutdown: () => Promise.resolve() };
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(new sdkTrace.BasicTracerProvider({ spanProcessors: [new sdkTrace.BatchSpanProcessor(discard)] }));
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [new Reader()] }));
}

/** nestjs-mqtt: one decorated handler per filter, generated on a class. */
async function runNest(workload: Workload): Promise<void> {
  if (workload.otelSdk) await registerOtelSdk();
  class Handlers {}
  const prototype = Handlers.prototype as unknown as Record<string, unknown>;
  workload.filters.forEach((filter, index) => {
    const key = `handle${index}`;
    prototype[key] = function handle(payload: { i: number }): void {
      sink += payload.i & 1;
      tick();
    };
    const descriptor = Object.getOwnPropertyDescriptor(prototype, key)!;
    OnTopic(filter, { qos: workload.qos, ...workload.handlerOptions })(prototype, key, descriptor);
    if (workload.enhancers) {
      UseGuards(AllowAll)(prototype, key, descriptor);
      Payload(new Identity())(prototype, key, 0);
    }
  });
  Injectable()(Handlers);
  @Module({ imports: [MqttModule.forRoot({ url, ...workload.moduleOptions })], providers: [Handlers] })
  class BenchModule {}
  await NestFactory.createApplicationContext(BenchModule, { logger: false });
}

const workload = workloadByName(workloadName);
await (mode === 'raw' ? runRaw(workload) : runNest(workload));
send({ type: 'ready' });
process.on('disconnect', () => process.exit(sink === -1 ? 1 : 0));
