import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import mqtt from 'mqtt';
import { MqttModule, MqttService, OnTopic, TopicRouter } from 'nestjs-mqtt';

/**
 * Router alone: ns per match() with `filters` registered (half exact, half wildcard), on matching
 * topics. `distinctTopics` above the router's result cache (4,096) measures the uncached trie walk.
 */
export function routerNsPerMatch(filters: number, distinctTopics: number, lookups = 1_000_000): number {
  const router = new TopicRouter<number>();
  for (let i = 0; i < filters; i++) {
    router.add(i % 2 === 0 ? `site/${i}/sensor/temp` : `site/${i}/+/temp`, i);
  }
  // Every topic matches: odd sites have a `+` filter, so distinct middle levels give distinct topics.
  const topics = Array.from({ length: distinctTopics }, (_, k) => `site/${(2 * k * 7919 + 1) % filters}/s${k}/temp`);
  let sink = 0;
  for (let i = 0; i < 200_000; i++) sink += router.match(topics[i % topics.length]).length; // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < lookups; i++) sink += router.match(topics[i % topics.length]).length;
  const ns = Number(process.hrtime.bigint() - start) / lookups;
  if (sink < 0) throw new Error('unreachable');
  return ns;
}

interface PublishRun {
  /** Wall-clock messages per second (shares the 2 cores with the broker). */
  rate: number;
  /** This process's CPU per message: what the client code costs, whatever the broker does meanwhile. */
  cpuUs: number;
}

/** `count` publishes, `inFlight` at a time, through `publish`. */
async function publishRate(publish: () => Promise<unknown>, count: number, inFlight: number): Promise<PublishRun> {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      await publish();
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  return { rate: count / seconds, cpuUs: (used.user + used.system) / count };
}

export interface PublishRates {
  qos: 0 | 1;
  /** nestjs-mqtt's maxInflight in this run; undefined: the default. */
  maxInflight: number | undefined;
  raw: number;
  library: number;
  rawCpuUs: number;
  libraryCpuUs: number;
  /** Median over rounds of bare CPU / nestjs-mqtt CPU in the same round (paired, so drift cancels). */
  ratio: number;
}

/** publish() throughput: MqttService.publish against bare client.publish, same broker, 100 awaited at a time. */
export async function publishThroughput(url: string, qos: 0 | 1, count: number, maxInflight?: number): Promise<PublishRates> {
  @Module({ imports: [MqttModule.forRoot({ url, ...(maxInflight ? { maxInflight } : {}) })] })
  class PublishModule {}
  const app = await NestFactory.createApplicationContext(PublishModule, { logger: false });
  const service = app.get(MqttService);
  const raw = await mqtt.connectAsync(url);
  const payload = '{"i":1,"t":21.5}';
  const rawPublish = () => new Promise<void>((resolve, reject) => raw.publish('pub/raw', payload, { qos }, (error) => (error ? reject(error) : resolve())));
  const libPublish = () => service.publish('pub/lib', payload, { qos });
  const runs = { raw: [] as PublishRun[], library: [] as PublishRun[] };
  await publishRate(rawPublish, count / 5, 100); // warm-up, both paths
  await publishRate(libPublish, count / 5, 100);
  for (let round = 0; round < 9; round++) {
    runs.raw.push(await publishRate(rawPublish, count, 100));
    runs.library.push(await publishRate(libPublish, count, 100));
  }
  await raw.endAsync();
  await app.close();
  return {
    qos,
    maxInflight,
    raw: median(runs.raw.map((r) => r.rate)),
    library: median(runs.library.map((r) => r.rate)),
    rawCpuUs: median(runs.raw.map((r) => r.cpuUs)),
    libraryCpuUs: median(runs.library.map((r) => r.cpuUs)),
    ratio: median(runs.raw.map((r, i) => r.cpuUs / runs.library[i].cpuUs)),
  };
}

/** Milliseconds from NestFactory.createApplicationContext to init done, with `handlers` decorated methods. */
export async function bootstrapMs(url: string, handlers: number): Promise<number> {
  class ManyHandlers {}
  const prototype = ManyHandlers.prototype as unknown as Record<string, unknown>;
  for (let i = 0; i < handlers; i++) {
    const key = `h${i}`;
    prototype[key] = function handle(): void {};
    OnTopic(`boot/${i}/+`)(prototype, key, Object.getOwnPropertyDescriptor(prototype, key)!);
  }
  Injectable()(ManyHandlers);
  @Module({ imports: [MqttModule.forRoot({ url })], providers: [ManyHandlers] })
  class BootModule {}
  const start = process.hrtime.bigint();
  const app = await NestFactory.createApplicationContext(BootModule, { logger: false });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  await app.close();
  return ms;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
