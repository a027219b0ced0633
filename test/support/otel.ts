import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { AggregationTemporality, MeterProvider, MetricReader, type DataPoint, type Histogram, type MetricData } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Inbox } from './inbox.js';

/** Every ended span, in the order they ended; tests wait on it instead of sleeping. */
export class SpanInbox extends Inbox<ReadableSpan> implements SpanProcessor {
  onStart(): void {}
  onEnd(span: ReadableSpan): void {
    this.push(span);
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** A metric reader the test collects from when it wants (cumulative, as Prometheus reads). */
class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * The OpenTelemetry SDK registered globally, as an app's tracing setup does before it creates the
 * Nest app: spans go to an in-memory inbox, metrics to a reader the test collects. `close()` unregisters it.
 */
export class OtelHarness {
  readonly spans = new SpanInbox();
  private readonly reader = new TestReader();
  private readonly tracerProvider = new BasicTracerProvider({ spanProcessors: [this.spans] });
  private readonly meterProvider = new MeterProvider({ readers: [this.reader] });

  static register(): OtelHarness {
    const harness = new OtelHarness();
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(harness.tracerProvider);
    metrics.setGlobalMeterProvider(harness.meterProvider);
    return harness;
  }

  /** Every metric the SDK holds now, by name. */
  async collect(): Promise<Map<string, MetricData>> {
    const { resourceMetrics, errors } = await this.reader.collect();
    if (errors.length > 0) throw new AggregateError(errors, 'metric collection failed');
    const byName = new Map<string, MetricData>();
    for (const scope of resourceMetrics.scopeMetrics) for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
    return byName;
  }

  async close(): Promise<void> {
    await this.tracerProvider.shutdown();
    await this.meterProvider.shutdown();
    trace.disable();
    metrics.disable();
    propagation.disable();
    context.disable();
  }
}

/** The sum of a counter's points whose attributes include `where`. */
export function sumOf(metric: MetricData | undefined, where: Record<string, unknown> = {}): number {
  if (!metric) return 0;
  return (metric.dataPoints as DataPoint<number>[]).filter((point) => matches(point.attributes, where)).reduce((sum, point) => sum + point.value, 0);
}

/** The count of a histogram's points whose attributes include `where`. */
export function countOf(metric: MetricData | undefined, where: Record<string, unknown> = {}): number {
  if (!metric) return 0;
  return (metric.dataPoints as DataPoint<Histogram>[]).filter((point) => matches(point.attributes, where)).reduce((sum, point) => sum + point.value.count, 0);
}

function matches(attributes: Record<string, unknown>, where: Record<string, unknown>): boolean {
  return Object.entries(where).every(([key, value]) => (value === undefined ? !(key in attributes) : attributes[key] === value));
}
