import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { MqttService } from 'nestjs-mqtt';
import { DashboardConfig } from './dashboard.config.js';

/** Publishes `dashboard/heartbeat` on an interval, so a fresh install shows traffic at once. */
@Injectable()
export class HeartbeatPublisher implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Heartbeat');
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;

  constructor(
    private readonly mqtt: MqttService,
    private readonly config: DashboardConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.beat();
    this.timer = setInterval(() => this.beat(), this.config.heartbeatMs);
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  private beat(): void {
    this.seq += 1;
    this.mqtt
      .publish('dashboard/heartbeat', { seq: this.seq, at: new Date().toISOString() }, { qos: 1 })
      .catch((error: Error) => this.logger.warn(`heartbeat not published: ${error.message}`));
  }
}
