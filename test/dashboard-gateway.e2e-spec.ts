/**
 * The dashboard's socket.io gateway (apps/dashboard/src/protocol.ts) against the started app, with socket.io-client as
 * the page: on a private Mosquitto (MQTT 5; mosquitto_pub / mosquitto_sub and an mqtt.js client as the outside
 * world) and on the embedded broker (MQTT 3.1.1), plus the token and origin checks of a non-loopback bind.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { connect, type IPublishPacket } from 'mqtt';
import { MqttService } from 'nestjs-mqtt';
import { io, type Socket } from 'socket.io-client';
import { startDashboard, type RunningDashboard } from '../apps/dashboard/src/dashboard.js';
import { DashboardConfig, type DashboardSettings } from '../apps/dashboard/src/dashboard.config.js';
import type { Hello, MessageBatch, MessageView, PublishReply, Reply, SimulateReply, Snapshot, SubscriptionsReply } from '../apps/dashboard/src/protocol.js';
import { MosquittoBroker } from './fixtures/mosquitto.js';
import { mosquittoPub, mosquittoSub } from './fixtures/mosquitto-clients.js';
import { CaptureLogger } from './support/capture-logger.js';
import { Inbox } from './support/inbox.js';

/** Quick snapshots; a low message bound, so a burst of 100 exceeds it. */
const LIMITS = { snapshotMs: 200, messagesPerSecond: 20 };

function quietLogger(): Logger {
  const logger = new Logger('Dashboard');
  for (const level of ['log', 'debug', 'verbose'] as const) logger[level] = () => undefined;
  return logger;
}

async function start(settings: DashboardSettings, appLogger = new CaptureLogger()): Promise<RunningDashboard> {
  return startDashboard(new DashboardConfig({ port: 0, heartbeatMs: 60_000, limits: LIMITS, ...settings }), quietLogger(), appLogger);
}

/** A page, as socket.io-client sees the gateway: what arrived, and requests with their replies. */
class TestPage {
  readonly messages = new Inbox<MessageView>();
  readonly batches = new Inbox<MessageBatch>();
  readonly snapshots = new Inbox<Snapshot>();

  private constructor(
    readonly socket: Socket,
    readonly hello: Hello,
  ) {}

  static opened: TestPage[] = [];

  static async open(dashboard: RunningDashboard, auth?: Record<string, string>): Promise<TestPage> {
    const socket = io(dashboard.url, { transports: ['websocket'], reconnection: false, forceNew: true, auth });
    const pending: { batches: MessageBatch[]; snapshots: Snapshot[] } = { batches: [], snapshots: [] };
    socket.on('messages', (batch: MessageBatch) => pending.batches.push(batch));
    socket.on('snapshot', (snapshot: Snapshot) => pending.snapshots.push(snapshot));
    const hello = await new Promise<Hello>((resolve, reject) => {
      socket.once('hello', resolve);
      socket.once('connect_error', reject);
    });
    const page = new TestPage(socket, hello);
    TestPage.opened.push(page);
    // From now on straight into the inboxes.
    socket.off('messages').off('snapshot');
    const take = (batch: MessageBatch) => {
      page.batches.push(batch);
      for (const message of batch.messages) page.messages.push(message);
    };
    pending.batches.forEach(take);
    pending.snapshots.forEach((snapshot) => page.snapshots.push(snapshot));
    socket.on('messages', take);
    socket.on('snapshot', (snapshot: Snapshot) => page.snapshots.push(snapshot));
    return page;
  }

  request<T extends object = object>(event: string, body?: unknown): Promise<Reply<T>> {
    return this.socket.timeout(5_000).emitWithAck(event, body) as Promise<Reply<T>>;
  }

  async subscribe(filter: string, qos: 0 | 1 | 2 = 0): Promise<void> {
    expect(await this.request<SubscriptionsReply>('subscribe', { filter, qos })).toMatchObject({ ok: true });
  }

  /** Resolves with the first message (received so far or later) on `topic`. */
  async message(topic: string, timeoutMs = 5_000): Promise<MessageView> {
    await this.messages.until((items) => items.some((m) => m.topic === topic), timeoutMs, `a message on ${topic}`);
    return this.messages.items.find((m) => m.topic === topic) as MessageView;
  }

  skipped(): number {
    return this.batches.items.reduce((sum, batch) => sum + batch.skipped, 0);
  }

