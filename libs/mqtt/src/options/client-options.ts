import type { IClientOptions } from 'mqtt';
import { MQTT_DEFAULTS } from './mqtt-defaults.js';
import type { ResolvedMqttOptions } from './resolve-mqtt-options.js';
import type { ResolvedServer } from './servers.js';
import { tlsClientOptions, type TlsClientOptions } from './tls-options.js';

/** The mqtt.js options for resolved options. The client is created unconnected; we own resubscription. */
export function toClientOptions(options: ResolvedMqttOptions): IClientOptions {
  return {
    ...options.clientOptions,
    ...serverClientOptions(options, options.servers[0]),
    clientId: options.clientId,
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
    manualConnect: true,
    resubscribe: false,
    // A refused CONNACK otherwise stops reconnecting for good, also for "server busy, try later";
    // connect: 'wait' ends the client itself on refusals that retrying cannot mend.
    reconnectOnConnackError: options.clientOptions.reconnectOnConnackError ?? true,
  };
}

/** The mqtt.js options that say where one broker is and how to reach it: address, credentials, TLS. */
export type ServerClientOptions = Pick<IClientOptions, 'protocol' | 'host' | 'hostname' | 'port' | 'path' | 'username' | 'password' | 'wsOptions'> &
  Partial<TlsClientOptions>;

/** Every key of ServerClientOptions: what `useServer` sets or clears on the live mqtt.js options. */
const SERVER_OPTION_KEYS: ReadonlyArray<keyof ServerClientOptions> = [
  'protocol',
  'host',
  'hostname',
  'port',
  'path',
  'username',
  'password',
  'wsOptions',
  'ca',
  'cert',
  'key',
  'passphrase',
  'ciphers',
  'minVersion',
  'servername',
  'rejectUnauthorized',
  'checkServerIdentity',
];

/** The server part of the mqtt.js options, for one broker of the resolved options. */
function serverClientOptions(options: ResolvedMqttOptions, server: ResolvedServer): ServerClientOptions {
  const tls = server.tls && server.tlsVerification ? tlsClientOptions(server.tls, server.tlsVerification) : undefined;
  return {
    protocol: server.protocol,
    host: server.host,
    hostname: server.host,
    port: server.port,
    // A path is the websocket's; on a TCP socket Node would take it for a Unix socket path (mqtt.js drops it there).
    ...(server.path !== undefined && isWebSocket(server) ? { path: server.path } : {}),
    ...(server.username !== undefined ? { username: server.username } : {}),
    ...(server.password !== undefined ? { password: server.password } : {}),
    ...tls,
    // mqtt.js hands a wss: socket only rejectUnauthorized, ca, cert, key, pfx and passphrase; the rest
    // (minVersion, servername, checkServerIdentity) must go in wsOptions, where ours also win over raw ones.
    // (@types/ws types checkServerIdentity as returning boolean; ws hands it to tls.connect as it is.)
    ...(tls && server.protocol === 'wss' ? { wsOptions: { ...options.clientOptions.wsOptions, ...tls } as IClientOptions['wsOptions'] } : {}),
  };
}

/**
 * Points a live mqtt.js client's options at another broker of the failover list, before mqtt.js builds the
 * socket of its next attempt: the server keys become what `toClientOptions` gives for that broker, and keys it
 * would not set are removed. mqtt.js's stream builders write into these options (the TLS one sets `servername`
 * to the host it dials and deletes `path`, the websocket one copies TLS keys into `wsOptions`), so each switch
 * starts from a clean set, and `wsOptions` is a fresh copy.
 */
export function useServer(target: IClientOptions, options: ResolvedMqttOptions, server: ResolvedServer): void {
  const next: Partial<Record<keyof ServerClientOptions, unknown>> = serverClientOptions(options, server);
  const raw = options.clientOptions as Partial<Record<keyof ServerClientOptions, unknown>>;
  const live = target as Record<string, unknown>;
  for (const key of SERVER_OPTION_KEYS) {
    const value = key === 'path' && !isWebSocket(server) ? undefined : (next[key] ?? raw[key]);
    if (value === undefined) delete live[key];
    else live[key] = key === 'wsOptions' ? { ...(value as object) } : value;
  }
}

function isWebSocket(server: ResolvedServer): boolean {
  return server.protocol === 'ws' || server.protocol === 'wss';
}

/** The largest MQTT packet: a 268,435,455-byte remaining length after a 5-byte fixed header. */
const MQTT_MAX_PACKET_BYTES = 268_435_460;
