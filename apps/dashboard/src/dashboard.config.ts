import type { ObservabilitySettings } from './observability.js';

/** Settings of the dashboard app, from the environment. */
export class DashboardConfig {
  constructor(
    /** Broker URL; when absent the app starts an embedded broker. */
    readonly mqttUrl: string | undefined,
    readonly heartbeatMs: number,
    /** Loopback port of the embedded broker (used only without `mqttUrl`); 0 picks a free one. */
    readonly embeddedBrokerPort: number = DashboardConfig.DEFAULT_EMBEDDED_BROKER_PORT,
    /** Prometheus endpoint and OTLP traces; none unless given (`fromEnv` serves metrics on 9464 by default). */
    readonly observability: ObservabilitySettings = { metricsPort: undefined, metricsHost: '127.0.0.1', otlpTracesUrl: undefined },
  ) {}

  /** The port Prometheus's OpenTelemetry exporter uses by convention. */
  static readonly DEFAULT_METRICS_PORT = 9464;

  /** Not 1883, so the embedded broker does not collide with a Mosquitto installed on the same machine. */
  static readonly DEFAULT_EMBEDDED_BROKER_PORT = 1884;

  static fromEnv(env: NodeJS.ProcessEnv = process.env): DashboardConfig {
    const heartbeatMs = Number(env.HEARTBEAT_MS ?? 5_000);
    if (!Number.isInteger(heartbeatMs) || heartbeatMs <= 0) {
      throw new Error(`HEARTBEAT_MS must be a positive integer (milliseconds), got ${JSON.stringify(env.HEARTBEAT_MS)}`);
    }
    const portText = env.EMBEDDED_BROKER_PORT?.trim() || String(DashboardConfig.DEFAULT_EMBEDDED_BROKER_PORT);
    const embeddedBrokerPort = /^\d+$/.test(portText) ? Number(portText) : Number.NaN;
    if (!(embeddedBrokerPort >= 0 && embeddedBrokerPort <= 65_535)) {
      throw new Error(`EMBEDDED_BROKER_PORT must be a port number from 0 to 65535 (0 picks a free one), got ${JSON.stringify(env.EMBEDDED_BROKER_PORT)}`);
    }
    return new DashboardConfig(env.MQTT_URL || undefined, heartbeatMs, embeddedBrokerPort, {
      metricsPort: metricsPortFrom(env.METRICS_PORT),
      metricsHost: env.METRICS_HOST?.trim() || '127.0.0.1',
      otlpTracesUrl: otlpTracesUrlFrom(env),
    });
  }
}

/** `METRICS_PORT`: a port (0 picks one), `off` for no endpoint; 9464 when unset. */
function metricsPortFrom(text: string | undefined): number | undefined {
  const value = text?.trim() || String(DashboardConfig.DEFAULT_METRICS_PORT);
  if (value === 'off') return undefined;
  const port = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(port >= 0 && port <= 65_535)) {
    throw new Error(`METRICS_PORT must be a port number from 0 to 65535 (0 picks a free one) or off, got ${JSON.stringify(text)}`);
  }
  return port;
}

/** The OpenTelemetry exporter variables: the traces endpoint itself, or the base endpoint plus `/v1/traces`. */
function otlpTracesUrlFrom(env: NodeJS.ProcessEnv): string | undefined {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (traces) return traces;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  return base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined;
}
