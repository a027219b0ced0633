/**
 * The dashboard page in a real browser (Debian's Chromium through playwright-core) against the real app: a private
 * Mosquitto with mosquitto_pub / mosquitto_sub as the outside world, and one smoke case on the embedded broker, which
 * also takes the README's screenshot (docs/dashboard.png). No fixed sleeps: every wait is for an event or a poll.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { join } from 'node:path';
import { connect, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Page } from 'playwright-core';
import { startDashboard, type RunningDashboard } from '../apps/dashboard/src/dashboard.js';
import { DashboardConfig } from '../apps/dashboard/src/dashboard.config.js';
import { MosquittoBroker } from './fixtures/mosquitto.js';
import { mosquittoPub, mosquittoSub } from './fixtures/mosquitto-clients.js';
import { launchBrowser, poll, type TestBrowser } from './support/browser.js';

const SCREENSHOT = join(import.meta.dirname, '..', 'docs', 'dashboard.png');
/** Snapshots four times a second: status changes show up quickly. */
const LIMITS = { snapshotMs: 250 };

/** The dashboard's own log lines stay out of the test output. */
function quietLogger(): Logger {
  const logger = new Logger('Dashboard');
  for (const level of ['log', 'debug', 'verbose', 'warn'] as const) logger[level] = () => undefined;
  return logger;
}

let browser: TestBrowser;
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

const pages: Page[] = [];
afterEach(async () => {
  for (const page of pages.splice(0)) await page.close();
  // A page that threw or logged an error fails the test that opened it.
  expect(browser.pageErrors.splice(0)).toEqual([]);
});

/** A new tab on the dashboard, once its socket and its MQTT client are connected. */
async function openPage(dashboard: RunningDashboard): Promise<Page> {
  const page = await browser.newPage();
  pages.push(page);
  await page.goto(dashboard.url);
  await page.locator('[data-testid="socket-status"][data-state="connected"]').waitFor();
  await poll(() => page.getByTestId('client-status').first().textContent()).toBe('connected');
  return page;
}

async function subscribe(page: Page, filter: string, qos: 0 | 1 | 2 = 1): Promise<void> {
  await page.getByTestId('subscribe-filter').fill(filter);
  await page.getByTestId('subscribe-qos').selectOption(String(qos));
  await page.getByTestId('subscribe-submit').click();
  await page.locator(`[data-testid="subscription"][data-filter="${filter}"]`).waitFor();
  expect(await page.getByTestId('subscribe-error').count()).toBe(0);
}

function messageRow(page: Page, topic: string) {
  return page.locator(`[data-testid="message-row"][data-topic="${topic}"]`);
}

function topicNode(page: Page, topic: string) {
  return page.locator(`[data-testid="topic-node"][data-topic="${topic}"]`);
}

function handlerRow(page: Page, handler: string) {
  return page.locator(`[data-testid="handler-row"][data-handler="${handler}"]`);
}

