import { isIPv6 } from 'node:net';
import { MqttConfigError } from '../errors/mqtt-config.error.js';
import type { QoS } from '../interfaces/mqtt-message.interface.js';
import { isQos } from '../protocol/qos.js';
import type { MqttModuleOptions, MqttProtocol, MqttTlsOptions } from './mqtt-module-options.interface.js';

type Env = Readonly<Record<string, string | undefined>>;

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);
const TLS_VERSIONS: Record<string, MqttTlsOptions['minVersion']> = {
  'tlsv1.2': 'TLSv1.2',
  tlsv1_2: 'TLSv1.2',
  protocol_tlsv1_2: 'TLSv1.2',
  'tlsv1.3': 'TLSv1.3',
  tlsv1_3: 'TLSv1.3',
  protocol_tlsv1_3: 'TLSv1.3',
  protocol_tls_client: 'TLSv1.2',
};
const PROTOCOL_VERSIONS: Record<string, 3 | 4 | 5> = { '3': 3, '4': 4, '5': 5, mqttv31: 3, mqttv311: 4, mqttv5: 5 };

/**
 * Module options from Flask-MQTT's configuration keys in the environment, so an app moving from
 * Flask keeps its deployment settings. `prefix` plays Flask-MQTT's `config_prefix`
 * (`mqttOptionsFromEnv(process.env, 'MQTT2')` reads `MQTT2_BROKER_URL`, ...). Absent keys keep
 * nestjs-mqtt's defaults. Values are checked: a bad one raises MqttConfigError naming the key.
 *
 * Differences from Flask-MQTT, on purpose: an empty `MQTT_USERNAME` or `MQTT_PASSWORD` counts as
 * unset (Flask-MQTT sends an empty username), TLS defaults to 1.2 (not 1.0), `MQTT_TLS_VERSION`
 * takes names (`TLSv1.2`, `PROTOCOL_TLSv1_2`), and `MQTT_BROKER_URL` may also be a full `mqtt://`
 * URL, or a comma-separated failover list of URLs, host names and `host:port` pairs (host names take
 * `MQTT_BROKER_PORT`, and the scheme that `MQTT_TRANSPORT` and `MQTT_TLS_ENABLED` give). As in
 * Flask-MQTT (paho), `MQTT_TLS_INSECURE=true` skips only the host-name check and
 * `MQTT_TLS_CERT_REQS=CERT_NONE` turns certificate verification off; both log a warning.
 */
