import { configError } from '../errors/error-factory.js';
import { MqttConfigError } from '../errors/mqtt-config.error.js';
import { assertObject, optionalSecret, optionalString } from './assert.js';
import { parseBrokerUrl, resolveAddress, type ResolvedAddress } from './broker-url.js';
import type { MqttModuleOptions, MqttProtocol, MqttServerOptions, MqttTlsOptions, MqttTlsVerification } from './mqtt-module-options.interface.js';
import { assertKnownOptionKeys, SERVER_OPTION_KEYS } from './option-keys.js';
import { assertNoRawVerificationSwitch, resolveTls, tlsVerification, type ResolvedTls } from './tls-options.js';

/** One broker the client may connect to: where it is, how to authenticate, and its TLS. */
export interface ResolvedServer {
  readonly protocol: MqttProtocol;
  readonly host: string;
  readonly port: number;
  readonly path: string | undefined;
  /** The broker address without credentials: safe for logs and errors. */
  readonly displayUrl: string;
  readonly username: string | undefined;
  readonly password: string | Buffer | undefined;
  readonly tls: ResolvedTls | undefined;
  /** What is checked of this broker's certificate, undefined without TLS. */
  readonly tlsVerification: MqttTlsVerification | undefined;
}

/** A broker as listed: the field that named it (for errors), its address, and its own options in `servers`. */
interface ListedServer {
  readonly field: string;
  readonly address: ResolvedAddress;
  /** Set for a `servers` entry: its own username, password and tls, named `servers[i].<key>`. */
  readonly own?: MqttServerOptions;
}

/**
 * The brokers to try, in order: the one of `url` (or `host`/`port`/`protocol`/`path`), every URL of `url: [...]`,
 * or every entry of `servers`. Each has its credentials (its URL's, else its own in `servers`, else the top-level
 * `username`/`password`) and its TLS options (its own `tls` in `servers`, else the top-level `tls`), read now.
 * A list is refused when empty, when it names one broker twice, or when it mixes TLS and plain brokers.
 */
export function resolveServers(options: MqttModuleOptions, insecure: boolean): ResolvedServer[] {
  const listed = listServers(options);
  const username = optionalString(options.username, 'username', configError);
  const password = optionalSecret(options.password, 'password', configError);
  let sharedTls: ResolvedTls | undefined;
  const servers = listed.map(({ field, address, own }): ResolvedServer => {
    const prefix = field.replace(/url$/, '');
    const ownUsername = own ? optionalString(own.username, `${prefix}username`, configError) : undefined;
    const ownPassword = own ? optionalSecret(own.password, `${prefix}password`, configError) : undefined;
    const serverUsername = address.username ?? ownUsername ?? username;
    const serverPassword = address.password ?? ownPassword ?? password;
    if (serverPassword !== undefined && serverUsername === undefined) {
      throw new MqttConfigError(ownPassword !== undefined ? `${prefix}password` : 'password', 'a password needs a username (MQTT 3.1.1 §3.1.2.9)');
    }
    const secure = address.protocol === 'mqtts' || address.protocol === 'wss';
    const ownTls: MqttTlsOptions | undefined = own?.tls;
    if (ownTls !== undefined && !secure) {
      throw new MqttConfigError(`${prefix}tls`, `TLS options need an mqtts: or wss: broker, not ${address.protocol}:`);
    }
    let tls: ResolvedTls | undefined;
    if (secure) tls = ownTls !== undefined ? resolveTls(ownTls, `${prefix}tls`) : (sharedTls ??= resolveTls(options.tls ?? {}));
    const verification = tlsVerification(tls, insecure);
    assertNoRawVerificationSwitch(options.clientOptions, verification);
    const { protocol, host, port, path, displayUrl } = address;
    return { protocol, host, port, path, displayUrl, username: serverUsername, password: serverPassword, tls, tlsVerification: verification };
  });
  const [first] = servers;
  if (options.tls !== undefined && !servers.some((server) => server.tls !== undefined)) {
    throw new MqttConfigError('tls', `TLS options need an mqtts: or wss: broker, not ${first.protocol}:`);
  }
  assertCoherentList(listed, servers);
  if (servers.length > 1 && options.clientOptions?.servers !== undefined) {
    throw new MqttConfigError(
      'clientOptions.servers',
      `mqtt.js's own server rotation would fight the failover list of ${listed[0].field.replace(/\[0\].*$/, '')}; list the brokers there only`,
    );
  }
  return servers;
}

function listServers(options: MqttModuleOptions): ListedServer[] {
  const { url, servers } = options;
  if (servers !== undefined) {
    if (url !== undefined) throw new MqttConfigError('servers', 'give either url or servers, not both');
    for (const key of ['host', 'port', 'protocol', 'path'] as const) {
      if (options[key] !== undefined) throw new MqttConfigError('servers', `give either servers or host/port/protocol/path, not both (${key} is set)`);
    }
    if (!Array.isArray(servers)) throw new MqttConfigError('servers', 'expected an array of { url, username?, password?, tls? }');
    if (servers.length === 0) throw new MqttConfigError('servers', 'must list at least one broker');
    return servers.map((own: unknown, i): ListedServer => {
      const field = `servers[${i}]`;
      assertObject(own, field, configError, 'an object like { url }');
      assertKnownOptionKeys(own, SERVER_OPTION_KEYS, `${field}.`);
      const server = own as MqttServerOptions;
      return { field: `${field}.url`, address: parseBrokerUrl(server.url, `${field}.url`), own: server };
    });
  }
  if (Array.isArray(url)) {
    if (options.host !== undefined || options.port !== undefined || options.protocol !== undefined) {
      throw new MqttConfigError('url', 'give either url or host/port/protocol, not both');
    }
    if (url.length === 0) throw new MqttConfigError('url', 'must list at least one broker URL');
    return url.map((entry: unknown, i) => ({ field: `url[${i}]`, address: parseBrokerUrl(entry, `url[${i}]`) }));
  }
  return [{ field: 'url', address: resolveAddress(options) }];
}

/**
 * Refuses a list that names one broker twice, or mixes TLS and plain brokers: a client that fails over from an
 * mqtts: broker to an mqtt: one would send its credentials and messages in clear to whoever can make the first
 * one unreachable. mqtts: with wss:, or mqtt: with ws:, is fine.
 */
function assertCoherentList(listed: readonly ListedServer[], servers: readonly ResolvedServer[]): void {
  const seen = new Map<string, string>();
  servers.forEach((server, i) => {
    const field = listed[i].field;
    // Host names are case-insensitive; a URL keeps their case for mqtt: and mqtts: (WHATWG lowercases only ws: and wss:).
    const key = `${server.protocol}://${server.host.toLowerCase()}:${server.port}${server.path ?? ''}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) throw new MqttConfigError(field, `${server.displayUrl} is listed twice (also ${earlier})`);
    seen.set(key, field);
    if ((server.tls !== undefined) !== (servers[0].tls !== undefined)) {
      const kind = (tls: boolean) => (tls ? 'TLS' : 'plain');
      throw new MqttConfigError(
        field,
        `${server.displayUrl} is ${kind(server.tls !== undefined)} while ${listed[0].field} is ${kind(servers[0].tls !== undefined)}; a failover list is all TLS (mqtts:, wss:) or all plain (mqtt:, ws:): falling back from TLS to plain would send credentials and messages in clear`,
      );
    }
  });
}
