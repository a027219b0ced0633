import type * as Otel from '@opentelemetry/api';
import type { IPublishPacket } from 'mqtt';
import type { MqttPublishProperties } from '../interfaces/mqtt-message.interface.js';
import type { DropReason, MessageTelemetry, ProcessSpan, RunOutcome, SendInfo, SendSpan, TelemetryGauges, TelemetryHandler } from './message-telemetry.js';

/** The instrumentation scope: spans and metrics name this library. */
export const INSTRUMENTATION_NAME = 'nestjs-mqtt';

/** Attribute names (OpenTelemetry messaging conventions; `messaging.mqtt.*` for what only MQTT has). */
export const ATTR = {
  system: 'messaging.system',
  operationName: 'messaging.operation.name',
  operationType: 'messaging.operation.type',
  destination: 'messaging.destination.name',
  template: 'messaging.destination.template',
  group: 'messaging.consumer.group.name',
  clientId: 'messaging.client.id',
  messageId: 'messaging.message.id',
  bodySize: 'messaging.message.body.size',
  conversationId: 'messaging.message.conversation_id',
  errorType: 'error.type',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  handler: 'code.function.name',
  clientName: 'messaging.mqtt.client.name',
  qos: 'messaging.mqtt.qos',
  retain: 'messaging.mqtt.retain',
  dropReason: 'messaging.mqtt.drop.reason',
  status: 'messaging.mqtt.connection.status',
} as const;

/** Metric names: the conventions' where they exist, `messaging.mqtt.*` for the rest. */
export const METRIC = {
  consumed: 'messaging.client.consumed.messages',
  processDuration: 'messaging.process.duration',
  sent: 'messaging.client.sent.messages',
  operationDuration: 'messaging.client.operation.duration',
  dropped: 'messaging.mqtt.dropped.messages',
  acknowledged: 'messaging.mqtt.acknowledged.messages',
  reconnects: 'messaging.mqtt.reconnects',
  activeHandlers: 'messaging.mqtt.handlers.active',
  offlineQueue: 'messaging.mqtt.offline_queue.size',
  inflight: 'messaging.mqtt.inflight.used',
  inflightLimit: 'messaging.mqtt.inflight.limit',
  status: 'messaging.mqtt.connection.status',
} as const;

/** The conventions' advice for messaging duration histograms, in seconds. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
const STATUSES = ['connecting', 'connected', 'reconnecting', 'offline', 'closed'] as const;
const TRACE_KEYS = ['traceparent', 'tracestate'] as const;

export interface TelemetryClient {
  /** Registration name. */
  readonly name: string;
  readonly clientId: string;
  readonly host: string;
  readonly port: number;
  readonly mqtt5: boolean;
}

/** The global OpenTelemetry providers an app registered, or undefined when it registered none. */
export function registeredProviders(api: typeof Otel): { tracer?: Otel.Tracer; meter?: Otel.Meter } | undefined {
  const tracerProvider = api.trace.getTracerProvider();
  // The API's own no-op provider, as an unset proxy hands it out: a registered one is anything else.
  const noopTracerProvider = new api.ProxyTracerProvider().getDelegate();
  const tracing =
    tracerProvider instanceof api.ProxyTracerProvider ? tracerProvider.getDelegate() !== noopTracerProvider : tracerProvider !== noopTracerProvider;
  const meter = api.metrics.getMeter(INSTRUMENTATION_NAME);
  const metering = meter !== api.createNoopMeter();
  if (!tracing && !metering) return undefined;
  return {
    ...(tracing && { tracer: api.trace.getTracer(INSTRUMENTATION_NAME) }),
    ...(metering && { meter }),
  };
}

/**
 * Spans and metrics of one client through the OpenTelemetry API. Attribute objects that do not depend
 * on the message are built once per handler; a message adds only its own values.
 */
