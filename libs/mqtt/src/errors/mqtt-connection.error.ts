import { MqttError } from './mqtt.error.js';

/** The client could not connect (or was refused); the message names the broker URL without credentials. */
export class MqttConnectionError extends MqttError {
  constructor(
    readonly url: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`MQTT connection to ${url} failed: ${reason}`, options);
  }
}
