/**
 * What the dashboard page and the gateway say to each other over socket.io. The page is plain JavaScript
 * (public/app.js) and mirrors these shapes; keep the two in step.
 *
 * Page -> gateway: `socket.emit(event, request, ack)`; every request is answered through `ack` with a
 * `Reply`: `{ ok: true, ... }` or `{ ok: false, error }` (the error names the field; nothing reached the broker).
 * Gateway -> page: `hello` once after connecting, `messages` in batches, `snapshot` every second.
 */
import type { MqttClientDescription, MqttStats } from 'nestjs-mqtt';

export const PAGE_EVENTS = {
  subscribe: 'subscribe',
  unsubscribe: 'unsubscribe',
  unsubscribeAll: 'unsubscribeAll',
  publish: 'publish',
  simulate: 'simulate',
} as const;

export const SERVER_EVENTS = {
  hello: 'hello',
  messages: 'messages',
  snapshot: 'snapshot',
} as const;

export interface SubscribeRequest {
  readonly filter: string;
  readonly qos: 0 | 1 | 2;
}

export interface UnsubscribeRequest {
  readonly filter: string;
}

export interface PublishRequest {
  readonly topic: string;
  /** Sent as UTF-8 text. */
  readonly payload: string;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  /** MQTT 5 user properties (string values); refused on an MQTT 3.1.1 client. */
  readonly userProperties?: Readonly<Record<string, string>>;
}

export interface SimulateRequest {
  readonly on: boolean;
}

export type Reply<T extends object = object> = ({ readonly ok: true } & T) | { readonly ok: false; readonly error: string };

/** A subscription the page made (the app's decorated ones are in `snapshot.clients[].description.subscriptions`). */
export interface PageSubscription {
  readonly filter: string;
  readonly qos: 0 | 1 | 2;
}

/** One received message, as the page shows it. */
export interface MessageView {
  readonly topic: string;
  /** JSON pretty-printed, UTF-8 text, or hex for binary; cut at `limits.previewBytes` (see `truncated`). */
  readonly payload: string;
  readonly encoding: 'json' | 'text' | 'hex';
  /** A number when the payload is one, or a JSON object's numeric fields: what the chart plots. */
  readonly numbers?: Readonly<Record<string, number>>;
  readonly size: number;
  readonly truncated: boolean;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  /** Epoch milliseconds when the gateway received it. */
  readonly at: number;
}

export interface MessageBatch {
  readonly messages: readonly MessageView[];
  /** Messages not forwarded since the last batch (the page is sent at most `limits.messagesPerSecond`). */
  readonly skipped: number;
}

export interface ClientSnapshot {
  readonly description: MqttClientDescription;
  readonly stats: MqttStats;
}

export interface Snapshot {
  readonly at: number;
  readonly clients: readonly ClientSnapshot[];
  readonly subscriptions: readonly PageSubscription[];
  readonly simulate: boolean;
}

export interface Hello extends Snapshot {
  readonly limits: { readonly maxPayloadBytes: number; readonly previewBytes: number; readonly messagesPerSecond: number };
}
