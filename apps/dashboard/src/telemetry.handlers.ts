import { Injectable, Logger } from '@nestjs/common';
import { OnConnect, OnMessage, OnTopic, Payload, TopicParam } from 'nestjs-mqtt';

/** The demo handlers the dashboard's handlers table shows: rooms' readings, the heartbeat, and anything else. Logs at debug level. */
@Injectable()
export class TelemetryHandlers {
  private readonly logger = new Logger('Telemetry');

  @OnConnect()
  onConnect(): void {
    this.logger.debug('connected; listening on home/+room/temperature, home/+room/humidity and dashboard/heartbeat');
  }

  @OnTopic('home/+room/temperature')
  onTemperature(@Payload() reading: unknown, @TopicParam('room') room: string): void {
    this.logger.debug(`${room}: ${JSON.stringify(reading)}`);
  }

  /** Refuses readings no hygrometer gives: the table shows its failures and the last error. */
  @OnTopic('home/+room/humidity', { payload: 'json' })
  onHumidity(@Payload() reading: unknown, @TopicParam('room') room: string): void {
    const percent = (reading as { percent?: unknown } | null)?.percent;
    if (typeof percent !== 'number' || !(percent >= 0 && percent <= 100)) {
      throw new ReadingOutOfRange(`${room}: humidity ${JSON.stringify(percent)} is not a percentage from 0 to 100`);
    }
    this.logger.debug(`${room}: ${percent} %`);
  }

  @OnTopic('dashboard/heartbeat', { qos: 1 })
  onHeartbeat(beat: { seq: number; at: string }): void {
    this.logger.debug(`heartbeat #${beat.seq} at ${beat.at}`);
  }

  @OnMessage()
  onOther(_payload: unknown, topic: string): void {
    this.logger.debug(`other message on ${topic}`);
  }
}

/**
 * A bad reading is the sender's fault, not a bug here: the library logs a failed handler with the error's stack,
 * and a one-line stack keeps `npm start`'s output readable while the simulator's glitching sensor fails now and then.
 */
class ReadingOutOfRange extends RangeError {
  override readonly name = 'ReadingOutOfRange';

  constructor(message: string) {
    super(message);
    this.stack = `${this.name}: ${message}`;
  }
}
