import { performance } from 'node:perf_hooks';

/**
 * Decides which connection errors of one outage reach the log. The first error is logged, and so is
 * any error that differs from the last one logged; repeats of the same error (one per reconnect
 * attempt, for as long as the broker is away) are counted and summarised at most once per
 * `intervalMs`. With a failover list each broker (`source`) has its own last error and summary time,
 * so brokers that fail in turn do not make every attempt a "different" error. `@OnError` handlers
 * still get every error: only log lines are bounded.
 */
export class OutageLog {
  private failures = 0;
  private startedAt = 0;
  /** Per source: the last error logged and when. */
  private readonly last = new Map<string, { message: string; loggedAt: number }>();

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** A connection error (of the broker `source`); returns the line to log, or undefined when it only counts. */
  error(message: string, source = ''): string | undefined {
    const now = this.now();
    if (this.failures === 0) this.startedAt = now;
    this.failures++;
    const last = this.last.get(source);
    if (last?.message !== message) {
      this.last.set(source, { message, loggedAt: now });
      return message;
    }
    if (now - last.loggedAt < this.intervalMs) return undefined;
    last.loggedAt = now;
    return `still failing after ${this.failures} attempts in ${Math.round((now - this.startedAt) / 1000)} s: ${message}`;
  }

  /** Connected again: what to add to the "connected" line when the outage had several failures. */
  connected(): string | undefined {
    const failures = this.failures;
    const seconds = Math.round((this.now() - this.startedAt) / 1000);
    this.failures = 0;
    this.last.clear();
    return failures > 1 ? ` after ${failures} failed attempts in ${seconds} s` : undefined;
  }
}
