import { createHash, randomBytes } from 'node:crypto';
import type { IPublishPacket } from 'mqtt';
import { MqttArgumentError } from '../errors/mqtt-argument.error.js';
import { MqttRequestError } from '../errors/mqtt-request.error.js';
import type { MqttPayload, MqttPublishOptions } from '../interfaces/mqtt-message.interface.js';
import { internalHandler, type MessageDispatcher } from '../dispatch/message-dispatcher.js';
import { MAX_TIMER_DELAY_MS } from '../mqtt.constants.js';
import type { SubscriptionRegistry } from './subscription-registry.js';
import { parseTopicFilter } from '../protocol/topic-filter.js';

/** Name of the user property that carries a responder's error (see MessageDispatcher). */
export const REPLY_ERROR_PROPERTY = 'error';

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
  topic: string;
}

/**
 * MQTT 5 request/reply for one client: one private reply topic, correlation data per request,
 * replies routed by the dispatcher to this object. The reply subscription is held like any other
 * (restored after reconnects) and made on the first request.
 */
export class RequestClient {
  private readonly replyTopic: string;
  private readonly pending = new Map<string, Pending>();
  private routed = false;

  constructor(
    private readonly subscriptions: SubscriptionRegistry,
    private readonly dispatcher: MessageDispatcher,
    private readonly publish: (topic: string, payload: MqttPayload, options: MqttPublishOptions) => Promise<unknown>,
    /** A fixed client id (durable sessions) keeps one reply topic across restarts; else a random one. */
    fixedClientId: string | undefined,
  ) {
    const suffix = fixedClientId === undefined ? randomBytes(8).toString('hex') : createHash('sha256').update(fixedClientId).digest('hex').slice(0, 16);
    this.replyTopic = `nestjs-mqtt/reply/${suffix}`;
  }

  /**
   * The timer starts at once and covers everything: waiting for the reply subscription (offline:
   * the next connection), for a flow-control slot, and for the reply. Every failure on the way
   * settles the returned promise; none is left unhandled.
   */
  request(topic: string, payload: MqttPayload, timeoutMs: number, qos: 0 | 1 | 2): Promise<unknown> {
    if (!this.routed) {
      this.routed = true;
      this.dispatcher.addTopicHandler(parseTopicFilter(this.replyTopic), this.replyHandler);
    }
    const correlation = randomBytes(12);
    const key = correlation.toString('hex');
    const reply = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(key);
        reject(new MqttRequestError(topic, `no reply within ${timeoutMs} ms`, true));
      }, timeoutMs);
      this.pending.set(key, { resolve, reject, timer, topic });
    });
    this.send(key, topic, payload, qos, correlation).catch((error: Error) => this.settle(key)?.reject(error));
    return reply;
  }

  private async send(key: string, topic: string, payload: MqttPayload, qos: 0 | 1 | 2, correlation: Buffer): Promise<void> {
    // Resolves at once when granted; waits for the same SUBACK when one is on its way.
    await this.subscriptions.subscribe([{ filter: this.replyTopic, qos: 1 }]);
    // A request that timed out (or was closed) while waiting must not run after its caller was told it failed.
    if (!this.pending.has(key)) return;
    await this.publish(topic, payload, { qos, properties: { responseTopic: this.replyTopic, correlationData: correlation } });
  }

  /** Rejects every waiting request (the client is closing). */
  close(): void {
    for (const key of [...this.pending.keys()]) {
      const pending = this.settle(key);
      pending?.reject(new MqttRequestError(pending.topic, 'the client closed before a reply arrived'));
    }
  }

  private readonly replyHandler = internalHandler('MqttService#request', (payload: unknown, _topic: string, packet: IPublishPacket) => {
    const correlation = packet.properties?.correlationData;
    if (!correlation) return;
    const pending = this.settle(Buffer.from(correlation).toString('hex'));
    if (!pending) return; // a late reply (timed out, or to an earlier process on this client id)
    const error = packet.properties?.userProperties?.[REPLY_ERROR_PROPERTY];
    if (error !== undefined) pending.reject(new MqttRequestError(pending.topic, `the responder failed: ${String(error)}`));
    else pending.resolve(payload);
  });

  private settle(key: string): Pending | undefined {
    const pending = this.pending.get(key);
    if (!pending) return undefined;
    clearTimeout(pending.timer);
    this.pending.delete(key);
    return pending;
  }
}

/** Checks request() arguments before anything is sent. */
export function checkRequestTimeout(timeout: unknown): number {
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0 || timeout > MAX_TIMER_DELAY_MS) {
    throw new MqttArgumentError('options.timeout', `expected a positive number of milliseconds up to ${MAX_TIMER_DELAY_MS}, got ${JSON.stringify(timeout)}`);
  }
  return timeout;
}