  /** The next snapshot that satisfies `check`. */
  async snapshot(check: (snapshot: Snapshot) => boolean, timeoutMs = 5_000): Promise<Snapshot> {
    const from = this.snapshots.items.length;
    await this.snapshots.until((items) => items.slice(from).some(check), timeoutMs, 'a matching snapshot');
    return this.snapshots.items.slice(from).find(check) as Snapshot;
  }
}

afterEach(() => {
  for (const page of TestPage.opened.splice(0)) page.socket.disconnect();
});

/** Resolves with the connect_error message, or 'connected'. */
function handshake(url: string, options: Parameters<typeof io>[1]): Promise<string> {
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, ...options });
  return new Promise<string>((resolve) => {
    socket.once('connect', () => resolve('connected'));
    socket.once('connect_error', (error) => resolve(error.message));
  }).finally(() => socket.disconnect());
}

describe('on Mosquitto (MQTT 5)', () => {
  let broker: MosquittoBroker;
  let dashboard: RunningDashboard;
  let port: number;
  beforeAll(async () => {
    broker = await MosquittoBroker.start();
    port = broker.ports.plain as number;
    dashboard = await start({ mqttUrl: broker.url() });
  });
  afterAll(async () => {
    await dashboard?.close();
    await broker?.close();
  });

  it('says hello with the limits, the client (URL, MQTT 5, the demo handlers) and its stats, then sends snapshots', async () => {
    const page = await TestPage.open(dashboard);
    expect(page.hello).toMatchObject({
      limits: { maxPayloadBytes: 256 * 1024, previewBytes: 4096, messagesPerSecond: 20 },
      subscriptions: [],
      simulate: false,
    });
    expect(page.hello.clients).toHaveLength(1);
    const [{ description, stats }] = page.hello.clients;
    expect(description).toMatchObject({ client: 'default', url: dashboard.brokerUrl, protocolVersion: 5, status: 'connected' });
    expect(description.handlers.map((h) => `${h.handler} ${h.filter ?? '(any)'} qos ${h.qos ?? '-'}`)).toEqual(
      expect.arrayContaining([
        'TelemetryHandlers#onTemperature home/+room/temperature qos 0',
        'TelemetryHandlers#onHumidity home/+room/humidity qos 0',
        'TelemetryHandlers#onHeartbeat dashboard/heartbeat qos 1',
        'TelemetryHandlers#onOther (any) qos -',
      ]),
    );
    expect(stats).toMatchObject({ client: 'default', status: 'connected', messages: { received: expect.any(Number) } });
    const snapshot = await page.snapshot(() => true);
    expect(snapshot.at).toBeGreaterThanOrEqual(page.hello.at);
    expect(snapshot).toMatchObject({ subscriptions: [], simulate: false, clients: [{ description: { client: 'default' } }] });
  });

  it('subscribe: what mosquitto_pub sends arrives in `messages`, JSON pretty-printed with its numbers, text as text, binary as hex', async () => {
    const page = await TestPage.open(dashboard);
    expect(await page.request<SubscriptionsReply>('subscribe', { filter: 'lab/+room/#', qos: 1 })).toEqual({
      ok: true,
      subscriptions: [{ filter: 'lab/+room/#', qos: 1 }],
    });
    await mosquittoPub(port, 'lab/kitchen/reading', '{"celsius":21.5,"room":"kitchen","ok":true}', { qos: 1 });
    await mosquittoPub(port, 'lab/kitchen/count', '42');
    await mosquittoPub(port, 'lab/kitchen/note', 'hello, wörld');
    await mosquittoPub(port, 'lab/kitchen/raw', Buffer.from([0x00, 0xff, 0x1a]), { retain: true });
    expect(await page.message('lab/kitchen/reading')).toMatchObject({
      payload: '{\n  "celsius": 21.5,\n  "room": "kitchen",\n  "ok": true\n}',
      encoding: 'json',
      numbers: { celsius: 21.5 },
      size: 43,
      truncated: false,
      qos: 1,
      retain: false,
    });
    expect(await page.message('lab/kitchen/count')).toMatchObject({ payload: '42', encoding: 'json', numbers: { value: 42 }, qos: 0 });
    expect(await page.message('lab/kitchen/note')).toMatchObject({ payload: 'hello, wörld', encoding: 'text', size: 13 });
    expect((await page.message('lab/kitchen/note')).numbers).toBeUndefined();
    expect(await page.message('lab/kitchen/raw')).toMatchObject({ payload: '00 ff 1a', encoding: 'hex', size: 3 });
    // A second page subscribing later gets the retained message, flagged.
    const late = await TestPage.open(dashboard);
    await late.subscribe('lab/+/raw');
    expect(await late.message('lab/kitchen/raw')).toMatchObject({ payload: '00 ff 1a', retain: true });
    await mosquittoPub(port, 'lab/kitchen/raw', '', { retain: true });
  });

  it('cuts previews at previewBytes, on a character boundary, and reads only the head of a payload too large to parse', async () => {
    const page = await TestPage.open(dashboard);
    await page.subscribe('big/#');
    await mosquittoPub(port, 'big/text', 'é'.repeat(3000));
    await mosquittoPub(port, 'big/huge', 'x'.repeat(100_000));
    const text = await page.message('big/text');
    expect(text).toMatchObject({ encoding: 'text', size: 6000, truncated: true });
    expect(text.payload).toBe('é'.repeat(2048));
    const huge = await page.message('big/huge');
    expect(huge).toMatchObject({ encoding: 'text', size: 100_000, truncated: true, payload: 'x'.repeat(4096) });
  });

  it('publish: mosquitto_sub receives it; QoS 1 answers with its packet id; MQTT 5 user properties reach an MQTT 5 client', async () => {
    const page = await TestPage.open(dashboard);
    const sub = await mosquittoSub(port, 'out/#', { qos: 1 });
    const v5 = connect(broker.url(), { protocolVersion: 5, reconnectPeriod: 0 });
    try {
      const withProperties = new Promise<IPublishPacket>((resolve) => v5.on('message', (_topic, _payload, packet) => resolve(packet)));
      await v5.subscribeAsync('out/props', { qos: 1 });
      const plain = await page.request<PublishReply>('publish', { topic: 'out/plain', payload: 'from the page', qos: 1, retain: false });
      expect(plain).toEqual({ ok: true, messageId: expect.any(Number) });
      expect(
        await page.request('publish', { topic: 'out/props', payload: '{"on":true}', qos: 1, retain: false, userProperties: { source: 'dashboard' } }),
      ).toMatchObject({
        ok: true,
      });
      const received = await sub.waitForCount(2);
      expect(received.map((m) => [m.topic, m.payload.toString()])).toEqual([
        ['out/plain', 'from the page'],
        ['out/props', '{"on":true}'],
      ]);
      expect((await withProperties).properties?.userProperties).toEqual({ source: 'dashboard' });
    } finally {
      await sub.stop();
      await v5.endAsync(true);
    }
  });

  it.each<[string, object, string]>([
    ['a wildcard topic', { topic: 'refused/+', payload: 'x' }, 'topic: '],
    ['an empty topic', { topic: '', payload: 'x' }, 'topic: '],
    ['a topic that is not a string', { topic: 7, payload: 'x' }, 'topic: '],
    ['QoS 3', { topic: 'refused/qos', payload: 'x', qos: 3 }, 'qos: must be 0, 1 or 2'],
    ['QoS "1"', { topic: 'refused/qos', payload: 'x', qos: '1' }, 'qos: must be 0, 1 or 2'],
    ['retain "yes"', { topic: 'refused/retain', payload: 'x', retain: 'yes' }, 'retain: must be true or false'],
    ['a payload that is not a string', { topic: 'refused/payload', payload: { a: 1 } }, 'payload: must be a string'],
    ['a payload over maxPayloadBytes', { topic: 'refused/size', payload: 'é'.repeat(131_073) }, 'payload: 262146 bytes, more than the 262144 allowed'],
    ['user properties that are not strings', { topic: 'refused/props', payload: 'x', userProperties: { n: 1 } }, 'userProperties.n: must be a string'],
    ['nested user properties', { topic: 'refused/props', payload: 'x', userProperties: { n: { deep: 'x' } } }, 'userProperties.n: must be a string'],
    ['a user property array', { topic: 'refused/props', payload: 'x', userProperties: ['a'] }, 'userProperties: must be an object'],
    [
      '33 user properties',
      { topic: 'refused/props', payload: 'x', userProperties: Object.fromEntries([...Array(33).keys()].map((i) => [`k${i}`, 'v'])) },
      'userProperties: 33 properties',
    ],
    ['user properties over 8 KiB', { topic: 'refused/props', payload: 'x', userProperties: { big: 'v'.repeat(8200) } }, 'userProperties: 8203 bytes'],
    ['an unknown key', { topic: 'refused/key', payload: 'x', dup: true }, 'dup: unknown field (expected topic, payload, qos, retain, userProperties)'],
  ])('refuses %s naming the field, and publishes nothing', async (_case, request, error) => {
    const page = await TestPage.open(dashboard);
    const sub = await mosquittoSub(port, 'refused/#');
    try {
      const reply = await page.request('publish', request);
      expect(reply.ok).toBe(false);
      expect((reply as { error: string }).error.startsWith(error)).toBe(true);
      // The broker delivers in order: the marker first means nothing was published before it.
      expect(await page.request('publish', { topic: 'refused/marker', payload: 'after' })).toEqual({ ok: true });
      expect((await sub.waitForCount(1)).map((m) => m.topic)).toEqual(['refused/marker']);
    } finally {
      await sub.stop();
    }
  });

  it('refuses bad subscriptions naming the field, and malformed frames without hurting the connection', async () => {
    const page = await TestPage.open(dashboard);
    expect(await page.request('subscribe', { filter: 'a/#/b' })).toEqual({ ok: false, error: "filter: '#' must be the last level" });
    expect(await page.request('subscribe', { filter: 'a/b+' })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^filter: '\+' must occupy a whole level/),
    });
    expect(await page.request('subscribe', { filter: 'a', qos: -1 })).toEqual({ ok: false, error: 'qos: must be 0, 1 or 2' });
    expect(await page.request('subscribe', 'a/b')).toEqual({ ok: false, error: 'request: must be an object with filter, qos' });
    expect(await page.request('subscribe', null)).toMatchObject({ ok: false, error: expect.stringMatching(/^request: must be an object/) });
    expect(await page.request('subscribe', [{ filter: 'a' }])).toMatchObject({ ok: false, error: expect.stringMatching(/^request: must be an object/) });
    expect(await page.request('unsubscribe', { filter: 'never/subscribed' })).toEqual({
      ok: false,
      error: 'filter: this page did not subscribe to "never/subscribed"',
    });
    expect(await page.request('unsubscribeAll', { all: true })).toEqual({ ok: false, error: 'all: unknown field (this request takes none)' });
    expect(await page.request('simulate', { on: 'yes' })).toEqual({ ok: false, error: 'on: must be true or false' });
    // No ack callback, several arguments, an unknown event: nothing is done and nothing breaks.
    const sub = await mosquittoSub(port, 'frames/#');
    try {
      page.socket.emit('publish', { topic: 'frames/no-ack', payload: 'x' });
      page.socket.emit('publish', { topic: 'frames/two', payload: 'x' }, 'extra', () => undefined);
      page.socket.emit('subscribe');
      page.socket.emit('no-such-event', { a: 1 });
      expect(await page.request('publish', { topic: 'frames/marker', payload: 'after' })).toEqual({ ok: true });
      expect((await sub.waitForCount(1)).map((m) => m.topic)).toEqual(['frames/marker']);
      expect(page.socket.connected).toBe(true);
      expect((await page.snapshot(() => true)).subscriptions).toEqual([]);
    } finally {
      await sub.stop();
    }
  });

  it("unsubscribe-all stops the flow to that page, and leaves the app's own subscriptions and other pages' alone", async () => {
    const mqtt = dashboard.app.get(MqttService);
    const page = await TestPage.open(dashboard);
    const witness = await TestPage.open(dashboard);
    await page.subscribe('flow/#', 1);
    await page.subscribe('home/+/humidity'); // the app's own (decorated) filter
    await witness.subscribe('flow/#');
    await mosquittoPub(port, 'flow/1', 'one');
    await page.message('flow/1');
    expect(mqtt.describe().subscriptions.map((s) => s.filter)).toEqual(expect.arrayContaining(['flow/#', 'home/+/humidity']));

    expect(await page.request<SubscriptionsReply>('unsubscribeAll', {})).toEqual({ ok: true, subscriptions: [] });
    // The witness still holds flow/#, so the client does too; home/+/humidity stays the app's.
    expect(mqtt.describe().subscriptions.map((s) => s.filter)).toEqual(expect.arrayContaining(['flow/#', 'home/+/humidity']));
    await page.subscribe('marker/#');
    await mosquittoPub(port, 'flow/2', 'two');
    await mosquittoPub(port, 'marker/1', 'after');
    await page.message('marker/1');
    await witness.message('flow/2');
    expect(page.messages.items.map((m) => m.topic)).toEqual(['flow/1', 'marker/1']);

    // The last page leaving a filter it made drops it on the broker; the app's filter stays, and its handler still runs.
    witness.socket.disconnect();
    await page.request('unsubscribeAll');
    await page.snapshot((s) => !s.clients[0].description.subscriptions.some((sub) => sub.filter === 'flow/#'));
    expect(mqtt.describe().subscriptions.map((s) => s.filter)).toContain('home/+/humidity');
    const handled = mqtt.stats().handlers.find((h) => h.handler === 'TelemetryHandlers#onHumidity')?.handled ?? 0;
    await mosquittoPub(port, 'home/attic/humidity', '{"percent":40}');
    await page.snapshot((s) => (s.clients[0].stats.handlers.find((h) => h.handler === 'TelemetryHandlers#onHumidity')?.handled ?? 0) > handled);
  });

  it('shows a message once to a page whose filters overlap, and subscribes once per filter for all pages', async () => {
    const page = await TestPage.open(dashboard);
    const other = await TestPage.open(dashboard);
    await page.subscribe('overlap/#');
    await page.subscribe('overlap/+/x');
    await other.subscribe('overlap/+/x');
    await mosquittoPub(port, 'overlap/a/x', '1');
    await mosquittoPub(port, 'overlap/marker', '2');
    await page.message('overlap/marker');
    await other.message('overlap/a/x');
    expect(page.messages.items.map((m) => m.topic)).toEqual(['overlap/a/x', 'overlap/marker']);
    expect(
      dashboard.app
        .get(MqttService)
        .describe()
        .subscriptions.filter((s) => s.filter.startsWith('overlap/')),
    ).toHaveLength(2);
  });

  it('forwards at most messagesPerSecond to a page and counts the rest as skipped', async () => {
    const page = await TestPage.open(dashboard);
    await page.subscribe('burst/#');
    const device = connect(broker.url(), { reconnectPeriod: 0 });
    try {
      await device.subscribeAsync('burst/#');
      const echoed = new Inbox<string>();
      device.on('message', (topic) => echoed.push(topic));
      await Promise.all([...Array(100).keys()].map((i) => device.publishAsync(`burst/${i}`, String(i))));
      await echoed.waitFor(100);
      await page.batches.until((batches) => batches.reduce((n, b) => n + b.messages.length + b.skipped, 0) >= 100, 5_000, '100 messages or skips');
      expect(page.messages.items.length + page.skipped()).toBe(100);
      expect(page.messages.items.length).toBeGreaterThanOrEqual(20);
      expect(page.messages.items.length).toBeLessThan(30);
      expect(page.skipped()).toBeGreaterThan(70);
    } finally {
      await device.endAsync(true);
    }
  });

  it('simulate turns the sensor feed on and off; the demo humidity handler counts a bad reading as a failure with its error', async () => {
    const page = await TestPage.open(dashboard);
    await page.subscribe('home/#');
    expect(await page.request<SimulateReply>('simulate', { on: true })).toEqual({ ok: true, simulate: true });
    await page.snapshot((s) => s.simulate);
    for (const room of ['kitchen', 'living-room', 'bedroom']) {
      expect((await page.message(`home/${room}/temperature`)).numbers).toEqual({ celsius: expect.any(Number) });
      expect((await page.message(`home/${room}/humidity`)).numbers).toEqual({ percent: expect.any(Number) });
    }
    expect(await page.request<SimulateReply>('simulate', { on: false })).toEqual({ ok: true, simulate: false });
    await page.snapshot((s) => !s.simulate);

    await mosquittoPub(port, 'home/attic/humidity', '{"percent":140}');
    const failed = await page.snapshot((s) => (s.clients[0].stats.handlers.find((h) => h.handler === 'TelemetryHandlers#onHumidity')?.failed ?? 0) > 0);
    const humidity = failed.clients[0].stats.handlers.find((h) => h.handler === 'TelemetryHandlers#onHumidity');
    expect(humidity?.lastError?.message).toBe('attic: humidity 140 is not a percentage from 0 to 100');
  });
});