export class OtelTelemetry implements MessageTelemetry {
  readonly tracing: boolean;
  private readonly base: Otel.Attributes;
  private readonly handlerAttributes = new WeakMap<TelemetryHandler, { ok: Otel.Attributes; span: Otel.Attributes }>();
  private readonly consumed?: Otel.Counter;
  private readonly processDuration?: Otel.Histogram;
  private readonly sent?: Otel.Counter;
  private readonly operationDuration?: Otel.Histogram;
  private readonly droppedCounter?: Otel.Counter;
  private readonly acknowledged?: Otel.Counter;
  private readonly reconnects?: Otel.Counter;

  constructor(
    private readonly api: typeof Otel,
    private readonly client: TelemetryClient,
    providers: { tracer?: Otel.Tracer; meter?: Otel.Meter },
    gauges: TelemetryGauges,
    private readonly tracer = providers.tracer,
  ) {
    this.tracing = tracer !== undefined;
    this.base = { [ATTR.system]: 'mqtt', [ATTR.clientName]: client.name };
    const meter = providers.meter;
    if (!meter) return;
    const duration = { unit: 's', advice: { explicitBucketBoundaries: DURATION_BUCKETS } };
    this.consumed = meter.createCounter(METRIC.consumed, { unit: '{message}', description: 'Messages the client received (every copy, before routing)' });
    this.processDuration = meter.createHistogram(METRIC.processDuration, {
      ...duration,
      description: 'Handler run duration; error.type is set on failed and refused runs',
    });
    this.sent = meter.createCounter(METRIC.sent, { unit: '{message}', description: 'Publishes (and replies) completed or failed' });
    this.operationDuration = meter.createHistogram(METRIC.operationDuration, {
      ...duration,
      description: 'Publish duration, until written (QoS 0) or acknowledged (QoS 1/2)',
    });
    this.droppedCounter = meter.createCounter(METRIC.dropped, {
      unit: '{message}',
      description: 'Messages or handler runs that reached no handler code, by reason',
    });
    this.acknowledged = meter.createCounter(METRIC.acknowledged, { unit: '{message}', description: 'QoS 1/2 publishes the broker acknowledged' });
    this.reconnects = meter.createCounter(METRIC.reconnects, { unit: '{reconnect}', description: 'Connections lost and made again' });
    const active = meter.createObservableGauge(METRIC.activeHandlers, { unit: '{handler}', description: 'Handler runs in progress' });
    const queue = meter.createObservableGauge(METRIC.offlineQueue, { unit: '{message}', description: 'Publishes waiting for a connection' });
    const inflight = meter.createObservableGauge(METRIC.inflight, { unit: '{message}', description: 'QoS 1/2 publishes not yet acknowledged' });
    const limit = meter.createObservableGauge(METRIC.inflightLimit, { unit: '{message}', description: 'How many QoS 1/2 publishes may be unacknowledged' });
    const status = meter.createObservableGauge(METRIC.status, { unit: '1', description: '1 for the current connection status, 0 for the others' });
    const statusAttributes = STATUSES.map((value) => ({ ...this.base, [ATTR.status]: value }));
    meter.addBatchObservableCallback(
      (result) => {
        result.observe(active, gauges.inFlightHandlers(), this.base);
        result.observe(queue, gauges.offlineQueue(), this.base);
        const window = gauges.inflightWindow();
        result.observe(inflight, window.used, this.base);
        result.observe(limit, window.limit, this.base);
        const current = gauges.status();
        STATUSES.forEach((value, index) => result.observe(status, value === current ? 1 : 0, statusAttributes[index]));
      },
      [active, queue, inflight, limit, status],
    );
  }

  received(): void {
    this.consumed?.add(1, this.base);
  }