describe('the dashboard page against Mosquitto', () => {
  let broker: MosquittoBroker;
  let dashboard: RunningDashboard;
  let port: number;

  beforeAll(async () => {
    broker = await MosquittoBroker.start();
    port = broker.ports.plain as number;
    dashboard = await startDashboard(
      new DashboardConfig({ mqttUrl: broker.url(), mqtt: { reconnectPeriod: 100 }, port: 0, heartbeatMs: 60_000, simulate: false, limits: LIMITS }),
      quietLogger(),
      false,
    );
  });
  // The app first, then the broker it is connected to.
  afterAll(async () => {
    await dashboard?.close();
    await broker?.close();
  });

  it('subscribe through the page: a mosquitto_pub message appears in the list and in the topic tree (JSON, hex, retained)', async () => {
    await mosquittoPub(port, 'page/sub/lamp', 'on', { qos: 1, retain: true });
    const page = await openPage(dashboard);
    await subscribe(page, 'page/sub/#');

    // The retained message comes with the subscription, flagged.
    await poll(() => topicNode(page, 'page/sub/lamp').getByTestId('topic-retained').count()).toBe(1);
    await mosquittoPub(port, 'page/sub/lamp', '', { retain: true }); // clears it on the broker for the later tests

    await mosquittoPub(port, 'page/sub/kitchen/temperature', '{"celsius":21.5,"ok":true}', { qos: 1 });
    await mosquittoPub(port, 'page/sub/camera', Buffer.from([0x89, 0x50, 0x00, 0xff]), { qos: 1 });
    await poll(() => messageRow(page, 'page/sub/kitchen/temperature').getByTestId('message-payload').textContent()).toBe('{ "celsius": 21.5, "ok": true }');
    await poll(() => messageRow(page, 'page/sub/camera').getByTestId('message-payload').textContent()).toBe('89 50 00 ff');

    // The tree: every level, the last payload, the count per topic and below a level.
    const node = topicNode(page, 'page/sub/kitchen/temperature');
    await poll(() => node.getByTestId('topic-payload').textContent()).toBe('{ "celsius": 21.5, "ok": true }');
    expect(await node.getByTestId('topic-count').textContent()).toBe('1');
    await mosquittoPub(port, 'page/sub/kitchen/temperature', '{"celsius":22}', { qos: 1 });
    await poll(() => node.getByTestId('topic-count').textContent()).toBe('2');
    expect(await topicNode(page, 'page/sub/kitchen').getByTestId('topic-count').textContent()).toBe('2');
    await node.click();
    await poll(() => page.getByTestId('topic-detail-payload').textContent()).toBe('{\n  "celsius": 22\n}');

    // The text filter and pause.
    await page.getByTestId('messages-filter').fill('camera');
    await poll(() => page.getByTestId('message-row').count()).toBe(1);
    await page.getByTestId('messages-filter').fill('');
    await page.getByTestId('messages-pause').click();
    await mosquittoPub(port, 'page/sub/while-paused', 'x', { qos: 1 });
    await poll(() => page.getByTestId('messages-pause').textContent()).toBe('Resume (1 new)');
    expect(await messageRow(page, 'page/sub/while-paused').count()).toBe(0);
    await page.getByTestId('messages-pause').click();
    await messageRow(page, 'page/sub/while-paused').waitFor();
  });

  it('publish through the page (with an MQTT 5 user property): mosquitto_sub receives it', async () => {
    const sub = await mosquittoSub(port, 'page/pub/#', { qos: 1 });
    const watcher = await mqtt5Watcher(broker.url(), 'page/pub/#');
    try {
      const page = await openPage(dashboard);
      await page.getByTestId('publish-topic').fill('page/pub/lamp');
      await page.getByTestId('publish-payload').fill('{"on":true}');
      await page.getByTestId('publish-qos').selectOption('1');
      await page.getByTestId('publish-prop-add').click();
      await page.getByTestId('publish-prop-key').fill('origin');
      await page.getByTestId('publish-prop-value').fill('dashboard page');
      await page.getByTestId('publish-submit').click();
      await page.getByTestId('publish-status').waitFor();
      expect(await page.getByTestId('publish-error').count()).toBe(0);

      const [received] = await sub.waitForCount(1);
      expect({ topic: received.topic, payload: received.payload.toString() }).toEqual({ topic: 'page/pub/lamp', payload: '{"on":true}' });
      const packet = await watcher.next;
      expect(packet.properties?.userProperties).toEqual({ origin: 'dashboard page' });
      expect(packet.qos).toBe(1);
    } finally {
      await sub.stop();
      await watcher.client.endAsync();
    }
  });

  it('unsubscribe and unsubscribe-all stop the flow: a later message does not appear, the next subscription sees the one after it', async () => {
    const page = await openPage(dashboard);
    await subscribe(page, 'page/flow/#');
    await subscribe(page, 'page/other/#');
    await mosquittoPub(port, 'page/flow/before', '1', { qos: 1 });
    await messageRow(page, 'page/flow/before').waitFor();

    await page.locator('[data-testid="unsubscribe"][data-filter="page/other/#"]').click();
    await poll(() => page.getByTestId('subscription').count()).toBe(1);
    await page.getByTestId('unsubscribe-all').click();
    await poll(() => page.getByTestId('subscription').count()).toBe(0);
    expect(await page.getByTestId('subscriptions-error').count()).toBe(0);

    // The barrier: a new subscription's message, published after (QoS 1, one connection to the app, in order).
    await subscribe(page, 'page/marker');
    await mosquittoPub(port, 'page/flow/after', '2', { qos: 1 });
    await mosquittoPub(port, 'page/other/after', '3', { qos: 1 });
    await mosquittoPub(port, 'page/marker', 'barrier', { qos: 1 });
    await messageRow(page, 'page/marker').waitFor();
    expect(await messageRow(page, 'page/flow/after').count()).toBe(0);
    expect(await messageRow(page, 'page/other/after').count()).toBe(0);
    expect(await topicNode(page, 'page/flow/after').count()).toBe(0);
  });

  it('an invalid topic or filter shows an error next to its form and nothing is published', async () => {
    const sub = await mosquittoSub(port, '#', { qos: 1 });
    try {
      const page = await openPage(dashboard);
      await page.getByTestId('publish-topic').fill('a/+/b');
      await page.getByTestId('publish-payload').fill('must not be sent');
      await page.getByTestId('publish-submit').click();
      await poll(() => page.getByTestId('publish-error').textContent()).toMatch(/^topic: /);

      await page.getByTestId('subscribe-filter').fill('a/#/b');
      await page.getByTestId('subscribe-submit').click();
      await poll(() => page.getByTestId('subscribe-error').textContent()).toMatch(/^filter: /);
      expect(await page.getByTestId('subscription').count()).toBe(0);

      // The barrier: a valid publish from the same page after the refused one; success clears the error.
      await page.getByTestId('publish-topic').fill('page/invalid/marker');
      await page.getByTestId('publish-payload').fill('marker');
      await page.getByTestId('publish-submit').click();
      await page.getByTestId('publish-status').waitFor();
      expect(await page.getByTestId('publish-error').count()).toBe(0);
      await poll(() => sub.messages.some((m) => m.topic === 'page/invalid/marker')).toBe(true);
      expect(sub.messages.filter((m) => m.topic !== 'page/invalid/marker' && m.topic !== 'dashboard/heartbeat')).toEqual([]);
      expect(sub.messages.some((m) => m.payload.toString() === 'must not be sent')).toBe(false);
    } finally {
      await sub.stop();
    }
  });

  it('a handler that throws shows its failure count and last error in the handlers table', async () => {
    const page = await openPage(dashboard);
    const row = handlerRow(page, 'TelemetryHandlers#onHumidity');
    await poll(() => row.getByTestId('handler-filter').textContent()).toBe('home/+room/humidity');
    expect(await row.getByTestId('handler-failed').textContent()).toBe('0');

    await mosquittoPub(port, 'home/lab/humidity', '{"percent":40}', { qos: 1 });
    await mosquittoPub(port, 'home/lab/humidity', '{"percent":150}', { qos: 1 });
    await poll(() => row.getByTestId('handler-failed').textContent()).toBe('1');
    expect(await row.getByTestId('handler-handled').textContent()).toBe('1');
    expect(await row.getByTestId('handler-last-error').textContent()).toContain('lab: humidity 150 is not a percentage from 0 to 100');
    expect(await row.getByTestId('handler-p50').textContent()).not.toBe('–');

    await page.getByTestId('handlers-filter').fill('humidity');
    await poll(() => page.getByTestId('handler-row').count()).toBe(1);
  });

  it('with DASHBOARD_TOKEN the page asks for it: a wrong one is refused, the right one connects, ?token= leaves the address bar', async () => {
    const guarded = await startDashboard(
      new DashboardConfig({ mqttUrl: broker.url(), port: 0, heartbeatMs: 60_000, simulate: false, token: 'open sesame', limits: LIMITS }),
      quietLogger(),
      false,
    );
    try {
      const page = await browser.newPage();
      pages.push(page);
      await page.goto(`${guarded.url}?token=wrong&view=1`);
      await poll(() => page.getByTestId('token-error').textContent()).toBe('That token is not valid.');
      expect(page.url()).toBe(`${guarded.url}?view=1`);
      expect(await page.getByTestId('socket-status').getAttribute('data-state')).toBe('token');

      await page.getByTestId('token-input').fill('open sesame');
      await page.getByTestId('token-submit').click();
      await page.locator('[data-testid="socket-status"][data-state="connected"]').waitFor();
      expect(await page.getByTestId('token-form').count()).toBe(0);
      await poll(() => page.getByTestId('client-status').textContent()).toBe('connected');

      // Kept for this tab: a reload connects without asking.
      await page.reload();
      await page.locator('[data-testid="socket-status"][data-state="connected"]').waitFor();
      // A new tab has its own sessionStorage: asked again, 'token required'.
      const other = await browser.newPage();
      pages.push(other);
      await other.goto(guarded.url);
      await poll(() => other.getByTestId('token-error').textContent()).toBe('A token is required.');
      await Promise.all([page.close(), other.close()]);
    } finally {
      await guarded.close();
    }
  });

  it("the socket's own state: the page shows the server gone, reconnects to it when it is back, and subscribes its filters again", async () => {
    const config = { mqttUrl: broker.url(), heartbeatMs: 60_000, simulate: false, limits: LIMITS };
    let first: RunningDashboard | undefined = await startDashboard(new DashboardConfig({ ...config, port: 0 }), quietLogger(), false);
    let second: RunningDashboard | undefined;
    try {
      const page = await openPage(first);
      await subscribe(page, 'page/again/#');
      const { port: httpPort } = new URL(first.url);
      await first.close();
      first = undefined;
      await page.locator('[data-testid="socket-status"]:not([data-state="connected"])').waitFor();

      second = await startDashboard(new DashboardConfig({ ...config, port: Number(httpPort) }), quietLogger(), false);
      await page.locator('[data-testid="socket-status"][data-state="connected"]').waitFor({ timeout: 15_000 });
      await poll(() => page.locator('[data-testid="subscription"][data-filter="page/again/#"]').count()).toBe(1);
      // Subscribed on the new server (the subscription list comes from its reply): its messages arrive.
      await mosquittoPub(port, 'page/again/back', 'yes', { qos: 1 });
      await messageRow(page, 'page/again/back').waitFor();
    } finally {
      await first?.close();
      await second?.close();
    }
  });

  it('the status changes when the broker stops and comes back', async () => {
    const page = await openPage(dashboard);
    const status = page.getByTestId('client-status');
    expect(await page.getByTestId('client-url').textContent()).toBe(broker.url());
    expect(await page.getByTestId('client-reconnects').textContent()).toBe('0');

    await broker.stop();
    await poll(() => status.textContent()).toMatch(/^(reconnecting|offline|connecting)$/);
    // The page's own socket is to the app, which is still up.
    expect(await page.getByTestId('socket-status').getAttribute('data-state')).toBe('connected');

    await broker.restart();
    await poll(() => status.textContent(), { timeout: 10_000 }).toBe('connected');
    await poll(() => page.getByTestId('client-reconnects').textContent()).toBe('1');
  });
});

