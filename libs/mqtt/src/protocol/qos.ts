import { showValue } from '../errors/describe-error.js';
import type { QoS } from '../interfaces/mqtt-message.interface.js';

/**
 * The QoS rule, worded once for options, decorators and MqttService: what is wrong with `value`, or
 * undefined when it is a QoS. Callers throw their own typed error naming the field.
 */
export function qosProblem(value: unknown): string | undefined {
  return isQos(value) ? undefined : `must be 0, 1 or 2, got ${showValue(value)}`;
}

export function isQos(value: unknown): value is QoS {
  return value === 0 || value === 1 || value === 2;
}
