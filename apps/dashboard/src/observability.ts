import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';

export interface ObservabilitySettings {
  /** Port of the Prometheus `/metrics` endpoint; undefined: no metrics endpoint; 0 picks a free port. */
  readonly metricsPort: number | undefined;
  readonly metricsHost: string;
  /** OTLP/HTTP traces endpoint (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`); undefined: no tracing. */
  readonly otlpTracesUrl: string | undefined;
}

export interface RunningObservability {
  /** `http://host:port/metrics`, when metrics are served. */
  readonly metricsUrl: string | undefined;
  /** Flushes pending spans, stops the endpoint and unregisters the providers. */
  close(): Promise<void>;
}

/**
 * The dashboard's OpenTelemetry setup: registered globally before the Nest app is created, which is
 * when nestjs-mqtt takes the tracer and meter. Metrics are served in Prometheus text format by the
 * OpenTelemetry exporter (one set of instruments: the library's own), traces go out over OTLP/HTTP.
 */
export async function startObservability(settings: ObservabilitySettings): Promise<RunningObservability> {
  const closers: Array<() => Promise<void>> = [];
  let metricsUrl: string | undefined;
  try {
    if (settings.metricsPort !== undefined) {
      // The exporter's own server cannot report the port it took; ours serves its handler.
      const exporter = new PrometheusExporter({ preventServerStart: true });
      const provider = new MeterProvider({ readers: [exporter] });
      metrics.setGlobalMeterProvider(provider);
      const server = createServer((request, response) => {
        if (request.method === 'GET' && request.url?.split('?')[0] === '/metrics') {
          exporter.getMetricsRequestHandler(request, response);
          return;
        }
        response.writeHead(404).end('not found: metrics are at /metrics\n');
      });
      await listen(server, settings.metricsPort, settings.metricsHost);
      const { port } = server.address() as AddressInfo;
      metricsUrl = `http://${settings.metricsHost.includes(':') ? `[${settings.metricsHost}]` : settings.metricsHost}:${port}/metrics`;
      closers.push(async () => {
        await new Promise<void>((resolve) => server.close(() => resolve()));
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
  return { metricsUrl, close: () => closeAll(closers) };
}

async function closeAll(closers: Array<() => Promise<void>>): Promise<void> {
  for (const close of closers.splice(0).reverse()) await close();
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