  process(handler: TelemetryHandler, topic: string, packet: IPublishPacket): ProcessSpan {
    const attributes = this.attributesOf(handler);
    const started = performance.now();
    let span: Otel.Span | undefined;
    let spanContext: Otel.Context | undefined;
    if (this.tracer) {
      const parent = this.extract(packet.properties?.userProperties);
      const parentSpan = parent && this.api.trace.getSpanContext(parent);
      span = this.tracer.startSpan(
        handler.filter === undefined ? 'process' : `process ${handler.filter}`,
        {
          kind: this.api.SpanKind.CONSUMER,
          attributes: {
            ...attributes.span,
            [ATTR.destination]: topic,
            [ATTR.bodySize]: packet.payload.length,
            [ATTR.qos]: packet.qos,
            [ATTR.retain]: packet.retain,
            ...(packet.messageId !== undefined && packet.qos > 0 && { [ATTR.messageId]: String(packet.messageId) }),
          },
          // The conventions ask for a link to the creation context; parenting keeps device, instances and replies in one trace.
          ...(parentSpan && { links: [{ context: parentSpan }] }),
        },
        parent ?? this.api.ROOT_CONTEXT,
      );
      spanContext = this.api.trace.setSpan(parent ?? this.api.ROOT_CONTEXT, span);
    }
    return new OtelProcessSpan(this.api, this.processDuration, attributes.ok, started, span, spanContext);
  }

  dropped(reason: DropReason, handler: TelemetryHandler | undefined): void {
    if (!this.droppedCounter) return;
    const attributes = handler ? this.attributesOf(handler).ok : this.base;
    this.droppedCounter.add(1, { ...attributes, [ATTR.dropReason]: reason });
  }

  send(info: SendInfo): SendSpan {
    const started = performance.now();
    let span: Otel.Span | undefined;
    let properties = info.properties;
    if (this.tracer) {
      const given = info.properties?.userProperties;
      const custom = given && this.extract(given);
      const customContext = custom && this.api.trace.getSpanContext(custom);
      span = this.tracer.startSpan(`send ${info.topic}`, {
        kind: this.api.SpanKind.PRODUCER,
        attributes: {
          ...this.base,
          [ATTR.operationName]: 'send',
          [ATTR.operationType]: 'send',
          [ATTR.destination]: info.topic,
          [ATTR.clientId]: this.client.clientId,
          [ATTR.serverAddress]: this.client.host,
          [ATTR.serverPort]: this.client.port,
          [ATTR.bodySize]: info.bodyBytes,
          [ATTR.qos]: info.qos,
          [ATTR.retain]: info.retain,
          ...(info.correlationData && { [ATTR.conversationId]: info.correlationData.toString('hex') }),
        },
        // A creation context the caller put in the message stays as it is; the send span links to it.
        ...(customContext && { links: [{ context: customContext }] }),
      });
      if (this.client.mqtt5 && !customContext) {
        const carrier: Record<string, string> = {};
        this.api.propagation.inject(this.api.trace.setSpan(this.api.context.active(), span), carrier);
        if (carrier.traceparent) properties = withTraceContext(info.properties, carrier);
      }
    }
    return new OtelSendSpan(this.api, this.metricsOfSend, info.qos, properties, started, span);
  }

  reconnected(): void {
    this.reconnects?.add(1, this.base);
  }

  /** What a finished publish records, built once. */
  private get metricsOfSend(): SendMetrics {
    return (this.sendMetrics ??= {
      sent: this.sent,
      duration: this.operationDuration,
      acknowledged: this.acknowledged,
      base: this.base,
      ok: { ...this.base, [ATTR.operationName]: 'send' },
    });
  }
  private sendMetrics: SendMetrics | undefined;

  private attributesOf(handler: TelemetryHandler): { ok: Otel.Attributes; span: Otel.Attributes } {
    let attributes = this.handlerAttributes.get(handler);
    if (!attributes) {
      // Metric labels: bounded (filter, handler, group), never the topic.
      const ok: Otel.Attributes = {
        ...this.base,
        [ATTR.operationName]: 'process',
        [ATTR.handler]: handler.label,
        ...(handler.filter !== undefined && { [ATTR.template]: handler.filter }),
        ...(handler.share !== undefined && { [ATTR.group]: handler.share }),
      };
      const span: Otel.Attributes = {
        ...ok,
        [ATTR.operationType]: 'process',
        [ATTR.clientId]: this.client.clientId,
        [ATTR.serverAddress]: this.client.host,
        [ATTR.serverPort]: this.client.port,
      };
      attributes = { ok, span };
      this.handlerAttributes.set(handler, attributes);
    }
    return attributes;
  }

