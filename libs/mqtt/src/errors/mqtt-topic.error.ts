import { MqttError } from './mqtt.error.js';

/** A topic name or topic filter breaks the MQTT rules; raised before anything is sent. */
export class MqttTopicError extends MqttError {
  constructor(
    /** The offending value, as given. */
    readonly topic: unknown,
    /** What the value was: the argument name (`topic`, `filter`) or the handler (`Class#method`). */
    readonly where: string,
    readonly reason: string,
  ) {
    super(`Invalid ${where} ${describe(topic)}: ${reason}`);
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 120 ? `${value.slice(0, 117)}...` : value);
  }
  return value === null ? 'null' : typeof value;
}
