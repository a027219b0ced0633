import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { HandlerInvokerFactory } from './dispatch/handler-invoker.js';
import { MqttClientRegistry } from './mqtt-client.registry.js';
import { MqttMetadataAccessor } from './mqtt-metadata.accessor.js';
import { MqttExplorer } from './mqtt.explorer.js';

/** Imported by every MqttModule.forRoot(); Nest instantiates it once, so one explorer serves every client. */
@Module({
  imports: [DiscoveryModule],
  providers: [MqttClientRegistry, MqttMetadataAccessor, MqttExplorer, HandlerInvokerFactory],
  exports: [MqttClientRegistry],
})
export class MqttCoreModule {}
