import { Module, type DynamicModule } from '@nestjs/common';
import { MqttModule, MqttService } from 'nestjs-mqtt';
import { DashboardConfig } from './dashboard.config.js';
import { DashboardGateway } from './gateway/dashboard.gateway.js';
import { DASHBOARD_CLIENTS, DashboardSnapshots } from './gateway/dashboard-snapshots.js';
import { PageSubscriptions } from './gateway/page-subscriptions.js';
import { HeartbeatPublisher } from './heartbeat.publisher.js';
import { SensorSimulator } from './simulator/sensor-simulator.js';
import { TelemetryHandlers } from './telemetry.handlers.js';

@Module({})
export class AppModule {
  /** The app on the broker `config` names, or on the embedded broker at `embeddedBrokerUrl`. */
  static register(config: DashboardConfig, embeddedBrokerUrl?: string): DynamicModule {
    return {
      module: AppModule,
      imports: [MqttModule.forRoot(config.mqttModuleOptions(embeddedBrokerUrl))],
      providers: [
        { provide: DashboardConfig, useValue: config },
        TelemetryHandlers,
        HeartbeatPublisher,
        SensorSimulator,
        { provide: DASHBOARD_CLIENTS, useFactory: (mqtt: MqttService) => [mqtt], inject: [MqttService] },
        DashboardSnapshots,
        PageSubscriptions,
        DashboardGateway,
      ],
    };
  }
}
