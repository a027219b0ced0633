import { Injectable, Logger } from '@nestjs/common';
import { OnConnect, OnMessage, OnTopic, Payload, TopicParam } from 'nestjs-mqtt';

/** Logs what arrives: room telemetry through a named wildcard, the heartbeat, and anything else. */
@Injectable()
export class TelemetryHandlers {
  private readonly logger = new Logger('Telemetry');

  @OnConnect()
  onConnect(): void {
    this.logger.log('connected; listening on home/+room/temperature and dashboard/heartbeat');
  }

  @OnTopic('home/+room/temperature')
  onTemperature(@Payload() reading: unknown, @TopicParam('room') room: string): void {
    this.logger.log(`${room}: ${JSON.stringify(reading)}`);
  }

  @OnTopic('dashboard/heartbeat')
  onHeartbeat(beat: { seq: number; at: string }): void {
    this.logger.log(`heartbeat #${beat.seq} at ${beat.at}`);
  }

  @OnMessage()
  onOther(payload: unknown, topic: string): void {
    this.logger.log(`other message on ${topic}: ${JSON.stringify(payload)}`);
  }
}
