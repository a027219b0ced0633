import { MqttError } from './mqtt.error.js';

/** An incoming payload could not be decoded in the handler's format; the handler is not called. */
export class MqttPayloadError extends MqttError {
  constructor(
    readonly topic: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`Payload on '${topic}' could not be decoded: ${reason}`, options);
  }
}
