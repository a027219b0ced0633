import type { IClientOptions } from 'mqtt';
import { MQTT_DEFAULTS } from './mqtt-defaults.js';
import type { ResolvedMqttOptions } from './resolve-mqtt-options.js';
import { tlsClientOptions } from './tls-options.js';

/** The mqtt.js options for resolved options. The client is created unconnected; we own resubscription. */
export function toClientOptions(options: ResolvedMqttOptions): IClientOptions {
  const tls = options.tls && options.tlsVerification ? tlsClientOptions(options.tls, options.tlsVerification) : undefined;
  return {
    ...options.clientOptions,
    protocol: options.protocol,
    host: options.host,
    hostname: options.host,
    port: options.port,
    ...(options.path !== undefined ? { path: options.path } : {}),
    clientId: options.clientId,
    ...(options.username !== undefined ? { username: options.username } : {}),
    ...(options.password !== undefined ? { password: options.password } : {}),
    keepalive: options.keepalive,
    clean: options.clean,
    protocolVersion: options.protocolVersion,
    // mqtt.js sends 'MQTT' whatever the level; MQTT 3.1 is 'MQIsdp', and brokers refuse level 3 under 'MQTT'.
    protocolId: options.protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
    connectTimeout: options.connectTimeout,
    reconnectPeriod: options.reconnectPeriod,
    ...(options.will ? { will: options.will } : {}),
    ...(options.protocolVersion === 5
      ? {
          properties: {
            maximumPacketSize: Math.min(options.maxPayloadBytes + MQTT_DEFAULTS.inboundPacketHeadroomBytes, MQTT_MAX_PACKET_BYTES),
            ...options.clientOptions.properties,
            ...(options.sessionExpiryInterval !== undefined ? { sessionExpiryInterval: options.sessionExpiryInterval } : {}),
          },
        }
      : {}),
    ...tls,
    // mqtt.js hands a wss: socket only rejectUnauthorized, ca, cert, key, pfx and passphrase; the rest
    // (minVersion, servername, checkServerIdentity) must go in wsOptions, where ours also win over raw ones.
    // (@types/ws types checkServerIdentity as returning boolean; ws hands it to tls.connect as it is.)
    ...(tls && options.protocol === 'wss' ? { wsOptions: { ...options.clientOptions.wsOptions, ...tls } as IClientOptions['wsOptions'] } : {}),
    manualConnect: true,
    resubscribe: false,
    // A refused CONNACK otherwise stops reconnecting for good, also for "server busy, try later";
    // connect: 'wait' ends the client itself on refusals that retrying cannot mend.
    reconnectOnConnackError: options.clientOptions.reconnectOnConnackError ?? true,
  };
}

/** The largest MQTT packet: a 268,435,455-byte remaining length after a 5-byte fixed header. */
const MQTT_MAX_PACKET_BYTES = 268_435_460;
