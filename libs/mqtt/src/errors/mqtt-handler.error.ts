import { MqttError } from './mqtt.error.js';

/** A decorated handler is declared wrongly (unknown client, bad options); `handler` is `Class#method`. */
export class MqttHandlerError extends MqttError {
  constructor(
    readonly handler: string,
    reason: string,
  ) {
    super(`${handler}: ${reason}`);
  }
}