describe('on the embedded broker (MQTT 3.1.1)', () => {
  let dashboard: RunningDashboard;
  beforeAll(async () => {
    dashboard = await start({ embeddedBrokerPort: 0 });
  });
  afterAll(async () => {
    await dashboard?.close();
  });

  it('simulates by default: the rooms arrive; subscribe, publish and the MQTT 5-only refusal work as on Mosquitto', async () => {
    const port = dashboard.embedded?.port as number;
    const page = await TestPage.open(dashboard);
    expect(page.hello).toMatchObject({ simulate: true, clients: [{ description: { url: dashboard.brokerUrl, protocolVersion: 4 } }] });
    await page.subscribe('home/+/temperature');
    expect((await page.message('home/kitchen/temperature')).numbers).toEqual({ celsius: expect.any(Number) });

    const sub = await mosquittoSub(port, 'out/#');
    try {
      expect(await page.request('publish', { topic: 'out/1', payload: 'x', userProperties: { a: 'b' } })).toEqual({
        ok: false,
        error: 'userProperties: user properties need MQTT 5, and this client speaks MQTT 3.1.1 (set MQTT_PROTOCOL_VERSION=5)',
      });
      expect(await page.request('publish', { topic: 'out/2', payload: 'from the page', qos: 2, retain: false })).toEqual({
        ok: true,
        messageId: expect.any(Number),
      });
      expect((await sub.waitForCount(1)).map((m) => [m.topic, m.payload.toString()])).toEqual([['out/2', 'from the page']]);
    } finally {
      await sub.stop();
    }
    await page.subscribe('in/#');
    await mosquittoPub(port, 'in/device', '{"volts":3.3}');
    expect(await page.message('in/device')).toMatchObject({ encoding: 'json', numbers: { volts: 3.3 } });
    expect(await page.request<SubscriptionsReply>('unsubscribeAll')).toEqual({ ok: true, subscriptions: [] });
  });
});

