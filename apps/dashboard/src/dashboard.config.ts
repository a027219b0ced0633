import type { LogLevel } from '@nestjs/common';
import { mqttOptionsFromEnv, type MqttModuleOptions } from 'nestjs-mqtt';
import { LOG_LEVELS } from './dashboard-logger.js';
import { DashboardToken } from './dashboard-token.js';
import { DEFAULT_GATEWAY_LIMITS, type GatewayLimits } from './gateway/gateway-limits.js';
import type { ObservabilitySettings } from './observability.js';

/** What `new DashboardConfig()` takes; every field has a default. */
export interface DashboardSettings {
  /** `MQTT_URL`: the broker to use. Without it (and without an address in `mqtt`) the app starts an embedded broker. */
  readonly mqttUrl?: string;
  /** The other client options (`mqttOptionsFromEnv()`); an address here (`url`, `host`) also selects a broker. */
  readonly mqtt?: MqttModuleOptions;
  readonly heartbeatMs?: number;
  /** Loopback port of the embedded broker (used only without a broker); 0 picks a free one. */
  readonly embeddedBrokerPort?: number;
  /** Interface the HTTP server binds (default 127.0.0.1); any other than loopback needs `token`. */
  readonly host?: string;
  /** HTTP port of the page, its WebSocket and `/metrics` (default 3000); 0 picks a free one. */
  readonly port?: number;
  /** `DASHBOARD_TOKEN`: pages must send it to connect. */
  readonly token?: string;
  /** The simulated sensor feed at start; default on with the embedded broker, off with another. */
  readonly simulate?: boolean;
  /** Default: no metrics, no tracing (`fromEnv` turns metrics on). */
  readonly observability?: Partial<ObservabilitySettings>;
  readonly limits?: Partial<GatewayLimits>;
  /** `LOG_LEVEL`: `log` (default) prints errors, warnings and the app's own lines; `debug` every handled message too. */
  readonly logLevel?: LogLevel;
}

/** Settings of the dashboard app, from the environment (`fromEnv`) or given (`new DashboardConfig({...})`, in tests). */
export class DashboardConfig {
  /** Not 1883, so the embedded broker does not collide with a Mosquitto installed on the same machine. */
  static readonly DEFAULT_EMBEDDED_BROKER_PORT = 1884;
  static readonly DEFAULT_PORT = 3000;
  static readonly DEFAULT_HOST = '127.0.0.1';

  readonly mqttUrl: string | undefined;
  readonly mqtt: MqttModuleOptions;
  readonly heartbeatMs: number;
  readonly embeddedBrokerPort: number;
  readonly host: string;
  readonly port: number;
  readonly token: DashboardToken | undefined;
  readonly simulate: boolean;
  readonly observability: ObservabilitySettings;
  readonly limits: GatewayLimits;
  readonly logLevel: LogLevel;

  constructor(settings: DashboardSettings = {}) {
    this.mqttUrl = settings.mqttUrl || undefined;
    this.mqtt = settings.mqtt ?? {};
    this.heartbeatMs = settings.heartbeatMs ?? 5_000;
    this.embeddedBrokerPort = settings.embeddedBrokerPort ?? DashboardConfig.DEFAULT_EMBEDDED_BROKER_PORT;
    this.host = settings.host ?? DashboardConfig.DEFAULT_HOST;
    this.port = settings.port ?? DashboardConfig.DEFAULT_PORT;
    this.token = settings.token ? new DashboardToken(settings.token) : undefined;
    this.simulate = settings.simulate ?? this.usesEmbeddedBroker;
    this.observability = { metrics: false, otlpTracesUrl: undefined, ...settings.observability };
    this.limits = { ...DEFAULT_GATEWAY_LIMITS, ...settings.limits };
    this.logLevel = settings.logLevel ?? 'log';
    if (!isLoopback(this.host) && !this.token) {
      throw new Error(
        `HOST=${this.host} is not a loopback address, so anyone who can reach it could publish to your broker: ` +
          `set DASHBOARD_TOKEN (the page asks for it), or bind 127.0.0.1`,
      );
    }
  }

  /** Neither `MQTT_URL` nor an address among the `MQTT_*` keys: the app runs its own broker. */
  get usesEmbeddedBroker(): boolean {
    return this.mqttUrl === undefined && this.mqtt.url === undefined && this.mqtt.host === undefined;
  }

