import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import mqtt from 'mqtt';
import { MqttModule, OnTopic } from 'nestjs-mqtt';
import { nowMs, RECORD_FIELDS, type MemberCommand, type MemberMessage, type Telemetry } from './load-protocol.js';

/**
 * One app instance of `npm run load`: `node load-member.js <nest|raw> <url>`. `nest` is a Nest application context
 * with one `$share` handler; `raw` is the baseline, a bare mqtt.js client in the same group. Both record receive time
 * at handler start and report to the parent in batches over IPC (advanced serialization: a Float64Array per batch).
 */
const [mode, url] = process.argv.slice(2);
const GROUP = 'load';
const FILTER = 'load/+/telemetry';
/** Records per IPC message at most, and how often a partial batch goes out: keeps the parent's view current for the drain. */
const BATCH_RECORDS = 4_096;
const FLUSH_MS = 100;

const send = (message: MemberMessage): void => void process.send?.(message);

const buffer = new Float64Array(BATCH_RECORDS * RECORD_FIELDS);
let used = 0;

function record(message: Telemetry, receivedAt: number): void {
  const at = used * RECORD_FIELDS;
  buffer[at] = message.device;
  buffer[at + 1] = message.seq;
  buffer[at + 2] = message.sentAt;
  buffer[at + 3] = receivedAt;
  if (++used === BATCH_RECORDS) flush();
}

function flush(): void {
  if (used === 0) return;
  // A copy of the used part: a view would serialize the whole backing buffer, and the buffer is reused.
  send({ type: 'batch', records: buffer.slice(0, used * RECORD_FIELDS) });
  used = 0;
}

@Injectable()
class TelemetryHandler {
  @OnTopic('load/+device/telemetry', { share: GROUP, qos: 1 })
  handle(message: Telemetry): void {
    // First thing in the handler: the latency ends where application code starts.
    const receivedAt = nowMs();
    record(message, receivedAt);
  }
}

@Module({ imports: [MqttModule.forRoot({ url, protocolVersion: 5 })], providers: [TelemetryHandler] })
class LoadMemberModule {}

async function startNest(): Promise<() => Promise<void>> {
  const app = await NestFactory.createApplicationContext(LoadMemberModule, { logger: ['error', 'warn'] });
  return () => app.close();
}

/** The floor: what any consumer must do, one JSON.parse per message, then the same record call. */
async function startRaw(): Promise<() => Promise<void>> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, clean: true });
  client.on('message', (_topic, payload) => {
    const message = JSON.parse(payload.toString()) as Telemetry;
    const receivedAt = nowMs();
    record(message, receivedAt);
  });
  await client.subscribeAsync(`$share/${GROUP}/${FILTER}`, { qos: 1 });
  return () => client.endAsync();
}

try {
  const close = await (mode === 'raw' ? startRaw() : startNest());
  const timer = setInterval(flush, FLUSH_MS);
  process.on('message', (command: MemberCommand) => {
    if (command.type === 'mark') {
      const cpu = process.cpuUsage();
      send({ type: 'mark', cpuUs: cpu.user + cpu.system, rssBytes: process.memoryUsage.rss() });
    } else if (command.type === 'flush') {
      flush();
      send({ type: 'flushed' });
    }
  });
  process.once('disconnect', () => {
    clearInterval(timer);
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
  send({ type: 'ready' });
} catch (error: unknown) {
  send({ type: 'error', message: error instanceof Error ? error.message : String(error) });
  process.exitCode = 1;
}
