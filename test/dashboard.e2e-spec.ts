import { afterAll, afterEach, beforeAll, expect, it, jest } from '@jest/globals';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { Logger } from '@nestjs/common';
import { Aedes } from 'aedes';
import { connect } from 'mqtt';
import { startDashboard } from '../apps/dashboard/src/dashboard.js';
import { DashboardConfig } from '../apps/dashboard/src/dashboard.config.js';
import { DashboardLogger } from '../apps/dashboard/src/dashboard-logger.js';
import { publicDir } from '../apps/dashboard/src/http/static-files.js';
import { MosquittoBroker } from './fixtures/mosquitto.js';
import { mosquittoSub } from './fixtures/mosquitto-clients.js';
import { CaptureLogger } from './support/capture-logger.js';

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

function quietLogger(): Logger {
  const quiet = new Logger('Dashboard');
  jest.spyOn(quiet, 'log').mockImplementation(() => undefined);
  return quiet;
}

/** Nest's and the library's lines: warnings and errors only. */
const appLogger = () => new DashboardLogger('warn');

it('connects to the broker it is given, publishes its heartbeat, and serves the browser libraries on PORT (0 picks one)', async () => {
  const sub = await mosquittoSub(broker.ports.plain as number, 'dashboard/heartbeat', { qos: 1 });
  const dashboard = await startDashboard(new DashboardConfig({ mqttUrl: broker.url(), heartbeatMs: 50, port: 0 }), quietLogger(), appLogger());
  try {
    expect(dashboard.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(dashboard.embedded).toBeUndefined();
    expect(dashboard.brokerUrl).toBe(broker.url());
    const beats = (await sub.waitForCount(2)).map((m) => JSON.parse(m.payload.toString()) as { seq: number; at: string });
    expect(beats.map((b) => b.seq)).toEqual([1, 2]);
    expect(Number.isNaN(Date.parse(beats[0].at))).toBe(false);

    for (const [path, type, text] of [
      ['vendor/preact.mjs', 'text/javascript', 'export{'],
      ['vendor/preact-hooks.mjs', 'text/javascript', 'from"./preact.mjs"'],
      ['vendor/htm.mjs', 'text/javascript', 'export default function'],
      ['vendor/uPlot.esm.js', 'text/javascript', 'export { uPlot as default }'],
      ['vendor/uPlot.min.css', 'text/css', '.uplot'],
      ['socket.io/socket.io.esm.min.js', 'application/javascript', 'export{'],
    ]) {
      const response = await fetch(`${dashboard.url}${path}`);
      expect([path, response.status, response.headers.get('content-type')?.split(';')[0]]).toEqual([path, 200, type]);
      expect(await response.text()).toContain(text);
    }
    // The maps are not served, so the served copies do not point to them.
    expect(await (await fetch(`${dashboard.url}vendor/preact-hooks.mjs`)).text()).not.toContain('sourceMappingURL');
    // Metrics are off unless asked for (fromEnv turns them on).
    expect(dashboard.metricsUrl).toBeUndefined();
    expect((await fetch(`${dashboard.url}metrics`)).status).toBe(404);
  } finally {
    await dashboard.close();
    await sub.stop();
  }
});

it('finds apps/dashboard/public from the sources (jest) and from the build (npm start)', () => {
  const repo = process.cwd();
  const expected = join(repo, 'apps', 'dashboard', 'public');
  expect(publicDir(join(repo, 'apps', 'dashboard', 'src', 'http'))).toBe(expected);
  expect(publicDir(join(repo, 'dist', 'dashboard', 'src', 'http'))).toBe(expected);
  expect(publicDir()).toBe(expected);
});

it('reads its settings from the environment and refuses bad ones, naming the key', () => {
  const config = DashboardConfig.fromEnv({ MQTT_URL: 'mqtt://h:1', HEARTBEAT_MS: '250' });
  expect(config).toMatchObject({
    mqttUrl: 'mqtt://h:1',
    heartbeatMs: 250,
    embeddedBrokerPort: 1884,
    host: '127.0.0.1',
    port: 3000,
    token: undefined,
    simulate: false,
    observability: { metrics: true, otlpTracesUrl: undefined },
    logLevel: 'log',
  });
  expect(config.usesEmbeddedBroker).toBe(false);
  expect(config.mqttModuleOptions(undefined)).toEqual({ url: 'mqtt://h:1', protocolVersion: 5 });

  // Without a broker: the embedded one, MQTT 3.1.1 (aedes speaks no MQTT 5), the simulator on.
  const embedded = DashboardConfig.fromEnv({});
  expect(embedded).toMatchObject({ mqttUrl: undefined, usesEmbeddedBroker: true, simulate: true, port: 3000 });
  expect(embedded.mqttModuleOptions('mqtt://127.0.0.1:1884')).toEqual({ url: 'mqtt://127.0.0.1:1884', protocolVersion: 4 });
  // The other MQTT_* keys reach the client; MQTT_BROKER_URL selects a broker as MQTT_URL does.
  expect(
    DashboardConfig.fromEnv({ MQTT_URL: 'mqtt://h:1', MQTT_CLIENT_ID: 'dash', MQTT_KEEPALIVE: '10', MQTT_PROTOCOL_VERSION: '4' }).mqttModuleOptions(undefined),
  ).toEqual({
    url: 'mqtt://h:1',
    clientId: 'dash',
    keepalive: 10,
    protocolVersion: 4,
  });
  const fromBrokerKeys = DashboardConfig.fromEnv({ MQTT_BROKER_URL: 'broker.example', MQTT_BROKER_PORT: '1885' });
  expect(fromBrokerKeys.usesEmbeddedBroker).toBe(false);
  expect(fromBrokerKeys.mqttModuleOptions(undefined)).toEqual({ protocol: 'mqtt', host: 'broker.example', port: 1885, protocolVersion: 5 });
  expect(() => DashboardConfig.fromEnv({ MQTT_KEEPALIVE: 'soon' })).toThrow('MQTT_KEEPALIVE');

  expect(DashboardConfig.fromEnv({ PORT: '0', HOST: 'localhost' })).toMatchObject({ port: 0, host: 'localhost' });
  expect(DashboardConfig.fromEnv({ SIMULATE: 'off' }).simulate).toBe(false);
  expect(DashboardConfig.fromEnv({ MQTT_URL: 'mqtt://h:1', SIMULATE: 'on' }).simulate).toBe(true);
  expect(DashboardConfig.fromEnv({ METRICS: 'off' }).observability.metrics).toBe(false);
  expect(DashboardConfig.fromEnv({ LOG_LEVEL: 'debug' }).logLevel).toBe('debug');
  expect(DashboardConfig.fromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).observability.otlpTracesUrl).toBe(
    'http://collector:4318/v1/traces',
  );
  expect(
    DashboardConfig.fromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b:4318/traces' }).observability
      .otlpTracesUrl,
  ).toBe('http://b:4318/traces');
  expect(DashboardConfig.fromEnv({ EMBEDDED_BROKER_PORT: '' }).embeddedBrokerPort).toBe(1884);
  expect(DashboardConfig.fromEnv({ EMBEDDED_BROKER_PORT: '2883' }).embeddedBrokerPort).toBe(2883);

  for (const [env, message] of [
    [{ HEARTBEAT_MS: 'often' }, 'HEARTBEAT_MS must be a positive integer'],
    [{ PORT: '65536' }, 'PORT must be a port number from 0 to 65535 (0 picks a free one), got "65536"'],
    [{ PORT: 'http' }, 'PORT must be a port number from 0 to 65535 (0 picks a free one), got "http"'],
    [{ SIMULATE: 'yes' }, 'SIMULATE must be on or off, got "yes"'],
    [{ METRICS: '9464' }, 'METRICS must be on or off, got "9464"'],
    [{ METRICS_PORT: '9464' }, 'METRICS_PORT is no longer read: metrics are served at /metrics on PORT (METRICS=off turns them off)'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL must be one of fatal, error, warn, log, debug, verbose, got "loud"'],
    [{ HOST: '192.168.1.5' }, 'HOST=192.168.1.5 is not a loopback address'],
  ] as const) {
    expect(() => DashboardConfig.fromEnv(env)).toThrow(message);
  }
  for (const bad of ['mqtt', '-1', '65536', '1.5']) {
    expect(() => DashboardConfig.fromEnv({ EMBEDDED_BROKER_PORT: bad })).toThrow(
      `EMBEDDED_BROKER_PORT must be a port number from 0 to 65535 (0 picks a free one), got "${bad}"`,
    );
  }
  for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1']) {
    expect(DashboardConfig.fromEnv({ HOST: host }).host).toBe(host);
  }

  // A non-loopback HOST takes a token, which nothing prints.
  const exposed = DashboardConfig.fromEnv({ HOST: '0.0.0.0', DASHBOARD_TOKEN: 'hunter2-secret' });
  expect(exposed.token?.matches('hunter2-secret')).toBe(true);
  expect(exposed.token?.matches('hunter2')).toBe(false);
  expect(JSON.stringify(exposed)).not.toContain('hunter2');
  expect(inspect(exposed, { depth: 10 })).not.toContain('hunter2');
  expect(`${String(exposed.token)}`).toBe('[redacted]');
});

