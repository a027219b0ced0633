/** MQTT 5 DISCONNECT reason code "Session taken over". */
const SESSION_TAKEN_OVER = 0x8e;
/** A connection closed this soon after its CONNACK counts as kicked off. */
const SHORT_LIVED_MS = 5_000;
/** Short-lived connections in a row, with no failed attempt between them, before we call it a collision. */
const FLAPS = 5;

/**
 * Notices when another client uses our client id: the broker then closes our connection each
 * time the other one connects, and both keep reconnecting. MQTT 5 brokers say so (reason 0x8E);
 * with MQTT 3.1.1 the sign is connections that keep dying right after they were accepted while
 * every reconnect succeeds at once. A restarting broker refuses some attempts, which resets the count.
 */
export class TakeoverDetector {
  private connectedAt = 0;
  private shortLived = 0;
  private reported = false;

  constructor(private readonly onTakeover: (evidence: string) => void) {}

  connected(now = Date.now()): void {
    this.connectedAt = now;
  }

  /** A connection attempt or connection failed: not the pattern of a takeover. */
  failed(): void {
    this.shortLived = 0;
  }

  /** The broker's DISCONNECT packet, when it sent one. */
  disconnected(reasonCode: number | undefined, now = Date.now()): void {
    if (reasonCode === SESSION_TAKEN_OVER) {
      this.report('the broker closed the connection with reason 0x8E (session taken over)');
      return;
    }
    if (reasonCode !== undefined) {
      // The broker said why (e.g. 0x8B server shutting down): not a silent kick.
      this.shortLived = 0;
      return;
    }
    this.shortLived = now - this.connectedAt < SHORT_LIVED_MS ? this.shortLived + 1 : 0;
    if (this.shortLived >= FLAPS) {
      this.report(`the broker closed ${this.shortLived} connections in a row within ${SHORT_LIVED_MS} ms of accepting them`);
    }
  }

  private report(evidence: string): void {
    if (this.reported) return;
    this.reported = true;
    this.onTakeover(evidence);
  }
}
