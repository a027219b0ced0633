export { MqttModule } from './mqtt.module.js';
export { MQTT_MODULE_OPTIONS, type MqttModuleExtras, type MqttModuleRootOptions, type MqttModuleAsyncOptions } from './mqtt.module-definition.js';
export { MqttService, type MqttRequestOptions } from './mqtt.service.js';
export { MqttContext } from './dispatch/mqtt-context.js';
export { getMqttToken } from './mqtt.tokens.js';
export { DEFAULT_MQTT_CLIENT_NAME, MQTT_CONTEXT_TYPE } from './mqtt.constants.js';
export * from './decorators/index.js';
export * from './errors/index.js';
export * from './interfaces/index.js';
export { MQTT_DEFAULTS } from './options/mqtt-defaults.js';
export type {
  MqttModuleOptions,
  MqttServerOptions,
  MqttTlsOptions,
  MqttWillOptions,
  MqttProtocol,
  MqttConnectPolicy,
  PemSource,
  MqttTlsVerification,
} from './options/mqtt-module-options.interface.js';
export type { MqttWillProperties } from './protocol/publish-properties.js';
export type {
  MqttClientDescription,
  MqttDropCounts,
  MqttHandlerDescription,
  MqttHandlerStats,
  MqttMessageCounts,
  MqttStats,
  MqttSubscriptionDescription,
} from './observability/mqtt-stats.interface.js';
export { TopicRouter } from './protocol/topic-router.js';
export { parseTopicFilter, assertTopicName, topicFrom, type ParsedTopicFilter, type TopicFilterParam } from './protocol/topic-filter.js';
export { mqttOptionsFromEnv } from './options/env-options.js';
export { stableClientId, type StableClientIdOptions } from './options/stable-client-id.js';
export { MQTT_LOG_INFO, MQTT_LOG_NOTICE, MQTT_LOG_WARNING, MQTT_LOG_ERR, MQTT_LOG_DEBUG, type MqttLogLevel } from './connection/client-log.js';
