import type { MqttModuleOptions, OnTopicOptions } from 'nestjs-mqtt';

/** One benchmark scenario: which handlers exist and which topics the publisher sends to. */
export interface Workload {
  readonly name: string;
  /** Filters of the decorated handlers (one handler per filter). */
  readonly filters: readonly string[];
  /** Topic of message `i`. */
  topic(i: number): string;
  /** Key the bare mqtt.js consumer looks its handler up by (the floor's one Map lookup). */
  rawKey(topic: string): string;
  /** Keys the bare consumer registers. */
  readonly rawKeys: readonly string[];
  readonly qos: 0 | 1;
  readonly handlerOptions?: OnTopicOptions;
  /** Give each handler a guard and a pipe (`@UseGuards`, `@Payload(pipe)`): the Nest pipeline's cost. */
  readonly enhancers?: boolean;
  readonly moduleOptions?: Partial<MqttModuleOptions>;
  /** Register a recording OpenTelemetry SDK (traces and metrics) before the app is created. */
  readonly otelSdk?: boolean;
  /** Design target for consumer CPU per message vs bare mqtt.js. */
  readonly target: number;
}

const HANDLERS = 1_000;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const firstTwoLevels = (topic: string) => topic.slice(0, topic.indexOf('/', 6));

export const WORKLOADS: readonly Workload[] = [
  {
    name: 'one wildcard handler',
    filters: ['bench/#'],
    topic: (i) => `bench/${i % HANDLERS}/data`,
    rawKey: (topic) => topic.slice(0, topic.indexOf('/')),
    rawKeys: ['bench'],
    qos: 0,
    target: 1.05,
  },
  {
    name: '1,000 exact-topic handlers',
    filters: range(HANDLERS).map((i) => `bench/${i}/data`),
    topic: (i) => `bench/${i % HANDLERS}/data`,
    rawKey: (topic) => topic,
    rawKeys: range(HANDLERS).map((i) => `bench/${i}/data`),
    qos: 0,
    target: 1.1,
  },
  {
    name: '1,000 wildcard handlers (bench/<i>/+)',
    filters: range(HANDLERS).map((i) => `bench/${i}/+`),
    topic: (i) => `bench/${i % HANDLERS}/data`,
    rawKey: firstTwoLevels,
    rawKeys: range(HANDLERS).map((i) => `bench/${i}`),
    qos: 0,
    target: 1.1,
  },
  {
    // MQTT 5: every copy names its subscription identifier, and the dispatcher routes by it. The bare
    // consumer subscribes with an identifier too, so both parse the same packets (the property alone
    // costs mqtt-packet more than the routing does).
    name: '1,000 wildcard handlers, MQTT 5 (routed by subscription identifier)',
    filters: range(HANDLERS).map((i) => `bench/${i}/+`),
    topic: (i) => `bench/${i % HANDLERS}/data`,
    rawKey: firstTwoLevels,
    rawKeys: range(HANDLERS).map((i) => `bench/${i}`),
    qos: 0,
    moduleOptions: { protocolVersion: 5 },
    target: 1.1,
  },
  {
    // `telemetry: false` never loads @opentelemetry/api: the same message path as an app without it installed.
    name: 'one wildcard handler, OpenTelemetry off (as if not installed)',
    filters: ['bench/#'],
    topic: (i) => `bench/${i % HANDLERS}/data`,
    rawKey: (topic) => topic.slice(0, topic.indexOf('/')),
    rawKeys: ['bench'],
    qos: 0,
    moduleOptions: { telemetry: false },
    target: 1.05,
  },
  {
    // The first workload has the API installed and no provider registered; this one records every span and metric.
    name: 'one wildcard handler, OpenTelemetry SDK recording spans and metrics',
    filters: ['bench/#'],
    topic: (i) => `bench/${i % HANDLERS}/data`,
    rawKey: (topic) => topic.slice(0, topic.indexOf('/')),
    rawKeys: ['bench'],
    qos: 0,
    otelSdk: true,
    target: Number.POSITIVE_INFINITY,
  },
  {
    name: 'one wildcard handler with a guard and a pipe',
    filters: ['bench/#'],
    topic: (i) => `bench/${i % HANDLERS}/data`,
    rawKey: (topic) => topic.slice(0, topic.indexOf('/')),
    rawKeys: ['bench'],
    qos: 0,
    enhancers: true,
    target: Number.POSITIVE_INFINITY,
  },
  {
    // The cost of at-least-once to the handler: the PUBACK waits for the handler (mqtt.js handles packets one at a time).
    name: "QoS 1, one wildcard handler, ack 'after-handler'",
    filters: ['bench/#'],
    topic: (i) => `bench/${i % HANDLERS}/data`,
    rawKey: (topic) => topic.slice(0, topic.indexOf('/')),
    rawKeys: ['bench'],
    qos: 1,
    handlerOptions: { ack: 'after-handler' },
    target: 1.1,
  },
];

export function workloadByName(name: string): Workload {
  const workload = WORKLOADS.find((w) => w.name === name);
  if (!workload) throw new Error(`unknown workload ${name}`);
  return workload;
}