describe('a non-loopback HOST', () => {
  it('is refused without DASHBOARD_TOKEN, with a message that says what to do', () => {
    expect(() => new DashboardConfig({ host: '0.0.0.0' })).toThrow(
      'HOST=0.0.0.0 is not a loopback address, so anyone who can reach it could publish to your broker: set DASHBOARD_TOKEN (the page asks for it), or bind 127.0.0.1',
    );
    expect(() => DashboardConfig.fromEnv({ HOST: '::' })).toThrow('HOST=:: is not a loopback address');
  });

  it('with a token: the socket needs it (token required, invalid token), static files do not, and no log line shows it', async () => {
    const token = 'tok-5f3a9c1e-do-not-log';
    const logs = new CaptureLogger();
    const dashboard = await start({ host: '0.0.0.0', token, embeddedBrokerPort: 0, simulate: false }, logs);
    try {
      expect(dashboard.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect(await handshake(dashboard.url, {})).toBe('token required');
      expect(await handshake(dashboard.url, { auth: { token: '' } })).toBe('token required');
      expect(await handshake(dashboard.url, { auth: { token: `${token}x` } })).toBe('invalid token');
      expect(await handshake(dashboard.url, { auth: { token: 42 as unknown as string } })).toBe('invalid token');
      const page = await TestPage.open(dashboard, { token });
      expect(page.hello.clients[0].description.status).toBe('connected');
      expect((await fetch(`${dashboard.url}vendor/preact.mjs`)).status).toBe(200);
      expect((await fetch(`${dashboard.url}socket.io/socket.io.esm.min.js`)).status).toBe(200);
      const config = dashboard.app.get(DashboardConfig);
      expect(JSON.stringify(config)).not.toContain(token);
      expect(logs.text()).not.toContain(token);
      expect(config.token?.matches(token)).toBe(true);
    } finally {
      await dashboard.close();
    }
  });

  it('a browser on another origin cannot open the socket, nor one reaching a loopback dashboard by another name', async () => {
    const dashboard = await start({ embeddedBrokerPort: 0, simulate: false });
    try {
      const port = new URL(dashboard.url).port;
      expect(await handshake(dashboard.url, { extraHeaders: { origin: `http://127.0.0.1:${port}` } })).toBe('connected');
      // engine.io answers 403 before the upgrade; the client only learns that the websocket failed.
      expect(await handshake(dashboard.url, { extraHeaders: { origin: 'http://evil.example' } })).toBe('websocket error');
      expect(await handshake(dashboard.url, { extraHeaders: { host: `rebound.example:${port}` } })).toBe('websocket error');
      expect(await handshake(dashboard.url, { extraHeaders: { host: `localhost:${port}` } })).toBe('connected');
    } finally {
      await dashboard.close();
    }
  });
});
