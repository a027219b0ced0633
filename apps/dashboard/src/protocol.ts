/**
 * What the dashboard page and the gateway say to each other over socket.io. The page is plain JavaScript
 * (public/app.js) and mirrors these shapes; keep the two in step.
 *
 * HTTP (no token needed): the page's files at `/` (apps/dashboard/public), the browser libraries at
 * `/vendor/preact.mjs`, `/vendor/preact-hooks.mjs` (it imports `./preact.mjs`, so it works with or without an import
 * map), `/vendor/htm.mjs`, `/vendor/uPlot.esm.js`, `/vendor/uPlot.min.css`; socket.io's client at
 * `/socket.io/socket.io.esm.min.js`; Prometheus metrics at `/metrics`.
 *
 * Connecting: when the app has a `DASHBOARD_TOKEN`, the socket must send it (`io({ auth: { token } })`), else it gets
 * `connect_error` with the message `token required` (none sent) or `invalid token`. A browser may connect only from
 * the dashboard's own origin.
 *
 * Page -> gateway: `socket.emit(event, request, ack)`; every request is answered through `ack` with a
 * `Reply`: `{ ok: true, ... }` or `{ ok: false, error }` (the error starts with the field, `qos: must be 0, 1 or 2`;
 * nothing reached the broker). A request that is not an object or has an unknown key is refused; one sent without an
 * ack callback is ignored (nothing is done). Replies: `subscribe`, `unsubscribe` and `unsubscribeAll` answer with
 * `SubscriptionsReply`, `publish` with `PublishReply` (once written at QoS 0, acknowledged at QoS 1/2), `simulate`
 * with `SimulateReply`.
 * Gateway -> page: `hello` once after connecting, `messages` in batches (every 100 ms when there is something to
 * say: the messages of this page's subscriptions, each once even when several of its filters match), `snapshot`
 * every second and at once when a client's status or the simulator changes.
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
  /** A topic filter (wildcards, named wildcards such as `+room`, `$share/<group>/...`); checked by `parseTopicFilter`. */
  readonly filter: string;
  /** Default 0. */
  readonly qos: 0 | 1 | 2;
}

export interface UnsubscribeRequest {
  readonly filter: string;
}

export interface PublishRequest {
  /** A topic name: no wildcards; checked by `assertTopicName`. */
  readonly topic: string;
  /** Sent as UTF-8 text; at most `limits.maxPayloadBytes` bytes. */
  readonly payload: string;
  /** Default 0. */
  readonly qos: 0 | 1 | 2;
  /** Default false. */
  readonly retain: boolean;
  /**
   * MQTT 5 user properties (string values, no U+0000; at most 32, 8 KiB of keys and values); refused on an
   * MQTT 3.1.1 client (the embedded broker speaks 3.1.1 only). Errors name `userProperties` or `userProperties.<key>`.
   */
  readonly userProperties?: Readonly<Record<string, string>>;
}

export interface SimulateRequest {
  readonly on: boolean;
}

export type Reply<T extends object = object> = ({ readonly ok: true } & T) | { readonly ok: false; readonly error: string };

/** The `ok` reply of `subscribe`, `unsubscribe` and `unsubscribeAll`: this page's subscriptions after the change. */
export interface SubscriptionsReply {
  readonly subscriptions: readonly PageSubscription[];
}

/** The `ok` reply of `publish`: the packet identifier of a QoS 1/2 publish. */
export interface PublishReply {
  readonly messageId?: number;
}

/** The `ok` reply of `simulate`: whether the feed is on now. */
export interface SimulateReply {
  readonly simulate: boolean;
}

/** A subscription the page made (the app's decorated ones are in `snapshot.clients[].description.subscriptions`). */
export interface PageSubscription {
  /** As the page wrote it (`home/+room/#`); `unsubscribe` takes it, or any filter the broker sees the same way (`home/+/#`). */
  readonly filter: string;
  readonly qos: 0 | 1 | 2;
}

/** One received message, as the page shows it. */
export interface MessageView {
  readonly topic: string;
  /**
   * JSON pretty-printed, UTF-8 text, or hex for binary (pairs separated by spaces: `00 ff 1a`); cut at
   * `limits.previewBytes` bytes (see `truncated`). A payload over 64 KiB is not parsed: its first bytes as text or hex.
   */
  readonly payload: string;
  readonly encoding: 'json' | 'text' | 'hex';
  /** What the chart plots: `{ value: n }` when the payload is a number, or a JSON object's top-level numeric fields (at most 32). */
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

/** One client: `describe()` (its `url` has no credentials) and `stats()`. Dates arrive as ISO strings (`stats.handlers[].lastError.at`). */
export interface ClientSnapshot {
  readonly description: MqttClientDescription;
  readonly stats: MqttStats;
}

export interface Snapshot {
  readonly at: number;
  readonly clients: readonly ClientSnapshot[];
  /** This page's own subscriptions. */
  readonly subscriptions: readonly PageSubscription[];
  /** Whether the simulated sensor feed (`home/<room>/temperature` and `/humidity`) is on. */
  readonly simulate: boolean;
}

export interface Hello extends Snapshot {
  readonly limits: { readonly maxPayloadBytes: number; readonly previewBytes: number; readonly messagesPerSecond: number };
}
