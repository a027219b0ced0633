import { MQTT_TOPIC_HANDLER_METADATA } from '../mqtt.constants.js';
import type { PayloadFormat, QoS } from '../interfaces/mqtt-message.interface.js';
import type { MqttAckMode } from '../interfaces/mqtt-handler.interface.js';
import { appendMethodMetadata } from './append-metadata.js';

export interface OnTopicOptions {
  /** Subscription QoS (default 0). Handlers sharing a filter share one SUBSCRIBE at their highest QoS. */
  qos?: QoS;
  /** Shared-subscription group, or `false` to opt out of the module's `share`. */
  share?: string | false;
  /** Name of the client (`MqttModule.forRoot({ name })`); the default client when absent. */
  client?: string;
  /** Payload format for this handler; the module's `payload` option when absent. */
  payload?: PayloadFormat;
  /** `false` registers the handler without subscribing (Flask-MQTT's `on_topic`). */
  subscribe?: boolean;
  /** Acknowledge QoS 1/2 messages only after the handler resolved. */
  ack?: MqttAckMode;
  /** MQTT 5 No Local: do not receive this client's own publishes. */
  noLocal?: boolean;
  /** MQTT 5 Retain As Published: keep the retain flag as the publisher set it. */
  retainAsPublished?: boolean;
  /** MQTT 5 Retain Handling: 0 send retained messages on subscribe, 1 only for a new subscription, 2 never. */
  retainHandling?: 0 | 1 | 2;
  /**
   * Publish the handler's return value to an MQTT 5 request's response topic (module `reply`
   * when absent; off by default: any publisher chooses that topic).
   */
  reply?: boolean;
}

export interface OnTopicMetadata {
  readonly filters: readonly string[];
  readonly options: OnTopicOptions;
}

/**
 * A method decorator that, given a payload type, lets TypeScript check the handler's first
 * parameter: `@OnTopic<Reading>('sensors/+')` on `handle(reading: Reading)` compiles,
 * on `handle(reading: string)` does not. Without a type argument any handler is accepted.
 */
export type TopicHandlerDecorator<T> = <M extends (payload: T, ...rest: never[]) => unknown>(
  target: object,
  key: string | symbol,
  descriptor: TypedPropertyDescriptor<M>,
) => TypedPropertyDescriptor<M>;

/**
 * Runs the method for every message whose topic matches one of the filters. Named wildcards
 * (`home/+room/#rest`) bind values for `@TopicParam('room')`. Stackable.
 */
export function OnTopic<T = never>(filter: string | readonly string[], options: OnTopicOptions = {}): TopicHandlerDecorator<T> {
  const filters = typeof filter === 'string' ? [filter] : filter;
  return (_target, _key, descriptor) => {
    appendMethodMetadata<OnTopicMetadata>(MQTT_TOPIC_HANDLER_METADATA, { filters, options }, descriptor.value as object);
    return descriptor;
  };
}
OnTopic.KEY = MQTT_TOPIC_HANDLER_METADATA;
