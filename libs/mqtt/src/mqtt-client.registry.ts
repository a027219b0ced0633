import { Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationShutdown } from '@nestjs/common';
import { DEFAULT_MQTT_CLIENT_NAME } from './mqtt.constants.js';
import { MqttConfigError } from './errors/mqtt-config.error.js';
import { MqttConnection } from './connection/mqtt-connection.js';
import { MqttService } from './mqtt.service.js';
import type { MqttModuleOptions } from './options/mqtt-module-options.interface.js';
import { resolveMqttOptions } from './options/resolve-mqtt-options.js';

/**
 * The clients of one application, by name. Created clients stay unconnected until the explorer
 * has bound every handler; shutdown drains every client, then disconnects them.
 */
@Injectable()
export class MqttClientRegistry implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly connections = new Map<string, MqttConnection>();

  create(name: string, options: MqttModuleOptions): MqttService {
    if (this.connections.has(name)) {
      throw new MqttConfigError('name', `a client named '${name}' is registered twice; give each MqttModule.forRoot() its own name`);
    }
    const logger = new Logger(name === DEFAULT_MQTT_CLIENT_NAME ? 'MqttModule' : `MqttModule:${name}`);
    const connection = new MqttConnection(name, resolveMqttOptions(options), logger);
    this.connections.set(name, connection);
    return new MqttService(connection);
  }

  get(name: string): MqttConnection | undefined {
    return this.connections.get(name);
  }

  names(): string[] {
    return [...this.connections.keys()];
  }

  all(): MqttConnection[] {
    return [...this.connections.values()];
  }

  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all(this.all().map((connection) => connection.drain()));
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.all().map((connection) => connection.close()));
  }
}
