/** Wall-clock milliseconds with sub-millisecond resolution; comparable across processes on one machine. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

/** What a device publishes: its index, its own sequence number and the send time. */
export interface Telemetry {
  readonly device: number;
  readonly seq: number;
  readonly sentAt: number;
  readonly temp: number;
}

/** One handled message in a member's batch: device, seq, sentAt, receivedAt, laid out flat in a Float64Array. */
export const RECORD_FIELDS = 4;

export type MemberMode = 'raw' | 'nest';

/** Parent to member. */
export type MemberCommand = { type: 'mark' } | { type: 'flush' };

/** Member to parent. `mark` carries cumulative CPU (user + system) so the parent can take differences. */
export type MemberMessage =
  | { type: 'ready' }
  | { type: 'batch'; records: Float64Array }
  | { type: 'mark'; cpuUs: number; rssBytes: number }
  | { type: 'flushed' }
  | { type: 'error'; message: string };
