import { MqttError } from './mqtt.error.js';

/** An argument of an MqttService method (other than a topic) is invalid; `argument` names it. */
export class MqttArgumentError extends MqttError {
  constructor(
    readonly argument: string,
    reason: string,
  ) {
    super(`Invalid argument '${argument}': ${reason}`);
  }
}
