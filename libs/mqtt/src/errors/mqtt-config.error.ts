import { MqttError } from './mqtt.error.js';

/** A module option is missing, malformed or contradicts another; `field` names it (e.g. `tls.ca`). */
export class MqttConfigError extends MqttError {
  constructor(
    readonly field: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`Invalid MQTT option '${field}': ${reason}`, options);
  }
}