export function mqttOptionsFromEnv(env: Env = process.env, prefix = 'MQTT'): MqttModuleOptions {
  const key = (name: string) => `${prefix}_${name}`;
  const read = (name: string): string | undefined => {
    const value = env[key(name)];
    return value === undefined || value === '' ? undefined : value;
  };
  const options: MqttModuleOptions = {};

  const transport = read('TRANSPORT')?.toLowerCase();
  if (transport !== undefined && transport !== 'tcp' && transport !== 'websockets') {
    throw new MqttConfigError(key('TRANSPORT'), `must be tcp or websockets, got ${JSON.stringify(transport)}`);
  }
  const tlsEnabled = readBoolean(read('TLS_ENABLED'), key('TLS_ENABLED')) ?? false;
  const protocol: MqttProtocol = transport === 'websockets' ? (tlsEnabled ? 'wss' : 'ws') : tlsEnabled ? 'mqtts' : 'mqtt';
  const brokerUrl = read('BROKER_URL');
  if (brokerUrl?.includes(',')) {
    const port = readInteger(read('BROKER_PORT'), key('BROKER_PORT'), 1, 65_535) ?? 1883;
    options.url = brokerList(brokerUrl, key('BROKER_URL'), protocol, port);
  } else if (brokerUrl?.includes('://')) {
    options.url = brokerUrl;
  } else {
    options.protocol = protocol;
    options.host = brokerUrl ?? 'localhost';
    options.port = readInteger(read('BROKER_PORT'), key('BROKER_PORT'), 1, 65_535) ?? 1883;
  }

  const clientId = read('CLIENT_ID');
  if (clientId !== undefined) options.clientId = clientId;
  // Flask-MQTT sends credentials only when a username is set, so a password alone is ignored. An
  // empty value counts as unset (deployment templates often leave `MQTT_PASSWORD=` blank).
  const username = read('USERNAME');
  if (username !== undefined) {
    options.username = username;
    const password = read('PASSWORD');
    if (password !== undefined) options.password = password;
  }
  const keepalive = readInteger(read('KEEPALIVE'), key('KEEPALIVE'), 0, 65_535);
  if (keepalive !== undefined) options.keepalive = keepalive;
  const clean = readBoolean(read('CLEAN_SESSION'), key('CLEAN_SESSION'));
  if (clean !== undefined) options.clean = clean;
  const version = read('PROTOCOL_VERSION');
  if (version !== undefined) {
    const parsed = PROTOCOL_VERSIONS[version.toLowerCase()];
    if (!parsed) throw new MqttConfigError(key('PROTOCOL_VERSION'), `must be 3, 4, 5, MQTTv31, MQTTv311 or MQTTv5, got ${JSON.stringify(version)}`);
    options.protocolVersion = parsed;
  }

  if (tlsEnabled) {
    const tls: MqttTlsOptions = {};
    const ca = read('TLS_CA_CERTS');
    if (ca !== undefined) tls.ca = ca;
    const cert = read('TLS_CERTFILE');
    if (cert !== undefined) tls.cert = cert;
    const keyFile = read('TLS_KEYFILE');
    if (keyFile !== undefined) tls.key = keyFile;
    const ciphers = read('TLS_CIPHERS');
    if (ciphers !== undefined) tls.ciphers = ciphers;
    const tlsVersion = read('TLS_VERSION');
    if (tlsVersion !== undefined) {
      const minVersion = TLS_VERSIONS[tlsVersion.toLowerCase()];
      if (!minVersion) {
        throw new MqttConfigError(key('TLS_VERSION'), `must be TLSv1.2 or TLSv1.3 (older versions are broken), got ${JSON.stringify(tlsVersion)}`);
      }
      tls.minVersion = minVersion;
    }
    const certReqs = read('TLS_CERT_REQS')
      ?.toUpperCase()
      .replace(/^SSL\./, '');
    if (certReqs !== undefined && !['CERT_REQUIRED', 'CERT_OPTIONAL', 'CERT_NONE'].includes(certReqs)) {
      throw new MqttConfigError(key('TLS_CERT_REQS'), `must be CERT_REQUIRED, CERT_OPTIONAL or CERT_NONE, got ${JSON.stringify(certReqs)}`);
    }
    // As in paho: CERT_NONE verifies nothing; MQTT_TLS_INSECURE skips only the host-name check.
    if (certReqs === 'CERT_NONE') tls.rejectUnauthorized = false;
    options.tls = tls;
    if (readBoolean(read('TLS_INSECURE'), key('TLS_INSECURE'))) options.insecure = true;
  }

  const willTopic = read('LAST_WILL_TOPIC');
  if (willTopic !== undefined) {
    options.will = {
      topic: willTopic,
      payload: env[key('LAST_WILL_MESSAGE')] ?? null,
      qos: readQos(read('LAST_WILL_QOS'), key('LAST_WILL_QOS')) ?? 0,
      retain: readBoolean(read('LAST_WILL_RETAIN'), key('LAST_WILL_RETAIN')) ?? false,
    };
  }
  return options;
}

/**
 * A comma-separated `MQTT_BROKER_URL`: each entry a URL (kept as it is, checked by resolveMqttOptions as `url[i]`),
 * a host name or IP address (given `port` and `protocol`), or `host:port`.
 */
function brokerList(value: string, name: string, protocol: MqttProtocol, port: number): string[] {
  return value.split(',').map((raw, i) => {
    const entry = raw.trim();
    if (entry === '') throw new MqttConfigError(name, `entry ${i + 1} of the comma-separated list is empty`);
    if (entry.includes('://')) return entry;
    if (isIPv6(entry)) return `${protocol}://[${entry}]:${port}`;
    const hostPort = /^([^\s:/@[\]]+)(?::(\d{1,5}))?$/.exec(entry);
    if (!hostPort) {
      // Not echoed: it may hold credentials ('user:password@host').
      throw new MqttConfigError(name, `entry ${i + 1} of the comma-separated list is not a URL, a host name or host:port`);
    }
    const entryPort = hostPort[2] === undefined ? port : readInteger(hostPort[2], `${name} (entry ${i + 1})`, 1, 65_535);
    return `${protocol}://${hostPort[1]}:${entryPort}`;
  });
}

function readBoolean(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined) return undefined;
  const normalised = value.trim().toLowerCase();
  if (TRUE.has(normalised)) return true;
  if (FALSE.has(normalised)) return false;
  throw new MqttConfigError(name, `must be true or false, got ${JSON.stringify(value)}`);
}

function readInteger(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value.trim());
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new MqttConfigError(name, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return parsed;
}

/** The QoS rule of `protocol/qos.ts`, for a value read as text. */
function readQos(value: string | undefined, name: string): QoS | undefined {
  if (value === undefined) return undefined;
  const qos = Number(value.trim());
  if (!isQos(qos)) throw new MqttConfigError(name, `must be 0, 1 or 2, got ${JSON.stringify(value)}`);
  return qos;
}
