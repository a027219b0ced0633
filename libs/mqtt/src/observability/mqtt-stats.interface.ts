import type { MqttStatus, QoS } from '../interfaces/mqtt-message.interface.js';

/**
 * What one client has done since it was created, as `MqttService.stats()` returns it: the same
 * counts the OpenTelemetry metrics carry, for apps without OpenTelemetry and for dashboards.
 */
export interface MqttStats {
  /** The client's registration name (`'default'` unless `forRoot({ name })`). */
  readonly client: string;
  readonly status: MqttStatus;
  /** Connections lost and made again (the first connection does not count). */
  readonly reconnects: number;
  readonly messages: MqttMessageCounts;
  /** Handler runs not finished yet. */
  readonly inFlightHandlers: number;
  /** Publishes waiting for a connection (bounded by `offlineQueueLimit`). */
  readonly offlineQueue: number;
  /** QoS 1/2 publishes not acknowledged yet, and how many may be (`maxInflight`, or the broker's Receive Maximum). */
  readonly inflightWindow: { readonly used: number; readonly limit: number };
  /** One entry per bound handler method, in binding order. */
  readonly handlers: readonly MqttHandlerStats[];
}

export interface MqttMessageCounts {
  /** PUBLISH packets received: every copy, before routing. */
  readonly received: number;
  /** Handler runs that returned (or resolved), exception filters included. */
  readonly handled: number;
  /** Handler runs that threw or rejected and no exception filter handled. */
  readonly failed: number;
  /** Messages (or handler runs) that reached no handler code, by reason. */
  readonly dropped: MqttDropCounts;
  /** `publish()` calls and replies the client completed: QoS 0 written, QoS 1/2 acknowledged. */
  readonly published: number;
  /** QoS 1/2 publishes the broker acknowledged (PUBACK, or PUBCOMP for QoS 2). */
  readonly acknowledged: number;
  /** Publishes that failed (refused by the broker, the offline limit, the connection closed). */
  readonly publishFailed: number;
}

export interface MqttDropCounts {
  /** A handler's payload format could not decode the payload (per handler run). */
  readonly decode: number;
  /** A guard refused the message (per handler run). */
  readonly guard: number;
  /** A pipe refused the message, e.g. a ValidationPipe (per handler run). */
  readonly pipe: number;
  /** A repeated QoS 1 delivery inside `dedupeWindowMs`. */
  readonly duplicate: number;
  /** A message no handler's filter matched and no `@OnMessage` handler took. */
  readonly unrouted: number;
}

export interface MqttHandlerStats {
  /** `Class#method`. */
  readonly handler: string;
  /** The filters the method is bound to, as decorated (`home/+room/temperature`); empty for `@OnMessage`. */
  readonly filters: readonly string[];
  readonly handled: number;
  readonly failed: number;
  /** Runs a guard, a pipe or the payload decoder refused. */
  readonly refused: number;
  /** The last failure, for a dashboard; its text is the error's message. */
  readonly lastError?: { readonly message: string; readonly at: Date };
  /**
   * Handler run durations in milliseconds: every run of the first 1,024, then one in 16 (`count` says how many were
   * timed); quantiles are at most 19% high (logarithmic buckets).
   */
  readonly durationMs: { readonly count: number; readonly p50: number; readonly p99: number; readonly max: number };
}

/** A bound handler, as `MqttService.describe()` lists it. */
export interface MqttHandlerDescription {
  /** `Class#method`. */
  readonly handler: string;
  /** As decorated, named wildcards included; undefined for `@OnMessage`. */
  readonly filter: string | undefined;
  readonly qos: QoS | undefined;
  readonly share: string | undefined;
  /** The payload format's name (`'auto'`, `'json'`, a codec's `name`). */
  readonly payload: string;
  readonly ack: 'auto' | 'after-handler';
  readonly reply: boolean;
}

/** A held subscription, as `MqttService.describe()` lists it. */
export interface MqttSubscriptionDescription {
  /** As sent to the broker (`$share/group/...` included). */
  readonly filter: string;
  readonly qos: QoS;
  /** The QoS the broker granted on the current session; undefined until granted. */
  readonly granted: QoS | undefined;
  /** MQTT 5 subscription identifier. */
  readonly identifier: number | undefined;
}

/** One client, as tools see it: where it connects, its state, its handlers and subscriptions. */
export interface MqttClientDescription {
  readonly client: string;
  /** The broker the client is connected to, or tries next: its URL without credentials. */
  readonly url: string;
  /** Every broker the client may connect to, in the order it tries them (one, or a failover list), without credentials. */
  readonly servers: readonly string[];
  readonly clientId: string;
  readonly protocolVersion: 3 | 4 | 5;
  readonly status: MqttStatus;
  readonly handlers: readonly MqttHandlerDescription[];
  readonly subscriptions: readonly MqttSubscriptionDescription[];
}
