import { isIPv6 } from 'node:net';
import { configError } from '../errors/error-factory.js';
import { MqttConfigError } from '../errors/mqtt-config.error.js';
import { optionalInteger, optionalString } from './assert.js';
import { DEFAULT_PORTS, MQTT_DEFAULTS } from './mqtt-defaults.js';
import type { MqttModuleOptions, MqttProtocol } from './mqtt-module-options.interface.js';

const PROTOCOLS: readonly MqttProtocol[] = ['mqtt', 'mqtts', 'ws', 'wss'];

/** Where the broker is, and the credentials a URL carried. */
export interface ResolvedAddress {
  protocol: MqttProtocol;
  host: string;
  port: number;
  path: string | undefined;
  displayUrl: string;
  username?: string;
  password?: string;
}

/** The broker address from `url`, or from `host`/`port`/`protocol`/`path` with their defaults. */
export function resolveAddress(options: MqttModuleOptions): ResolvedAddress {
  if (options.url !== undefined) {
    if (options.host !== undefined || options.port !== undefined || options.protocol !== undefined) {
      throw new MqttConfigError('url', 'give either url or host/port/protocol, not both');
    }
    return parseBrokerUrl(options.url, 'url');
  }
  const protocol = options.protocol ?? (options.tls ? 'mqtts' : MQTT_DEFAULTS.protocol);
  if (!PROTOCOLS.includes(protocol)) {
    throw new MqttConfigError('protocol', `must be one of ${PROTOCOLS.join(', ')}, got ${JSON.stringify(protocol)}`);
  }
  const host = optionalString(options.host, 'host', configError) ?? MQTT_DEFAULTS.host;
  if (host === '' || /[/\s@]/.test(host)) {
    const reason = host.includes('@') ? 'credentials go in username and password' : 'it is not a host name or address';
    throw new MqttConfigError('host', `"${redactUrlValue(host)}": ${reason}`);
  }
  if (host.includes(':') && !isIPv6(host)) {
    // 'localhost:1883' would be looked up as a host name and fail after connectTimeout (ENOTFOUND).
    const hostPort = /^\[?(.*?)\]?:(\d{1,5})$/.exec(host);
    throw new MqttConfigError(
      'host',
      hostPort
        ? `${JSON.stringify(host)} holds a port; give the port separately: host: '${hostPort[1]}', port: ${hostPort[2]}`
        : `${JSON.stringify(host)} is not a host name or address (an IPv6 address goes without brackets)`,
    );
  }
  const port = optionalInteger(options.port, 'port', configError, 1, 65_535) ?? DEFAULT_PORTS[protocol];
  const path = optionalString(options.path, 'path', configError);
  return { protocol, host, port, path, displayUrl: formatUrl(protocol, host, port, path) };
}

/**
 * Parses a broker URL with WHATWG URL rules; `localhost:1883` (no scheme) is refused, not misread. `field` names
 * it in errors: `url`, `url[1]`, `servers[0].url`.
 */
export function parseBrokerUrl(url: unknown, field: string): ResolvedAddress {
  if (typeof url !== 'string' || url.length === 0) {
    throw new MqttConfigError(field, 'expected a non-empty string like mqtt://localhost:1883');
  }
  const shown = redactUrlValue(url);
  if (!SCHEME.test(url)) {
    throw new MqttConfigError(field, `${shown} has no scheme; write it as mqtt://${shown.replace(/^\*\*\*@/, '')}`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MqttConfigError(field, `${shown} is not a URL; write it with a scheme, e.g. mqtt://host:1883 (percent-encode '/', '@' or ':' in a password)`);
  }
  const scheme = parsed.protocol.slice(0, -1);
  if (!parsed.hostname) {
    throw new MqttConfigError(field, `${shown} has no host`);
  }
  if (!PROTOCOLS.includes(scheme as MqttProtocol)) {
    throw new MqttConfigError(field, `unsupported scheme '${scheme}:' in ${shown}; use mqtt:, mqtts:, ws: or wss:`);
  }
  // mqtt://user:pa/ss@host parses as host 'pa' and path '/ss@host': the password would reach logs.
  if (parsed.pathname.includes('@')) {
    throw new MqttConfigError(field, `${shown} has an '@' after a '/'; percent-encode '/' in a password (%2F)`);
  }
  const protocol = scheme as MqttProtocol;
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = parsed.port ? Number(parsed.port) : DEFAULT_PORTS[protocol];
  const path = parsed.pathname && parsed.pathname !== '/' ? parsed.pathname : undefined;
  const address: ResolvedAddress = { protocol, host, port, path, displayUrl: formatUrl(protocol, host, port, path) };
  if (parsed.username) address.username = decodeURIComponent(parsed.username);
  if (parsed.password) address.password = decodeURIComponent(parsed.password);
  return address;
}

function formatUrl(protocol: MqttProtocol, host: string, port: number, path: string | undefined): string {
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return `${protocol}://${shownHost}:${port}${path ?? ''}`;
}

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * Removes `user:password@` from URLs in free text (log lines). Userinfo ends at the *last* `@` of
 * the run of non-space characters, since a password may hold `/` or `@`: too much is hidden at worst
 * (an `@` in a path), never a piece of the password. A leading `user:password@host` without a
 * scheme is redacted too.
 */
export function redactUrl(text: string): string {
  return text.replace(/^(?!\S*\/\/)\S*@/, '***@').replace(/\/\/\S*@/g, '//***@');
}

/** One URL value for an error message: userinfo up to the last `@` and any query or fragment hidden. */
function redactUrlValue(url: string): string {
  const start = SCHEME.exec(url)?.[0].length ?? 0;
  const at = url.lastIndexOf('@');
  let shown = at >= start ? `${url.slice(0, start)}***@${url.slice(at + 1)}` : url;
  // Query strings carry tokens (presigned websocket URLs), and a password may hold '?' or '#'.
  shown = shown.replace(/[?#].*$/s, (rest) => `${rest[0]}***`);
  return JSON.stringify(shown.length > 200 ? `${shown.slice(0, 197)}...` : shown).slice(1, -1);
}
