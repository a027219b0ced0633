import { DEFAULT_MQTT_CLIENT_NAME } from './mqtt.constants.js';
import { MqttService } from './mqtt.service.js';

/**
 * Injection token of a client: the `MqttService` class for the default client (inject it by
 * type), a registered symbol per name for the others (`@InjectMqtt('plant')`).
 */
export function getMqttToken(name: string = DEFAULT_MQTT_CLIENT_NAME): typeof MqttService | symbol {
  return name === DEFAULT_MQTT_CLIENT_NAME ? MqttService : Symbol.for(`nestjs-mqtt:client:${name}`);
}
