import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Inject, Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { connect, type IConnackPacket, type IPublishPacket, type MqttClient } from 'mqtt';
import { MqttModule, MqttService, OnConnect, OnSubscribe, OnTopic, type TopicQos } from 'nestjs-mqtt';
import { performance } from 'node:perf_hooks';
import { RabbitMqCluster } from './fixtures/brokers/rabbitmq.js';
import { AedesCluster } from './fixtures/cluster/aedes-cluster.js';
import { CaptureLogger } from './support/capture-logger.js';
import { Inbox } from './support/inbox.js';

/**
 * Three app instances with durable sessions spread over a 3-node cluster: aedes over Redis in `npm test`, RabbitMQ
 * with quorum queues in `npm run test:cluster:rabbitmq` (CLUSTERS=rabbitmq; a 25 s start). The node of
 * instance 0 is SIGKILLed in the middle of a QoS 1 stream: instance 0 must resume its session on another node of
 * its list and, like the others, miss nothing.
 *
 * aedes 1.2.0 restores a resumed session's subscriptions before it sends the CONNACK, so a message routed in between
 * can reach the client first (MQTT-3.2.0-1). mqtt.js 5 then handles that PUBLISH, holds its PUBACK until connected and
 * stops reading, so the CONNACK is never read: that attempt ends in a connack timeout and the client moves on to the
 * next node of its list (about one failover in four here). The test lets that happen (a short connectTimeout keeps
 * it quick) and reports it, rather than hiding it in the fixture: it is what an app on such a cluster meets.
 */
const MESSAGES = 1_000;
const KILL_AFTER = 300;
/**
 * The last deliveries of the dead node that may come again: written to the socket, but their PUBACK not yet settled in
 * Redis when it died (16 to 23 measured; MQTT 3.1.1 has no receive maximum to bound it, so a tenth of the stream).
 */
const IN_FLIGHT_WINDOW = 100;
/** Hang guard for the whole stream to arrive (about 2 s here); not a speed requirement. */
const STREAM_GUARD_MS = 20_000;

interface Delivery {
  seq: number;
  dup: boolean;
  server: string;
  at: number;
}

interface Connection {
  server: string;
  sessionPresent: boolean;
  at: number;
}

/** What one instance saw; each app gets its own through the SINK provider. */
class Sink {
  readonly deliveries = new Inbox<Delivery>();
  readonly connections = new Inbox<Connection>();
  readonly grants = new Inbox<string[]>();
}

const SINK = Symbol('cluster-failover sink');

@Injectable()
class Recorder {
  constructor(
    @Inject(SINK) private readonly sink: Sink,
    private readonly mqtt: MqttService,
  ) {}

  @OnTopic('cluster/+', { qos: 1 })
  onMessage(payload: { seq: number }, _topic: string, packet: IPublishPacket): void {
    this.sink.deliveries.push({ seq: payload.seq, dup: packet.dup, server: this.mqtt.server, at: performance.now() });
  }

  @OnConnect()
  onConnect(connack: IConnackPacket): void {
    this.sink.connections.push({ server: this.mqtt.server, sessionPresent: connack.sessionPresent, at: performance.now() });
  }

  @OnSubscribe()
  onSubscribe(granted: TopicQos[]): void {
    this.sink.grants.push(granted.map((grant) => grant.topic));
  }
}

interface Instance {
  app: TestingModule;
  mqtt: MqttService;
  sink: Sink;
}

/** What the test needs of a cluster fixture. */
interface Cluster {
  readonly urls: string[];
  url(index: number): string;
  kill(index: number): Promise<void>;
  restart(index: number): Promise<void>;
  close(): Promise<void>;
}

const CLUSTERS: ReadonlyArray<{ name: string; start: () => Promise<Cluster> }> = [
  { name: 'aedes x3 + Redis', start: () => AedesCluster.start({ nodes: 3 }) },
  { name: 'RabbitMQ x3, quorum queues', start: () => RabbitMqCluster.start(3) },
];

