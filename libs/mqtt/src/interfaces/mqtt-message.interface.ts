import type { IClientPublishOptions, IPublishPacket } from 'mqtt';

export type QoS = 0 | 1 | 2;

/** How an incoming payload is handed to a handler. See `decodePayload`. */
export type PayloadFormat = 'auto' | 'json' | 'text' | 'buffer';

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
