/** When a QoS 1/2 message is acknowledged to the broker. */
export type MqttAckMode = 'auto' | 'after-handler';

/** Client events a method can be bound to. */
export type MqttEvent = 'message' | 'connect' | 'disconnect' | 'reconnect' | 'offline' | 'error' | 'publish' | 'subscribe' | 'unsubscribe' | 'log';

/**
 * Parameter kinds. PAYLOAD and TOPIC_PARAM reuse Nest's numbers for `body` and `param`, so
 * `ValidationPipe` validates `@Payload()` DTOs and pipes see `metadata.type` as they would on a route.
 */
export enum MqttParamType {
  PAYLOAD = 3,
  TOPIC_PARAM = 5,
  TOPIC = 30,
  PACKET = 31,
  PROPERTIES = 32,
  USER_PROPERTY = 33,
  CONTEXT = 34,
}