/** `CLUSTERS=rabbitmq` picks clusters by a word of their names; unset: aedes. */
function selectedClusters(): typeof CLUSTERS {
  const words = (process.env.CLUSTERS ?? 'aedes').split(',').map((word) => word.trim().toLowerCase());
  const chosen = CLUSTERS.filter((candidate) => words.some((word) => word && candidate.name.toLowerCase().includes(word)));
  if (chosen.length === 0) throw new Error(`CLUSTERS=${process.env.CLUSTERS} names none of: ${CLUSTERS.map((candidate) => candidate.name).join('; ')}`);
  return chosen;
}

let cluster: Cluster;
let publisher: MqttClient | undefined;
const instances: Instance[] = [];
/** One for all apps: Nest's logger is process-wide, so the last setLogger() would get every app's lines anyway. */
const logger = new CaptureLogger();

/** Instance `i` starts on node `i` and fails over to the nodes after it, wrapping around. */
async function boot(index: number): Promise<Instance> {
  const urls = cluster.urls;
  const sink = new Sink();
  const app = await Test.createTestingModule({
    imports: [
      MqttModule.forRoot({
        url: [...urls.slice(index), ...urls.slice(0, index)],
        clientId: `cluster-app-${index}`,
        clean: false,
        protocolVersion: 4,
        reconnectPeriod: 100,
        // A resumed session's CONNACK may never be read (see above): move on to the next node soon.
        connectTimeout: 1_000,
        dedupeWindowMs: 30_000,
      }),
    ],
    providers: [Recorder, { provide: SINK, useValue: sink }],
  })
    .setLogger(logger)
    .compile();
  const instance: Instance = { app, mqtt: app.get(MqttService), sink };
  instances.push(instance);
  await app.init();
  await sink.grants.until((grants) => grants.some((filters) => filters.includes('cluster/+')));
  return instance;
}

/** seq -> how many times the handler ran for it. */
function counts(deliveries: readonly Delivery[]): Map<number, number> {
  const runs = new Map<number, number>();
  for (const { seq } of deliveries) runs.set(seq, (runs.get(seq) ?? 0) + 1);
  return runs;
}