  /**
   * The app's client options: the `MQTT_*` keys with the broker's URL (`MQTT_URL`, else the embedded broker's), and
   * MQTT 5 unless `MQTT_PROTOCOL_VERSION` says otherwise (user properties need it) or the broker is the embedded aedes,
   * which speaks MQTT 3.1.1 only. The client keeps the default name.
   */
  mqttModuleOptions(embeddedBrokerUrl: string | undefined): MqttModuleOptions {
    const url = this.mqttUrl ?? embeddedBrokerUrl;
    const { url: _url, host: _host, port: _port, protocol: _protocol, ...rest } = this.mqtt;
    const address = url === undefined ? this.mqtt : { ...rest, url };
    return { ...address, protocolVersion: this.mqtt.protocolVersion ?? (this.usesEmbeddedBroker ? 4 : 5) };
  }

  static fromEnv(env: NodeJS.ProcessEnv = process.env): DashboardConfig {
    const heartbeatMs = Number(env.HEARTBEAT_MS ?? 5_000);
    if (!Number.isInteger(heartbeatMs) || heartbeatMs <= 0) {
      throw new Error(`HEARTBEAT_MS must be a positive integer (milliseconds), got ${JSON.stringify(env.HEARTBEAT_MS)}`);
    }
    for (const gone of ['METRICS_PORT', 'METRICS_HOST']) {
      if (env[gone]?.trim()) throw new Error(`${gone} is no longer read: metrics are served at /metrics on PORT (METRICS=off turns them off)`);
    }
    const mqtt = mqttOptionsFromEnv(env);
    if (!env.MQTT_BROKER_URL) {
      // Without MQTT_BROKER_URL, mqttOptionsFromEnv's address is its default (localhost:1883), not a choice.
      delete mqtt.protocol;
      delete mqtt.host;
      delete mqtt.port;
    }
    return new DashboardConfig({
      mqttUrl: env.MQTT_URL?.trim() || undefined,
      mqtt,
      heartbeatMs,
      embeddedBrokerPort: portFrom(env, 'EMBEDDED_BROKER_PORT', DashboardConfig.DEFAULT_EMBEDDED_BROKER_PORT),
      host: env.HOST?.trim() || DashboardConfig.DEFAULT_HOST,
      port: portFrom(env, 'PORT', DashboardConfig.DEFAULT_PORT),
      token: env.DASHBOARD_TOKEN || undefined,
      simulate: switchFrom(env, 'SIMULATE'),
      observability: { metrics: switchFrom(env, 'METRICS') ?? true, otlpTracesUrl: otlpTracesUrlFrom(env) },
      logLevel: logLevelFrom(env.LOG_LEVEL),
    });
  }
}

/** Loopback names and addresses: `localhost`, `127.0.0.0/8`, `::1` (with or without brackets), `::ffff:127.x.x.x`. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^(::ffff:)?127(\.\d{1,3}){3}$/.test(bare);
}

function portFrom(env: NodeJS.ProcessEnv, key: string, fallback: number): number {
  const text = env[key]?.trim() || String(fallback);
  const port = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 0 && port <= 65_535)) {
    throw new Error(`${key} must be a port number from 0 to 65535 (0 picks a free one), got ${JSON.stringify(env[key])}`);
  }
  return port;
}

/** `on` or `off`; undefined when unset. */
function switchFrom(env: NodeJS.ProcessEnv, key: string): boolean | undefined {
  const text = env[key]?.trim().toLowerCase();
  if (!text) return undefined;
  if (text === 'on' || text === 'off') return text === 'on';
  throw new Error(`${key} must be on or off, got ${JSON.stringify(env[key])}`);
}

function logLevelFrom(text: string | undefined): LogLevel | undefined {
  const level = text?.trim().toLowerCase();
  if (!level) return undefined;
  if ((LOG_LEVELS as readonly string[]).includes(level)) return level as LogLevel;
  throw new Error(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(text)}`);
}

/** The OpenTelemetry exporter variables: the traces endpoint itself, or the base endpoint plus `/v1/traces`. */
function otlpTracesUrlFrom(env: NodeJS.ProcessEnv): string | undefined {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (traces) return traces;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  return base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined;
}
