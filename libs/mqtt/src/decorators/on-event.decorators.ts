import { MQTT_EVENT_HANDLER_METADATA } from '../mqtt.constants.js';
import type { MqttEvent } from '../interfaces/mqtt-handler.interface.js';
import type { PayloadFormat } from '../interfaces/mqtt-message.interface.js';
import { appendMethodMetadata } from './append-metadata.js';

export interface MqttEventOptions {
  /** Name of the client; the default client when absent. */
  client?: string;
}

export interface OnMessageOptions extends MqttEventOptions {
  payload?: PayloadFormat;
  /** Publish the return value to an MQTT 5 request's response topic (module `reply` when absent). */
  reply?: boolean;
}

export interface MqttEventMetadata {
  readonly event: MqttEvent;
  readonly options: OnMessageOptions;
}

type EventDecorator<O> = ((options?: O) => MethodDecorator) & { KEY: symbol };

function eventDecorator<O extends MqttEventOptions>(event: MqttEvent): EventDecorator<O> {
  const decorator =
    (options?: O): MethodDecorator =>
    (_target, _key, descriptor) => {
      appendMethodMetadata<MqttEventMetadata>(MQTT_EVENT_HANDLER_METADATA, { event, options: options ?? {} }, descriptor.value as object);
      return descriptor;
    };
  return Object.assign(decorator, { KEY: MQTT_EVENT_HANDLER_METADATA });
}

/** Every message that no `@OnTopic` handler matched (Flask-MQTT's on_message). Gets `(payload, topic, packet)`. */
export const OnMessage = eventDecorator<OnMessageOptions>('message');
/** Each successful connection, the first one included. Gets the CONNACK packet. */
export const OnConnect = eventDecorator<MqttEventOptions>('connect');
/** An established connection ended. Gets `{ packet?, error? }`: the broker's DISCONNECT (MQTT 5) or the cause. */
export const OnDisconnect = eventDecorator<MqttEventOptions>('disconnect');
/** A reconnect attempt starts. */
export const OnReconnect = eventDecorator<MqttEventOptions>('reconnect');
/** The client went offline (connection lost, will retry). */
export const OnOffline = eventDecorator<MqttEventOptions>('offline');
/** A client error (network, TLS, refused CONNACK). Gets the error. */
export const OnError = eventDecorator<MqttEventOptions>('error');
/** A publish completed (written for QoS 0, acknowledged for QoS 1/2). Gets `{ topic, messageId? }`. */
export const OnPublish = eventDecorator<MqttEventOptions>('publish');
/** A subscription was granted. Gets `[{ topic, qos }]` as granted. */
export const OnSubscribe = eventDecorator<MqttEventOptions>('subscribe');
/** An unsubscribe was acknowledged. Gets the filters. */
export const OnUnsubscribe = eventDecorator<MqttEventOptions>('unsubscribe');
/** Client log lines (Flask-MQTT's on_log). Gets `(level, message)`, secrets redacted. */
export const OnLog = eventDecorator<MqttEventOptions>('log');
