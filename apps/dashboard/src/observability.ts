import type { IncomingMessage, ServerResponse } from 'node:http';
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';

export interface ObservabilitySettings {
  /** Prometheus metrics at `/metrics` on the dashboard's own HTTP port (`METRICS=off` turns them off). */
  readonly metrics: boolean;
  /** OTLP/HTTP traces endpoint (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`); undefined: no tracing. */
  readonly otlpTracesUrl: string | undefined;
}

/** Answers a `GET /metrics` in Prometheus text format. */
export type MetricsHandler = (request: IncomingMessage, response: ServerResponse) => void;

export interface RunningObservability {
  /** Serves the metrics, when they are on; the dashboard's HTTP server routes `/metrics` to it. */
  readonly metricsHandler: MetricsHandler | undefined;
  /** Flushes pending spans and unregisters the providers. */
  close(): Promise<void>;
}

/**
 * The dashboard's OpenTelemetry setup: registered globally before the Nest app is created, which is
 * when nestjs-mqtt takes the tracer and meter. Metrics are read by the OpenTelemetry Prometheus exporter
 * (one set of instruments: the library's own) and served by the dashboard's HTTP server; traces go out over OTLP/HTTP.
 */
export async function startObservability(settings: ObservabilitySettings): Promise<RunningObservability> {
  const closers: Array<() => Promise<void>> = [];
  let metricsHandler: MetricsHandler | undefined;
  try {
    if (settings.metrics) {
      // No server of its own: the dashboard's HTTP server calls its request handler.
      const exporter = new PrometheusExporter({ preventServerStart: true });
      const provider = new MeterProvider({ readers: [exporter] });
      metrics.setGlobalMeterProvider(provider);
      metricsHandler = (request, response) => exporter.getMetricsRequestHandler(request, response);
      closers.push(async () => {
        await provider.shutdown();
        metrics.disable();
      });
    }
    if (settings.otlpTracesUrl !== undefined) {
      const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.otlpTracesUrl }))] });
      context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
      propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
      trace.setGlobalTracerProvider(provider);
      closers.push(async () => {
        await provider.shutdown();
        trace.disable();
        propagation.disable();
        context.disable();
      });
    }
  } catch (error) {
    await closeAll(closers);
    throw error;
  }
  return { metricsHandler, close: () => closeAll(closers) };
}

async function closeAll(closers: Array<() => Promise<void>>): Promise<void> {
  for (const close of closers.splice(0).reverse()) await close();
}