it('without MQTT_URL it runs on an embedded broker; a second start on the same EMBEDDED_BROKER_PORT fails clearly and closes its aedes', async () => {
  const quiet = quietLogger();
  const first = await startDashboard(new DashboardConfig({ heartbeatMs: 50, embeddedBrokerPort: 0, port: 0, simulate: false }), quiet, appLogger());
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
    const second = await startDashboard(new DashboardConfig({ heartbeatMs: 50, embeddedBrokerPort: port, port: 0 }), quiet, appLogger()).then(
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

    // The page's port taken: the same kind of message, and the embedded broker it had started is closed again.
    const httpPort = Number(new URL(first.url).port);
    const nestLines = new CaptureLogger();
    const third = await startDashboard(new DashboardConfig({ embeddedBrokerPort: 0, port: httpPort, simulate: false }), quiet, nestLines).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(third?.message).toBe(
      `port ${httpPort} is in use, so the dashboard cannot serve its page (is another \`npm start\` running?): set PORT to a free port (0 picks one)`,
    );
    const thirdAedes = (await createBroker.mock.results.at(-1)?.value) as Aedes;
    expect(createBroker.mock.results).toHaveLength(2);
    expect(thirdAedes.closed).toBe(true);
    expect(nestLines.text()).toContain('EADDRINUSE');
  } finally {
    await watcher.endAsync(true);
    await first.close();
  }
  expect(first.embedded?.aedes.closed).toBe(true);
});

it("serves Prometheus metrics at /metrics on the app's own port, with the library's counters labelled by filter", async () => {
  const dashboard = await startDashboard(
    new DashboardConfig({ mqttUrl: broker.url(), heartbeatMs: 20, port: 0, observability: { metrics: true } }),
    quietLogger(),
    appLogger(),
  );
  const sub = await mosquittoSub(broker.ports.plain as number, 'dashboard/heartbeat', { qos: 1 });
  try {
    expect(dashboard.metricsUrl).toBe(`${dashboard.url}metrics`);
    await sub.waitForCount(2);
    const response = await fetch(dashboard.metricsUrl as string);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toMatch(/^messaging_client_sent_messages_total\{[^}]*messaging_mqtt_client_name="default"[^}]*\} [1-9]/m);
    expect(text).toMatch(
      /^messaging_process_duration_count\{[^}]*code_function_name="TelemetryHandlers#onHeartbeat"[^}]*messaging_destination_template="dashboard\/heartbeat"[^}]*\} \d+/m,
    );
    expect(text).toMatch(/^messaging_mqtt_connection_status\{[^}]*messaging_mqtt_connection_status="connected"[^}]*\} 1/m);
  } finally {
    await sub.stop();
    await dashboard.close();
  }
});
