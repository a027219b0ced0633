import type { IClientPublishOptions, IPublishPacket } from 'mqtt';

export type QoS = 0 | 1 | 2;

/**
 * A custom payload decoder (CBOR, Protobuf, MessagePack, ...): turns the received bytes into what
 * the handler gets. Throwing means "cannot decode": the handler is not called and the failure is
 * logged with the topic. The size cap (`maxPayloadBytes`) applies before `decode` runs.
 */
export interface PayloadCodec<T = unknown> {
  /** Shown in logs. */
  readonly name: string;
  decode(payload: Buffer, topic: string): T;
}

/** How an incoming payload is handed to a handler: a built-in format (see `decodePayload`) or a codec. */
export type PayloadFormat = 'auto' | 'json' | 'text' | 'buffer' | PayloadCodec;

/**
 * What `MqttService.publish` accepts: strings and bytes as they are; numbers, booleans and
 * bigints as their string form; `null` as a zero-length payload; other objects as JSON.
 */
export type MqttPayload = string | Buffer | Uint8Array | number | boolean | bigint | null | object;

/** MQTT 5 PUBLISH properties (user properties, content type, expiry, response topic, ...). */
export type MqttPublishProperties = NonNullable<IClientPublishOptions['properties']>;

export interface MqttPublishOptions {
  qos?: QoS;
  retain?: boolean;
  /** MQTT 5 only; a typed error on an MQTT 3.1.1 client. */
  properties?: MqttPublishProperties;
}

export interface MqttPublishResult {
  /** Packet identifier of a QoS 1/2 publish; absent for QoS 0. */
  messageId?: number;
}

export interface MqttSubscribeOptions {
  qos?: QoS;
}

/** One held subscription, as Flask-MQTT's `TopicQos`. */
export interface TopicQos {
  readonly topic: string;
  readonly qos: QoS;
}

/** Connection state reported by `MqttService.status$`. */
export type MqttStatus = 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'closed';

/** A received message, as `MqttService.observe()` emits it. */
export interface MqttMessage<T = unknown> {
  readonly topic: string;
  readonly payload: T;
  readonly packet: IPublishPacket;
}
