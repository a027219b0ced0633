import type { MqttProtocol } from './mqtt-module-options.interface.js';

/** Every default in one place. */
export const MQTT_DEFAULTS = {
  host: 'localhost',
  protocol: 'mqtt',
  keepalive: 60,
  clean: true,
  protocolVersion: 4,
  /**
   * MQTT 5 session expiry for `clean: false` without `sessionExpiryInterval`: 0xFFFFFFFF, never
   * expires, which is what `clean: false` means on 3.1.1. Brokers cap it with their own limit
   * (Mosquitto: persistent_client_expiration). Without it the session would end at disconnect.
   */
  durableSessionExpiryInterval: 0xffffffff,
  connect: 'wait',
  connectTimeout: 10_000,
  reconnectPeriod: 1_000,
  logging: false,
  payload: 'auto',
  ack: 'auto',
  maxPayloadBytes: 8 * 1024 * 1024,
  /**
   * MQTT 5 Maximum Packet Size advertised in CONNECT is maxPayloadBytes plus this: a topic of up to
   * 64 KiB and 64 KiB of properties. The broker then never sends a larger packet, which mqtt.js
   * would otherwise buffer whole (up to 256 MB) before maxPayloadBytes is checked.
   */
  inboundPacketHeadroomBytes: 2 * 65_536,
  shutdownTimeout: 10_000,
  offlineQueueLimit: 10_000,
  maxInflight: 20,
  publishTimeout: 30_000,
  queueQos0Offline: true,
  reply: false,
  replyErrorDetails: false,
  replyBacklogBytes: 16 * 1024 * 1024,
  telemetry: true,
  /** During an outage, the same connection error is logged once, then summarised at most this often (ms). */
  outageLogIntervalMs: 30_000,
  /** What `dedupeWindowMs` remembers at most: messages (about 13 MiB of heap with short topics), and estimated bytes (topics included). */
  dedupeMaxEntries: 40_000,
  dedupeMaxBytes: 16 * 1024 * 1024,
  insecure: false,
  tlsMinVersion: 'TLSv1.2',
  /** Generated ids are this prefix plus random hex up to 23 characters, the MQTT 3.1 limit (44 random bits). */
  clientIdPrefix: 'nestjs-mqtt_',
  /** `MqttService.request()` wait for a reply, ms. */
  requestTimeout: 10_000,
  /** `MqttHealthIndicator` ping wait for the PUBACK, ms. */
  healthPingTimeout: 1_000,
} as const;

/** The port of each protocol when neither the URL nor `port` gives one. */
export const DEFAULT_PORTS: Record<MqttProtocol, number> = { mqtt: 1883, mqtts: 8883, ws: 80, wss: 443 };
