import type { ResolvedMqttOptions } from './resolve-mqtt-options.js';

const SHARE_PREFIX = '$share/';
/** The MQTT 5 session expiry that means "never". */
const NEVER_EXPIRES = 0xffffffff;
/** Process ids below this are left alone: in a container the app is often pid 1 or 7 in every run, so such an id returns. */
const SMALLEST_TELLING_PID = 100;

/**
 * The bootstrap warning for `$share` subscriptions on a session that outlives its connection under a client id
 * that no later process will use, or undefined when the configuration is safe. Such a member's share of the
 * group's messages keeps being queued to its session after the process ended, and no one handles them until the
 * session expires (Mosquitto keeps them there rather than hand them to the other members). It happens with:
 * - a generated client id and an MQTT 5 session expiry (`sessionExpiryInterval`, or the raw CONNECT property):
 *   `clean: false` needs a fixed `clientId`, but a clean start with a session expiry keeps the session after
 *   the disconnect all the same;
 * - a fixed client id that holds this process's id (`orders-${process.pid}`), with `clean: false` or a session
 *   expiry. Other per-process ids (a random or time-based part) cannot be told from stable ones; the README says
 *   which ids return.
 */
export function strandedShareWarning(name: string, options: ResolvedMqttOptions, brokerFilters: Iterable<string>, pid = process.pid): string | undefined {
  const lingers = sessionLingers(options);
  if (lingers === 0) return undefined;
  const shared = [...brokerFilters].filter((filter) => filter.startsWith(SHARE_PREFIX));
  if (shared.length === 0) return undefined;
  let whose: string;
  if (options.clientIdGenerated) {
    whose = `a generated client id ('${options.clientId}') that no later process uses`;
  } else if (pid >= SMALLEST_TELLING_PID && new RegExp(`(^|\\D)${pid}(\\D|$)`).test(options.clientId)) {
    whose = `client id '${options.clientId}', which holds this process's id (${pid}), so the next process uses another one`;
  } else {
    return undefined;
  }
  const keeps = lingers === NEVER_EXPIRES || lingers === Infinity ? 'keeps without expiry' : `keeps for ${lingers} s`;
  const filters = shared.map((filter) => `'${filter}'`).join(', ');
  return (
    `Client '${name}': ${filters} on a session the broker ${keeps} after a disconnect, under ${whose}: once this process ends, ` +
    `its share of the group's messages waits in that session and nobody handles them. Give $share members clean sessions ` +
    `(clean: true without sessionExpiryInterval), or a client id the instance's next process uses again (stableClientId())`
  );
}

/** Seconds the broker keeps the session after a disconnect: 0 for none, Infinity for a 3.1.1 durable session. */
function sessionLingers(options: ResolvedMqttOptions): number {
  if (options.protocolVersion !== 5) return options.clean ? 0 : Infinity;
  return options.sessionExpiryInterval ?? options.clientOptions.properties?.sessionExpiryInterval ?? 0;
}
