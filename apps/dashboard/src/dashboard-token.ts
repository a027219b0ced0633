import { createHash, timingSafeEqual } from 'node:crypto';
import { inspect } from 'node:util';

/**
 * `DASHBOARD_TOKEN`, kept only as its SHA-256 digest: nothing can print it (not a log line, not `JSON.stringify`
 * or `util.inspect` of the config), and a candidate is compared in constant time (digests of equal length).
 */
export class DashboardToken {
  readonly #digest: Buffer;

  constructor(token: string) {
    if (token.length === 0) throw new Error('DASHBOARD_TOKEN must not be empty');
    this.#digest = digest(token);
  }

  /** Whether `candidate` is the token; false for anything but a string. */
  matches(candidate: unknown): boolean {
    return typeof candidate === 'string' && timingSafeEqual(digest(candidate), this.#digest);
  }

  toString(): string {
    return '[redacted]';
  }

  toJSON(): string {
    return '[redacted]';
  }

  [inspect.custom](): string {
    return 'DashboardToken [redacted]';
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
