import type { IncomingMessage } from 'node:http';
import type { ExtendedError, Socket } from 'socket.io';
import { isLoopback } from '../dashboard.config.js';
import type { DashboardToken } from '../dashboard-token.js';

/**
 * socket.io middleware: with a token set, a page connects only with `auth: { token }`. The page gets `connect_error`
 * with the message `token required` (none sent) or `invalid token`; the token is compared in constant time.
 */
export function tokenCheck(token: DashboardToken | undefined): (socket: Socket, next: (error?: ExtendedError) => void) => void {
  return (socket, next) => {
    if (!token) return next();
    const given: unknown = (socket.handshake.auth as Record<string, unknown> | undefined)?.token;
    if (given === undefined || given === null || given === '') return next(new Error('token required'));
    next(token.matches(given) ? undefined : new Error('invalid token'));
  };
}

/**
 * engine.io's `allowRequest`: a browser may open the socket only from the dashboard's own page (its Origin names the
 * host it asked for), so another site open in the same browser cannot reach the broker through it. Without a token,
 * the Host must also be a loopback name, so a DNS-rebound name cannot pass for the page either.
 */
export function originCheck(
  token: DashboardToken | undefined,
): (request: IncomingMessage, callback: (error: string | null | undefined, success: boolean) => void) => void {
  return (request, callback) => {
    const host = request.headers.host;
    const origin = request.headers.origin;
    if (origin !== undefined && hostOf(origin) !== host?.toLowerCase()) return callback('origin not allowed', false);
    if (!token && !(host !== undefined && isLoopback(hostnameOf(host)))) return callback('host not allowed', false);
    callback(null, true);
  };
}

/** `host[:port]` of an Origin header, lower case; undefined for `null` or garbage. */
function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host.toLowerCase();
  } catch {
    return undefined;
  }
}

function hostnameOf(host: string): string {
  try {
    return new URL(`http://${host}`).hostname;
  } catch {
    return '';
  }
}
