import { Module } from '@nestjs/common';
import { MqttConfigurableModule } from './mqtt.module-definition.js';

/**
 * `MqttModule.forRoot(options)` / `MqttModule.forRootAsync({ imports, inject, useFactory | useClass | useExisting })`
 * registers one client; call it again with a `name` for each further broker.
 */
@Module({})
export class MqttModule extends MqttConfigurableModule {}
