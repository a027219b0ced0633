import { MqttError } from './mqtt.error.js';

/** A publish was refused locally (payload too large, client closed) or by the broker (MQTT 5 reason code). */
export class MqttPublishError extends MqttError {
  constructor(
    readonly topic: string,
    reason: string,
    readonly reasonCode?: number,
    options?: { cause?: unknown },
  ) {
    super(`Publish to '${topic}' failed: ${reason}`, options);
  }
}