describe('the dashboard page on the embedded broker (no MQTT_URL)', () => {
  let dashboard: RunningDashboard;

  beforeAll(async () => {
    dashboard = await startDashboard(new DashboardConfig({ port: 0, embeddedBrokerPort: 0, heartbeatMs: 1_000, limits: LIMITS }), quietLogger(), false);
  });
  afterAll(async () => {
    await dashboard?.close();
  });

  it('shows the simulator feed, publishes, charts, lists handlers; the screenshot for the README', async () => {
    const page = await openPage(dashboard);
    expect(await page.getByTestId('client-url').textContent()).toBe(dashboard.brokerUrl);
    // The simulator is on by default with the embedded broker; the toggle turns it off and on.
    const toggle = page.getByTestId('simulate-toggle');
    await poll(() => toggle.isChecked()).toBe(true);
    await toggle.click();
    await poll(() => toggle.isChecked()).toBe(false);
    await toggle.click();
    await poll(() => toggle.isChecked()).toBe(true);

    await subscribe(page, '#', 0);
    // aedes speaks MQTT 3.1.1: a user property is refused next to the form, and the publish goes out without one.
    await page.getByTestId('publish-topic').fill('home/attic/humidity');
    await page.getByTestId('publish-payload').fill('{"percent": 180}');
    await page.getByTestId('publish-prop-add').click();
    await page.getByTestId('publish-prop-key').fill('origin');
    await page.getByTestId('publish-prop-value').fill('page');
    await page.getByTestId('publish-submit').click();
    await poll(() => page.getByTestId('publish-error').textContent()).toMatch(/^userProperties: user properties need MQTT 5/);
    await page.getByTestId('publish-prop-remove').click();
    await page.getByTestId('publish-submit').click();
    await page.getByTestId('publish-status').waitFor();
    // The demo handler refuses 180 %: the table shows the failure.
    const humidity = handlerRow(page, 'TelemetryHandlers#onHumidity');
    await poll(() => humidity.getByTestId('handler-last-error').textContent()).toContain('attic: humidity 180 is not a percentage');
    expect(Number(await humidity.getByTestId('handler-failed').textContent())).toBeGreaterThanOrEqual(1);

    // Six ticks of the simulator (one a second) and as many rate samples: the screenshot shows lines, not dots.
    const kitchen = topicNode(page, 'home/kitchen/temperature');
    await poll(async () => Number(await kitchen.getByTestId('topic-count').textContent()), { timeout: 15_000 }).toBeGreaterThanOrEqual(6);
    await poll(async () => Number(await page.getByTestId('chart-rate').getAttribute('data-points'))).toBeGreaterThanOrEqual(5);
    expect(await page.locator('[data-testid="topic-node"][data-topic^="home/"]').count()).toBeGreaterThanOrEqual(10);
    expect(Number(await handlerRow(page, 'TelemetryHandlers#onTemperature').getByTestId('handler-handled').textContent())).toBeGreaterThanOrEqual(18);
    // The values chart: every room's temperature at once, then the one topic picked in the tree.
    await page.getByTestId('chart-topic').selectOption('field:celsius');
    await poll(() => page.getByTestId('chart-values').getAttribute('data-series')).toBe('3');
    await kitchen.click();
    await poll(() => page.getByTestId('topic-detail').getAttribute('data-topic')).toBe('home/kitchen/temperature');
    await poll(() => page.getByTestId('chart-values').getAttribute('data-series')).toBe('1'); // { celsius, at }: one number
    await page.getByTestId('chart-topic').selectOption('field:celsius');
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });
});

/** An MQTT 5 subscriber that hands over the first message: mosquitto_sub's output has no user properties. */
async function mqtt5Watcher(url: string, filter: string): Promise<{ client: MqttClient; next: Promise<IPublishPacket> }> {
  const client = connect(url, { protocolVersion: 5, reconnectPeriod: 0 });
  const next = new Promise<IPublishPacket>((resolve) => client.once('message', (_topic, _payload, packet) => resolve(packet)));
  await client.subscribeAsync(filter, { qos: 1 });
  return { client, next };
}
