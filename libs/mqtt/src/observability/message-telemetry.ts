import type { IPublishPacket } from 'mqtt';
import type { MqttPublishProperties, MqttStatus, QoS } from '../interfaces/mqtt-message.interface.js';

/** How a handler run ended, for spans and the duration histogram. */
export type RunOutcome = 'ok' | 'failed' | 'refused';

/** Why a message (or one handler's run of it) reached no handler code. */
export type DropReason = 'decode' | 'guard' | 'pipe' | 'duplicate' | 'unrouted';

/** A handler as telemetry labels it: bounded values only (never the raw topic). */
export interface TelemetryHandler {
  /** `Class#method`. */
  readonly label: string;
  /** The decorated filter; undefined for `@OnMessage`. */
  readonly filter: string | undefined;
  /** The `$share` group, when the handler's subscription is shared. */
  readonly share: string | undefined;
}

/** One handler run being traced. */
export interface ProcessSpan {
  /** Calls `fn` with the span's context active, so publishes and requests inside it are its children. */
  run<T>(fn: () => T): T;
  end(outcome: RunOutcome, error?: unknown): void;
}

/** One publish being traced. */
export interface SendSpan {
  /** The properties to send: the caller's, plus `traceparent`/`tracestate` on MQTT 5 (a copy; the caller's object is not changed). */
  readonly properties: MqttPublishProperties | undefined;
  end(error?: unknown, messageId?: number): void;
}

export interface SendInfo {
  readonly topic: string;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly bodyBytes: number;
  readonly properties: MqttPublishProperties | undefined;
  /** A reply to an MQTT 5 request, or the request itself: adds the correlation data as conversation id. */
  readonly correlationData?: Buffer;
}

/** What the gauges read when a metric reader collects. */
export interface TelemetryGauges {
  status(): MqttStatus;
  inFlightHandlers(): number;
  offlineQueue(): number;
  inflightWindow(): { used: number; limit: number };
}

/**
 * The OpenTelemetry side of one client, present only when `@opentelemetry/api` is installed and an
 * app registered a tracer or meter provider before it created the Nest app. When it is absent the
 * message path checks one field and does nothing more.
 */
export interface MessageTelemetry {
  /** Whether spans are recorded (a tracer provider is registered). */
  readonly tracing: boolean;
  received(): void;
  /** Starts the span and timer of one handler run; `end()` records the duration histogram. */
  process(handler: TelemetryHandler, topic: string, packet: IPublishPacket): ProcessSpan;
  dropped(reason: DropReason, handler: TelemetryHandler | undefined): void;
  /** Starts the span of one publish; injects trace context into its MQTT 5 properties. */
  send(info: SendInfo): SendSpan;
  reconnected(): void;
}
