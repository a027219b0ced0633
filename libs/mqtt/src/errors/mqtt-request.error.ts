import { MqttError } from './mqtt.error.js';

/** A request got an error reply (the responder's handler failed), or timed out (`timedOut`). */
export class MqttRequestError extends MqttError {
  constructor(
    readonly topic: string,
    reason: string,
    readonly timedOut = false,
  ) {
    super(`Request to '${topic}' failed: ${reason}`);
  }
}
