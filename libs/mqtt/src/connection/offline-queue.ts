import { MqttPublishError } from '../errors/mqtt-publish.error.js';
import type { QoS } from '../interfaces/mqtt-message.interface.js';

/**
 * Bounds what may wait for a connection: mqtt.js queues offline publishes without limit (QoS 0
 * in memory, QoS 1/2 in its outgoing store), so a long outage would grow memory forever.
 */
export class OfflineQueueGuard {
  private waiting = 0;

  constructor(
    private readonly limit: number,
    private readonly queueQos0: boolean,
  ) {}

  /**
   * Called for a publish made while offline: counts it and returns undefined, or returns why it may
   * not wait (then nothing is counted). Pair an admitted publish with release().
   */
  admit(topic: string, qos: QoS): MqttPublishError | undefined {
    if (qos === 0 && !this.queueQos0) {
      return new MqttPublishError(topic, 'the client is offline and QoS 0 messages are not queued (queueQos0Offline: false)');
    }
    if (this.waiting >= this.limit) {
      return new MqttPublishError(topic, `the offline queue is full (offlineQueueLimit: ${this.limit}); the client is reconnecting`);
    }
    this.waiting++;
    return undefined;
  }

  /** Publishes admitted while offline and not yet settled. */
  get size(): number {
    return this.waiting;
  }

  release(): void {
    this.waiting--;
  }
}
