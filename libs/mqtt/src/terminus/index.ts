export { MqttHealthIndicator, type MqttHealthOptions } from './mqtt.health.js';
