/** Base class of every error nestjs-mqtt raises, so `catch (e) { if (e instanceof MqttError) ... }` works. */
export class MqttError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
