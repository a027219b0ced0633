import { Logger, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EmbeddedBrokerListenError, startEmbeddedBroker, type EmbeddedBroker } from 'nestjs-mqtt/testing';
import { AppModule } from './app.module.js';
import { DashboardConfig } from './dashboard.config.js';
import { startObservability, type RunningObservability } from './observability.js';

export interface RunningDashboard {
  /** The broker the app is connected to: `MQTT_URL`, or the embedded broker's URL. */
  readonly brokerUrl: string;
  /** The embedded broker, when `MQTT_URL` was not set. */
  readonly embedded: EmbeddedBroker | undefined;
  readonly app: INestApplicationContext;
  /** `http://host:port/metrics` (Prometheus text format), when `METRICS_PORT` is not `off`. */
  readonly metricsUrl: string | undefined;
  /** Closes the app, then the embedded broker. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts the dashboard: an embedded broker on `EMBEDDED_BROKER_PORT` when `MQTT_URL` is not set, then the Nest app.
 * On any failure it closes what it had started before rejecting, so the process can exit.
 */
export async function startDashboard(config: DashboardConfig, logger = new Logger('Dashboard')): Promise<RunningDashboard> {
  let embedded: EmbeddedBroker | undefined;
  let brokerUrl = config.mqttUrl;
  if (!brokerUrl) {
    embedded = await startEmbeddedBroker({ port: config.embeddedBrokerPort }).catch((error: unknown) => {
      throw explainStartError(error);
    });
    brokerUrl = embedded.url;
    logger.log(`MQTT_URL not set: started an embedded broker (aedes) at ${brokerUrl}`);
  }
  let observability: RunningObservability | undefined;
  let app: INestApplicationContext;
  try {
    // Before the app is created: nestjs-mqtt takes the global tracer and meter then.
    observability = await startObservability(config.observability);
    if (observability.metricsUrl) logger.log(`Prometheus metrics at ${observability.metricsUrl}`);
    // abortOnError: false, so a failed bootstrap rejects here (and the embedded broker is closed) instead of aborting.
    app = await NestFactory.createApplicationContext(AppModule.register(config, brokerUrl), { abortOnError: false });
  } catch (error) {
    await observability?.close();
    await embedded?.close();
    throw error;
  }
  const started = observability;
  let closing: Promise<void> | undefined;
  return {
    brokerUrl,
    embedded,
    app,
    metricsUrl: started.metricsUrl,
    close: () =>
      (closing ??= (async () => {
        try {
          await app.close();
        } finally {
          await started.close();
          await embedded?.close();
        }
      })()),
  };
}

/** The embedded broker's port is taken (typically by a first `npm start`): say which settings resolve it. */
function explainStartError(error: unknown): unknown {
  if (!(error instanceof EmbeddedBrokerListenError) || error.code !== 'EADDRINUSE') return error;
  return new Error(
    `port ${error.port} is in use, so the embedded MQTT broker cannot start (is another \`npm start\` running?): ` +
      `set MQTT_URL=mqtt://${error.host}:${error.port} to use the broker on that port, ` +
      `or EMBEDDED_BROKER_PORT to a free port (0 picks one)`,
    { cause: error },
  );
}
