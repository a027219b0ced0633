import { afterAll, afterEach, beforeAll, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Aedes } from 'aedes';
import { connect } from 'mqtt';
import { AppModule } from '../apps/dashboard/src/app.module.js';
import { startDashboard } from '../apps/dashboard/src/dashboard.js';
import { DashboardConfig } from '../apps/dashboard/src/dashboard.config.js';
import { MosquittoBroker } from './fixtures/mosquitto.js';
import { mosquittoSub } from './fixtures/mosquitto-clients.js';

let broker: MosquittoBroker;
beforeAll(async () => {
  broker = await MosquittoBroker.start();
});
afterAll(async () => {
  await broker.close();
});
afterEach(() => {
  jest.restoreAllMocks();
});

it('the dashboard app connects to the broker it is given and publishes its heartbeat', async () => {
  const sub = await mosquittoSub(broker.ports.plain as number, 'dashboard/heartbeat', { qos: 1 });
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.register(new DashboardConfig(broker.url(), 50), broker.url())] }).compile();
  await moduleRef.init();
  try {
    const beats = (await sub.waitForCount(2)).map((m) => JSON.parse(m.payload.toString()) as { seq: number; at: string });
    expect(beats.map((b) => b.seq)).toEqual([1, 2]);
    expect(Number.isNaN(Date.parse(beats[0].at))).toBe(false);
  } finally {
    await moduleRef.close();
    await sub.stop();
  }
});

it('reads its settings from the environment and refuses a bad HEARTBEAT_MS', () => {
  expect(DashboardConfig.fromEnv({ MQTT_URL: 'mqtt://h:1', HEARTBEAT_MS: '250' })).toEqual(
    new DashboardConfig('mqtt://h:1', 250, 1884, { metricsPort: 9464, metricsHost: '127.0.0.1', otlpTracesUrl: undefined }),
  );
  expect(DashboardConfig.fromEnv({ METRICS_PORT: 'off' }).observability.metricsPort).toBeUndefined();
  expect(DashboardConfig.fromEnv({ METRICS_PORT: '0', METRICS_HOST: '0.0.0.0' }).observability).toMatchObject({ metricsPort: 0, metricsHost: '0.0.0.0' });
  expect(() => DashboardConfig.fromEnv({ METRICS_PORT: 'on' })).toThrow(
    'METRICS_PORT must be a port number from 0 to 65535 (0 picks a free one) or off, got "on"',
  );
  expect(DashboardConfig.fromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).observability.otlpTracesUrl).toBe(
    'http://collector:4318/v1/traces',
  );
  expect(
    DashboardConfig.fromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b:4318/traces' }).observability
      .otlpTracesUrl,
  ).toBe('http://b:4318/traces');
  expect(DashboardConfig.fromEnv({}).mqttUrl).toBeUndefined();
  expect(() => DashboardConfig.fromEnv({ HEARTBEAT_MS: 'often' })).toThrow('HEARTBEAT_MS must be a positive integer');
  expect(DashboardConfig.fromEnv({}).embeddedBrokerPort).toBe(1884);
  expect(DashboardConfig.fromEnv({ EMBEDDED_BROKER_PORT: '' }).embeddedBrokerPort).toBe(1884);
  expect(DashboardConfig.fromEnv({ EMBEDDED_BROKER_PORT: '0' }).embeddedBrokerPort).toBe(0);
  expect(DashboardConfig.fromEnv({ EMBEDDED_BROKER_PORT: '2883' }).embeddedBrokerPort).toBe(2883);
  for (const bad of ['mqtt', '-1', '65536', '1.5']) {
    expect(() => DashboardConfig.fromEnv({ EMBEDDED_BROKER_PORT: bad })).toThrow(
      `EMBEDDED_BROKER_PORT must be a port number from 0 to 65535 (0 picks a free one), got "${bad}"`,
    );
  }
});

it('without MQTT_URL it runs on an embedded broker; a second start on the same EMBEDDED_BROKER_PORT fails clearly and closes its aedes', async () => {
  const quiet = new Logger('Dashboard');
  jest.spyOn(quiet, 'log').mockImplementation(() => undefined);
  const first = await startDashboard(new DashboardConfig(undefined, 50, 0), quiet);
  const watcher = connect(first.brokerUrl, { reconnectPeriod: 0 });
  try {
    expect(first.embedded?.url).toBe(first.brokerUrl);
    const beat = new Promise<{ seq: number }>((resolve) =>
      watcher.on('message', (_topic, payload) => resolve(JSON.parse(payload.toString()) as { seq: number })),
    );
    await watcher.subscribeAsync('dashboard/heartbeat', { qos: 1 });
    expect((await beat).seq).toBeGreaterThan(0);

    const port = first.embedded?.port as number;
    const createBroker = jest.spyOn(Aedes, 'createBroker');
    const second = await startDashboard(new DashboardConfig(undefined, 50, port), quiet).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(second?.message).toBe(
      `port ${port} is in use, so the embedded MQTT broker cannot start (is another \`npm start\` running?): ` +
        `set MQTT_URL=mqtt://127.0.0.1:${port} to use the broker on that port, or EMBEDDED_BROKER_PORT to a free port (0 picks one)`,
    );
    expect((second?.cause as { code?: string } | undefined)?.code).toBe('EADDRINUSE');
    const aedes = await Promise.all(createBroker.mock.results.map((result) => result.value as Promise<Aedes>));
    expect(aedes.map((instance) => instance.closed)).toEqual([true]);
  } finally {
    await watcher.endAsync(true);
    await first.close();
  }
  expect(first.embedded?.aedes.closed).toBe(true);
});

it("serves Prometheus metrics at /metrics with the library's counters, labelled by filter", async () => {
  const quiet = new Logger('Dashboard');
  jest.spyOn(quiet, 'log').mockImplementation(() => undefined);
  const dashboard = await startDashboard(
    new DashboardConfig(broker.url(), 20, 0, { metricsPort: 0, metricsHost: '127.0.0.1', otlpTracesUrl: undefined }),
    quiet,
  );
  const sub = await mosquittoSub(broker.ports.plain as number, 'dashboard/heartbeat', { qos: 1 });
  try {
    expect(dashboard.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    await sub.waitForCount(2);
    const text = await (await fetch(dashboard.metricsUrl as string)).text();
    expect(text).toMatch(/^messaging_client_sent_messages_total\{[^}]*messaging_mqtt_client_name="default"[^}]*\} [1-9]/m);
    expect(text).toMatch(
      /^messaging_process_duration_count\{[^}]*code_function_name="TelemetryHandlers#onHeartbeat"[^}]*messaging_destination_template="dashboard\/heartbeat"[^}]*\} \d+/m,
    );
    expect(text).toMatch(/^messaging_mqtt_connection_status\{[^}]*messaging_mqtt_connection_status="connected"[^}]*\} 1/m);
    expect((await fetch(dashboard.metricsUrl!.replace('/metrics', '/'))).status).toBe(404);
  } finally {
    await sub.stop();
    await dashboard.close();
  }
});
