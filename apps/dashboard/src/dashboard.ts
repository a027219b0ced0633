import type { AddressInfo } from 'node:net';
import { Logger, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { MqttService } from 'nestjs-mqtt';
import { EmbeddedBrokerListenError, startEmbeddedBroker, type EmbeddedBroker } from 'nestjs-mqtt/testing';
import { AppModule } from './app.module.js';
import { DashboardConfig } from './dashboard.config.js';
import { DashboardLogger } from './dashboard-logger.js';
import { DashboardIoAdapter } from './gateway/dashboard-io-adapter.js';
import { serveStaticFiles } from './http/static-files.js';
import { startObservability, type RunningObservability } from './observability.js';

export interface RunningDashboard {
  /** The broker the app is connected to, without credentials: `MQTT_URL`'s, or the embedded broker's. */
  readonly brokerUrl: string;
  /** The embedded broker, when no broker was configured. */
  readonly embedded: EmbeddedBroker | undefined;
  readonly app: NestExpressApplication;
  /** The page: `http://host:port/` (a wildcard `HOST` is shown as 127.0.0.1). */
  readonly url: string;
  /** `<url>metrics` (Prometheus text format), unless `METRICS=off`. */
  readonly metricsUrl: string | undefined;
  /** Closes the app (HTTP server, sockets, MQTT client), then the embedded broker. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts the dashboard: an embedded broker on `EMBEDDED_BROKER_PORT` when no broker is configured, OpenTelemetry,
 * then the Nest app: the page, its socket.io gateway and `/metrics` on `HOST:PORT`. On any failure it closes what it
 * had started before rejecting, so the process can exit.
 */
export async function startDashboard(
  config: DashboardConfig,
  logger = new Logger('Dashboard'),
  appLogger: LoggerService | false = new DashboardLogger(config.logLevel),
): Promise<RunningDashboard> {
  let embedded: EmbeddedBroker | undefined;
  if (config.usesEmbeddedBroker) {
    embedded = await startEmbeddedBroker({ port: config.embeddedBrokerPort }).catch((error: unknown) => {
      throw explainBrokerPortError(error);
    });
    logger.log(`no MQTT_URL: started an embedded broker (aedes, MQTT 3.1.1) at ${embedded.url}`);
  }
  let observability: RunningObservability | undefined;
  let app: NestExpressApplication | undefined;
  try {
    // Before the app is created: nestjs-mqtt takes the global tracer and meter then.
    observability = await startObservability(config.observability);
    // abortOnError: false, so a failed bootstrap rejects here (and the embedded broker is closed) instead of aborting.
    // forceCloseConnections: an open page's keep-alive connection must not hold up app.close().
    app = await NestFactory.create<NestExpressApplication>(AppModule.register(config, embedded?.url), {
      abortOnError: false,
      logger: appLogger,
      forceCloseConnections: true,
    });
    app.useWebSocketAdapter(new DashboardIoAdapter(app, config));
    const metrics = observability.metricsHandler;
    if (metrics) app.getHttpAdapter().get('/metrics', metrics);
    serveStaticFiles(app);
    await app.listen(config.port, config.host).catch((error: unknown) => {
      throw explainHttpPortError(error, config);
    });
  } catch (error) {
    await app?.close().catch(() => undefined);
    await observability?.close();
    await embedded?.close();
    throw error;
  }
  const started = { app, observability };
  const { port } = app.getHttpServer().address() as AddressInfo;
  const url = `http://${displayHost(config.host)}:${port}/`;
  let closing: Promise<void> | undefined;
  return {
    brokerUrl: embedded?.url ?? app.get(MqttService).describe().url,
    embedded,
    app,
    url,
    metricsUrl: observability.metricsHandler ? `${url}metrics` : undefined,
    close: () =>
      (closing ??= (async () => {
        try {
          await started.app.close();
        } finally {
          await started.observability.close();
          await embedded?.close();
        }
      })()),
  };
}

/** How the page's address is printed: a wildcard bind as 127.0.0.1, IPv6 in brackets. */
function displayHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** The embedded broker's port is taken (typically by a first `npm start`): say which settings resolve it. */
function explainBrokerPortError(error: unknown): unknown {
  if (!(error instanceof EmbeddedBrokerListenError) || error.code !== 'EADDRINUSE') return error;
  return new Error(
    `port ${error.port} is in use, so the embedded MQTT broker cannot start (is another \`npm start\` running?): ` +
      `set MQTT_URL=mqtt://${error.host}:${error.port} to use the broker on that port, ` +
      `or EMBEDDED_BROKER_PORT to a free port (0 picks one)`,
    { cause: error },
  );
}

function explainHttpPortError(error: unknown, config: DashboardConfig): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE') {
    return new Error(
      `port ${config.port} is in use, so the dashboard cannot serve its page (is another \`npm start\` running?): set PORT to a free port (0 picks one)`,
      {
        cause: error,
      },
    );
  }
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
    return new Error(`HOST=${config.host} is not an address of this machine`, { cause: error });
  }
  return error;
}
