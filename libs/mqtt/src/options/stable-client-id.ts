import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { argumentError } from '../errors/error-factory.js';
import { MqttArgumentError } from '../errors/mqtt-argument.error.js';
import { assertObject, optionalInteger, optionalString } from './assert.js';

export interface StableClientIdOptions {
  /**
   * Longest id returned (default 23, the length every MQTT server must accept; MQTT 3.1 servers may refuse longer
   * ones). A longer id is cut and ends in a hash of the whole one, so it stays the same for the host and distinct
   * from other hosts' ids, but is less readable in the broker's logs. Raise it (MQTT 3.1.1 and 5 servers take up
   * to 65535 bytes, Mosquitto included) to keep long host names whole.
   */
  maxLength?: number;
}

/** Hex characters of the hash that ends a shortened id: 36 bits, so two hosts' ids collide with odds of 1 in 68 billion. */
const HASH_CHARACTERS = 9;
const MQTT31_MAX_CLIENT_ID = 23;

/**
 * A client id that stays the same for one instance across restarts: `<prefix>-<host name>`, the host name from
 * `HOSTNAME` (set by Docker and Kubernetes) or else `os.hostname()`, with characters other than letters, digits,
 * `-` and `_` replaced by `-`. For a durable session (`clean: false`), whose messages wait on the broker under
 * the client id for the process that comes back with it: a `$share` member's share of the group's messages
 * included.
 *
 * Stable only as long as the host name is: a Kubernetes StatefulSet pod (`orders-0`), a Docker container that is
 * restarted (not re-created), a VM. A Deployment's pods get new names when they are re-created, so their
 * sessions are left behind (until `sessionExpiryInterval` ends them); give those clean sessions instead.
 * Two clients of one host need distinct prefixes, or they take over each other's session.
 */
export function stableClientId(prefix?: string, options: StableClientIdOptions = {}): string {
  return stableClientIdFor(process.env.HOSTNAME || hostname(), prefix, options);
}

/** `stableClientId()` for a given host name. */
export function stableClientIdFor(host: string, prefix?: string, options: StableClientIdOptions = {}): string {
  optionalString(prefix, 'prefix', argumentError);
  assertObject(options, 'options', argumentError);
  const maxLength = optionalInteger(options.maxLength, 'options.maxLength', argumentError, HASH_CHARACTERS + 2, 65_535) ?? MQTT31_MAX_CLIENT_ID;
  const safeHost = clientIdSafe(host);
  if (safeHost === '') throw new MqttArgumentError('hostname', 'no host name to build a client id from: HOSTNAME and os.hostname() are empty');
  const safePrefix = prefix === undefined ? '' : clientIdSafe(prefix);
  const id = safePrefix === '' ? safeHost : `${safePrefix}-${safeHost}`;
  if (id.length <= maxLength) return id;
  const hash = createHash('sha256').update(id).digest('hex').slice(0, HASH_CHARACTERS);
  return `${id.slice(0, maxLength - HASH_CHARACTERS - 1).replace(/-+$/, '')}-${hash}`;
}

/**
 * Letters, digits, `-` and `_`. MQTT 3.1.1 (§3.1.3.1) guarantees letters and digits; `-` and `_` are taken by every
 * broker in use (the generated ids hold `_`). Any other run of characters becomes one `-`.
 */
function clientIdSafe(text: string): string {
  return text.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '');
}