  /** The trace context a message carries in its MQTT 5 user properties (W3C Trace Context for MQTT). */
  private extract(userProperties: MqttPublishProperties['userProperties']): Otel.Context | undefined {
    if (!userProperties || userProperties.traceparent === undefined) return undefined;
    const carrier: Record<string, string> = {};
    for (const key of TRACE_KEYS) {
      const value = userProperties[key];
      const first = Array.isArray(value) ? value[0] : value;
      if (typeof first === 'string') carrier[key] = first;
    }
    const extracted = this.api.propagation.extract(this.api.ROOT_CONTEXT, carrier);
    return this.api.trace.getSpanContext(extracted) ? extracted : undefined;
  }
}

interface SendMetrics {
  readonly sent: Otel.Counter | undefined;
  readonly duration: Otel.Histogram | undefined;
  readonly acknowledged: Otel.Counter | undefined;
  readonly base: Otel.Attributes;
  readonly ok: Otel.Attributes;
}

class OtelProcessSpan implements ProcessSpan {
  constructor(
    private readonly api: typeof Otel,
    private readonly duration: Otel.Histogram | undefined,
    private readonly attributes: Otel.Attributes,
    private readonly started: number,
    private readonly span: Otel.Span | undefined,
    private readonly context: Otel.Context | undefined,
  ) {}

  run<T>(fn: () => T): T {
    return this.context ? this.api.context.with(this.context, fn) : fn();
  }

  end(outcome: RunOutcome, error?: unknown): void {
    const errorType = outcome === 'ok' ? undefined : outcome === 'refused' ? 'refused' : errorTypeOf(error);
    this.duration?.record((performance.now() - this.started) / 1000, errorType ? { ...this.attributes, [ATTR.errorType]: errorType } : this.attributes);
    if (!this.span) return;
    if (errorType) {
      this.span.setAttribute(ATTR.errorType, errorType);
      if (outcome === 'failed') failSpan(this.api, this.span, error);
    }
    this.span.end();
  }
}

class OtelSendSpan implements SendSpan {
  constructor(
    private readonly api: typeof Otel,
    private readonly metrics: SendMetrics,
    private readonly qos: number,
    readonly properties: MqttPublishProperties | undefined,
    private readonly started: number,
    private readonly span: Otel.Span | undefined,
  ) {}

  end(error?: unknown, messageId?: number): void {
    const errorType = error === undefined ? undefined : errorTypeOf(error);
    const attributes = errorType ? { ...this.metrics.ok, [ATTR.errorType]: errorType } : this.metrics.ok;
    this.metrics.sent?.add(1, attributes);
    this.metrics.duration?.record((performance.now() - this.started) / 1000, attributes);
    if (!errorType && this.qos > 0) this.metrics.acknowledged?.add(1, this.metrics.base);
    if (!this.span) return;
    if (messageId !== undefined) this.span.setAttribute(ATTR.messageId, String(messageId));
    if (errorType) {
      this.span.setAttribute(ATTR.errorType, errorType);
      failSpan(this.api, this.span, error);
    }
    this.span.end();
  }
}

function failSpan(api: typeof Otel, span: Otel.Span, error: unknown): void {
  if (error instanceof Error) span.recordException(error);
  span.setStatus({ code: api.SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

/** A copy of the properties with the trace context in the user properties. */
function withTraceContext(properties: MqttPublishProperties | undefined, carrier: Record<string, string>): MqttPublishProperties {
  return { ...properties, userProperties: { ...properties?.userProperties, ...carrier } };
}

/** Low-cardinality error type: the error's class name, as the conventions ask. */
function errorTypeOf(error: unknown): string {
  if (error instanceof Error) return error.constructor.name === 'Error' ? error.name || 'Error' : error.constructor.name;
  return '_OTHER';
}
