import { Module, type DynamicModule } from '@nestjs/common';
import { MqttModule } from 'nestjs-mqtt';
import { DashboardConfig } from './dashboard.config.js';
import { HeartbeatPublisher } from './heartbeat.publisher.js';
import { TelemetryHandlers } from './telemetry.handlers.js';

@Module({})
export class AppModule {
  static register(config: DashboardConfig, brokerUrl: string): DynamicModule {
    return {
      module: AppModule,
      imports: [MqttModule.forRoot({ url: brokerUrl })],
      providers: [{ provide: DashboardConfig, useValue: config }, TelemetryHandlers, HeartbeatPublisher],
    };
  }
}
