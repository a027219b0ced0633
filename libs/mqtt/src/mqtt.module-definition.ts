import { ConfigurableModuleBuilder, type DynamicModule } from '@nestjs/common';
import { DEFAULT_MQTT_CLIENT_NAME } from './mqtt.constants.js';
import { MqttClientRegistry } from './mqtt-client.registry.js';
import { MqttCoreModule } from './mqtt-core.module.js';
import { getMqttToken } from './mqtt.tokens.js';
import type { MqttModuleOptions } from './options/mqtt-module-options.interface.js';

/** Options that shape the module rather than the client; they sit next to `useFactory` in forRootAsync. */
export interface MqttModuleExtras {
  /** Client name for several brokers: `@InjectMqtt(name)`, `@OnTopic(filter, { client: name })`. */
  name?: string;
  /** Export the client to every module (default true). */
  isGlobal?: boolean;
}

/** Token of the options object a MqttModule.forRoot() received (within that module). */
export const MQTT_MODULE_OPTIONS = Symbol('MQTT_MODULE_OPTIONS');

export const {
  ConfigurableModuleClass: MqttConfigurableModule,
  OPTIONS_TYPE: MQTT_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: MQTT_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<MqttModuleOptions>({ moduleName: 'Mqtt', optionsInjectionToken: MQTT_MODULE_OPTIONS })
  .setClassMethodName('forRoot')
  .setExtras<MqttModuleExtras>({ name: DEFAULT_MQTT_CLIENT_NAME, isGlobal: true }, (definition, extras): DynamicModule => {
    const name = extras.name ?? DEFAULT_MQTT_CLIENT_NAME;
    const token = getMqttToken(name);
    return {
      ...definition,
      global: extras.isGlobal ?? true,
      imports: [...(definition.imports ?? []), MqttCoreModule],
      providers: [
        ...(definition.providers ?? []),
        {
          provide: token,
          useFactory: (options: MqttModuleOptions, registry: MqttClientRegistry) => registry.create(name, options),
          inject: [MQTT_MODULE_OPTIONS, MqttClientRegistry],
        },
      ],
      exports: [...(definition.exports ?? []), token],
    };
  })
  .build();

/** Types of `MqttModule.forRoot()` and `MqttModule.forRootAsync()` arguments. */
export type MqttModuleRootOptions = typeof MQTT_OPTIONS_TYPE;
export type MqttModuleAsyncOptions = typeof MQTT_ASYNC_OPTIONS_TYPE;
