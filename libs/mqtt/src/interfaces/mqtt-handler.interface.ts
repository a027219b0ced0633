/** When a QoS 1/2 message is acknowledged to the broker. */
export type MqttAckMode = 'auto' | 'after-handler';
