import { MqttError } from './mqtt.error.js';

/** The broker refused a subscription (SUBACK 0x80 or an MQTT 5 reason code >= 0x80), or it could not be sent. */
export class MqttSubscribeError extends MqttError {
  constructor(
    readonly filter: string,
    reason: string,
    readonly reasonCode?: number,
    options?: { cause?: unknown },
  ) {
    super(`Subscription to '${filter}' failed: ${reason}`, options);
  }
}
