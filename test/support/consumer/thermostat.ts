// A consumer's code, compiled by test/package.e2e-spec.ts against the packed nestjs-mqtt (as an ES module app and as
// a CommonJS one) exactly as a user would write it: only the package's public entry points are imported.
import { Injectable, Module, type DynamicModule } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { MqttModule, MqttService, OnTopic, Payload, TopicParam } from 'nestjs-mqtt';
import { MqttHealthIndicator } from 'nestjs-mqtt/terminus';

export interface Reading {
  celsius: number;
}

let handled: (room: string) => void = () => undefined;
/** Resolves with the room of the first reading the thermostat handled, once its heater command was acknowledged. */
export const firstHandled = new Promise<string>((resolve) => (handled = resolve));

@Injectable()
export class Thermostat {
  constructor(private readonly mqtt: MqttService) {}

  @OnTopic('home/+room/temperature', { qos: 1 })
  async onTemperature(@Payload() reading: Reading, @TopicParam('room') room: string): Promise<void> {
    await this.mqtt.publish(`home/${room}/heater`, { on: reading.celsius < 18, room }, { qos: 1 });
    handled(room);
  }
}

@Module({})
export class AppModule {}

/** The app: a thermostat on one MQTT client at `url`, with a health indicator for it. */
export function appModule(url: string): DynamicModule {
  return {
    module: AppModule,
    imports: [MqttModule.forRoot({ url }), TerminusModule.forRoot({ logger: false })],
    providers: [Thermostat, MqttHealthIndicator],
  };
}
