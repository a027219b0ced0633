/** What the gateway lets one page do and send; `Hello.limits` tells the page the first three. */
export interface GatewayLimits {
  /** Largest payload the page may publish, in UTF-8 bytes. */
  readonly maxPayloadBytes: number;
  /** Payload previews are cut at this many bytes. */
  readonly previewBytes: number;
  /** Messages forwarded to one page per second, at most; the rest are counted in `skipped`. */
  readonly messagesPerSecond: number;
  /** Milliseconds between two `messages` batches. */
  readonly batchMs: number;
  /** Milliseconds between two snapshots. */
  readonly snapshotMs: number;
  /** Filters one page may hold at once. */
  readonly subscriptionsPerPage: number;
  /** MQTT 5 user properties of one publish: how many, and their keys and values together in UTF-8 bytes. */
  readonly userProperties: number;
  readonly userPropertyBytes: number;
}

export const DEFAULT_GATEWAY_LIMITS: GatewayLimits = {
  maxPayloadBytes: 256 * 1024,
  previewBytes: 4096,
  messagesPerSecond: 200,
  batchMs: 100,
  snapshotMs: 1000,
  subscriptionsPerPage: 100,
  userProperties: 32,
  userPropertyBytes: 8 * 1024,
};
