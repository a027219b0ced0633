import { MqttArgumentError } from './mqtt-argument.error.js';
import { MqttConfigError } from './mqtt-config.error.js';
import { MqttHandlerError } from './mqtt-handler.error.js';
import type { MqttError } from './mqtt.error.js';

/**
 * Makes the error for a value that breaks a rule: `field` names the value (`will.qos`, `options.qos`,
 * `qos`) and `reason` says what is wrong (`must be 0, 1 or 2, got 3`). The rules in `options/assert.ts`
 * take one, so a rule worded once raises the caller's error type.
 */
export type ErrorFactory = (field: string, reason: string) => MqttError;

/** Module options, at configuration: `Invalid MQTT option 'will.qos': must be 0, 1 or 2, got 3`. */
export const configError: ErrorFactory = (field, reason) => new MqttConfigError(field, reason);

/** MqttService arguments: `Invalid argument 'options.qos': must be 0, 1 or 2, got 3`. */
export const argumentError: ErrorFactory = (field, reason) => new MqttArgumentError(field, reason);

/** The decorator options of one handler (`Class#method`): `Rooms#handle: qos: must be 0, 1 or 2, got 3`. */
export function handlerError(handler: string): ErrorFactory {
  return (field, reason) => new MqttHandlerError(handler, `${field}: ${reason}`);
}