describe.each(selectedClusters().map((entry) => [entry.name, entry] as const))('failover across the nodes of a cluster: %s', (clusterName, entry) => {
  beforeAll(async () => {
    cluster = await entry.start();
  }, 120_000);
  afterAll(async () => {
    await publisher?.endAsync(true);
    publisher = undefined;
    for (const instance of instances.splice(0)) await instance.app.close();
    await cluster?.close();
  }, 60_000);

  it('SIGKILL of a node mid-stream: its instance resumes its durable session on another node, and no instance loses a QoS 1 message', async () => {
    const [first, second, third] = [await boot(0), await boot(1), await boot(2)];
    for (const [index, instance] of [first, second, third].entries()) {
      expect(instance.mqtt.server).toBe(cluster.url(index));
      expect(instance.sink.connections.items).toEqual([expect.objectContaining({ server: cluster.url(index), sessionPresent: false })]);
    }

    // The publisher sits on node 2, which survives; one message in flight at a time keeps the stream going through the kill.
    publisher = connect(cluster.url(2), { protocolVersion: 4, clientId: 'cluster-publisher', reconnectPeriod: 0 });
    const sender = publisher;
    const stream = (async () => {
      for (let seq = 0; seq < MESSAGES; seq++) await sender.publishAsync('cluster/stream', JSON.stringify({ seq }), { qos: 1 });
    })();

    await first.sink.deliveries.until((items) => items.length >= KILL_AFTER, STREAM_GUARD_MS);
    const killedAt = performance.now();
    await cluster.kill(0);

    // Back on another node, in the session it had: the broker kept it in Redis.
    await first.sink.connections.until((items) => items.length > 1, STREAM_GUARD_MS);
    const failover = first.sink.connections.items[1];
    const survivors = [cluster.url(1), cluster.url(2)];
    expect(survivors).toContain(failover.server);
    expect(failover.sessionPresent).toBe(true);
    expect(first.mqtt.server).toBe(failover.server);
    // Only instance 0 reconnects, so only it can log this.
    await logger.waitFor(`Client 'default' connected to ${failover.server} (session present)`);
    const failoverMs = failover.at - killedAt;
    const unanswered = logger.lines.filter((line) => line.text.includes('connack timeout')).length;

    await stream;
    const everything = (items: readonly Delivery[]) => new Set(items.map((delivery) => delivery.seq)).size >= MESSAGES;
    await Promise.all(instances.map(({ sink }) => sink.deliveries.until(everything, STREAM_GUARD_MS, `${MESSAGES} distinct messages`)));

    const figures = instances.map(({ sink, mqtt }) => {
      const runs = counts(sink.deliveries.items);
      const { received, dropped } = mqtt.stats().messages;
      return { lost: MESSAGES - runs.size, twice: [...runs].filter(([, n]) => n > 1).map(([seq]) => seq), received, droppedAsDup: dropped.duplicate };
    });
    const range = (seqs: number[]) => (seqs.length ? `: seqs ${Math.min(...seqs)}-${Math.max(...seqs)}` : '');
    process.stdout.write(
      `cluster failover (${clusterName}, ${MESSAGES} QoS 1 messages, node 0 SIGKILLed after ${KILL_AFTER} reached instance 0): ` +
        `back on node ${survivors.indexOf(failover.server) + 1} ${Math.round(failoverMs)} ms after the kill ` +
        `(${unanswered} attempt(s) without CONNACK before), sessionPresent ${failover.sessionPresent}; ` +
        figures
          .map(
            (f, i) =>
              `instance ${i}: lost ${f.lost}, redelivered ${f.received - MESSAGES} (handled twice ${f.twice.length}${range(f.twice)}, dropped as DUP ${f.droppedAsDup})`,
          )
          .join('; ') +
        '\n',
    );

    for (const f of figures) expect(f.lost).toBe(0);
    // Instances on surviving nodes get every message exactly once.
    expect(figures.slice(1).map((f) => f.received)).toEqual([MESSAGES, MESSAGES]);

    // Instance 0 handles a message again only when the failover itself left it unsettled: the dead node had sent it
    // and not yet settled its PUBACK in Redis (among its last deliveries), or it came in an attempt whose CONNACK never
    // came. Nothing handled in the resumed session is handled again.
    const fromDeadNode = first.sink.deliveries.items.filter((delivery) => delivery.server === cluster.url(0)).map((delivery) => delivery.seq);
    const inFlightAtKill = new Set(fromDeadNode.slice(-IN_FLIGHT_WINDOW));
    for (const seq of figures[0].twice) {
      const [original] = first.sink.deliveries.items.filter((delivery) => delivery.seq === seq);
      const unsettledByFailover = original.server === cluster.url(0) ? inFlightAtKill.has(seq) : original.at < failover.at;
      expect({ seq, from: original.server, unsettledByFailover }).toEqual({ seq, from: original.server, unsettledByFailover: true });
    }
    // dedupeWindowMs: every redelivery flagged DUP is dropped before the handler, so none of them was handled twice.
    // aedes 1.2.0 redelivers without the DUP flag (MQTT-3.3.1-1; moscajs/aedes#601), and a copy without it is
    // handled again, as QoS 1 allows: those are the "handled twice" of the figure line.
    const handled = new Set<number>();
    const dupHandledAgain: number[] = [];
    for (const { seq, dup } of first.sink.deliveries.items) {
      if (dup && handled.has(seq)) dupHandledAgain.push(seq);
      handled.add(seq);
    }
    expect(dupHandledAgain).toEqual([]);
    expect(figures[0].twice.length + figures[0].droppedAsDup).toBeLessThanOrEqual(figures[0].received - MESSAGES);

    // restart(): node 0 back on its port routes again, to every instance wherever it is.
    await cluster.restart(0);
    const late = connect(cluster.url(0), { protocolVersion: 4, clientId: 'cluster-late-publisher', reconnectPeriod: 0 });
    try {
      await late.publishAsync('cluster/late', JSON.stringify({ seq: MESSAGES }), { qos: 1 });
    } finally {
      await late.endAsync();
    }
    await Promise.all(instances.map(({ sink }) => sink.deliveries.until((items) => items.some((delivery) => delivery.seq === MESSAGES))));
    // A hang guard: restarting a RabbitMQ node takes about 15 s here.
  }, 120_000);
});
