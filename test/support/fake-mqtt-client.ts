import { EventEmitter } from 'node:events';
import type {
  IClientOptions,
  IClientPublishOptions,
  IClientSubscribeOptions,
  IConnackPacket,
  IPublishPacket,
  ISubscriptionMap,
  MqttClient,
  Packet,
} from 'mqtt';

/**
 * A stand-in for the parts of mqtt.js's `MqttClient` that the engine classes use (MqttConnection,
 * ClientPublisher, SubscriptionRegistry, the request client through them), for unit specs only: it
 * records every call and never answers by itself. The test decides when and how the "broker"
 * answers: `ack()` a publish, `suback()` a subscription, `resolveUnsubscribe()` an unsubscribe,
 * `simulateConnect()` a CONNACK, `deliver()` a message, `finish()` an `end()`. e2e tests never use it.
 *
 * `MqttConnection` takes it through its client factory: `new MqttConnection(name, options, logger,
 * (clientOptions) => (fake = new FakeMqttClient(clientOptions)).client)`.
 */
export class FakeMqttClient extends EventEmitter {
  connected = false;
  readonly published: PublishCall[] = [];
  readonly subscribed: SubscribeCall[] = [];
  readonly unsubscribed: UnsubscribeCall[] = [];
  /** How often `connect()` was called (MqttConnection.start connects a `manualConnect` client). */
  connectCalls = 0;
  readonly endCalls: EndCall[] = [];
  /** Whether `end()` calls back by itself (on a microtask); false: the test calls `finish()` on the EndCall. */
  endsAtOnce = true;
  /** Acknowledgements mqtt.js would have sent for delivered messages, in order. */
  readonly sentAcks: Array<{ cmd: 'puback' | 'pubrec' | 'pubcomp'; messageId: number | undefined }> = [];
  /** Replaced by MqttConnection (mqtt.js's `log` option and its documented `handleMessage` hook). */
  log: (...args: unknown[]) => void = () => undefined;
  handleMessage: (packet: Packet, callback: (error?: Error) => void) => void = (_packet, callback) => callback();

  constructor(public options: IClientOptions = {}) {
    super();
  }

  /** The fake, typed as what the classes under test take. */
  get client(): MqttClient {
    return this as unknown as MqttClient;
  }

  /** mqtt.js's table of unacknowledged QoS 1/2 publishes by message id (what `removeOutgoingMessage` takes out). */
  readonly outgoing: Record<number, { cb: PublishCallback }> = {};
  /** Message ids `removeOutgoingMessage()` took out of the store. */
  readonly removedIds: number[] = [];
  private lastMessageId = 0;

  publish(topic: string, body: Buffer | string, options: IClientPublishOptions, callback?: PublishCallback): this {
    this.published.push(new PublishCall(topic, body, options, callback));
    if (options.qos && callback) {
      this.lastMessageId++;
      this.outgoing[this.lastMessageId] = { cb: callback };
    }
    return this;
  }

  getLastMessageId(): number {
    return this.lastMessageId;
  }

  /** As mqtt.js: out of the store, and its callback gets 'Message removed'. */
  removeOutgoingMessage(messageId: number): this {
    const entry = this.outgoing[messageId];
    if (entry) {
      delete this.outgoing[messageId];
      this.removedIds.push(messageId);
      entry.cb(new Error('Message removed'));
    }
    return this;
  }

  subscribe(map: ISubscriptionMap, options: IClientSubscribeOptions | Record<string, never>, callback?: SubscribeCallback): this {
    this.subscribed.push(new SubscribeCall(map, options, callback));
    return this;
  }

  /** Fire and forget, as mqtt.js's `unsubscribe(topics)` without a callback. */
  unsubscribe(topics: string | string[]): this {
    this.unsubscribed.push(new UnsubscribeCall(typeof topics === 'string' ? [topics] : topics));
    return this;
  }

  /** Pending until the test calls `resolveUnsubscribe()`/`rejectUnsubscribe()` on the recorded call. */
  unsubscribeAsync(topics: string | string[]): Promise<Packet | undefined> {
    const call = new UnsubscribeCall(typeof topics === 'string' ? [topics] : topics);
    this.unsubscribed.push(call);
    return call.promise;
  }

  connect(): this {
    this.connectCalls++;
    return this;
  }

  /** As mqtt.js's `end(force, callback)`: calls back once "closed" (see `endsAtOnce`), after 'close' when it was connected. */
  end(force?: boolean, callback?: () => void): this {
    const call = new EndCall(force === true, () => {
      if (this.connected) {
        this.connected = false;
        this.emit('close');
      }
      this.emit('end');
      callback?.();
    });
    this.endCalls.push(call);
    if (this.endsAtOnce) queueMicrotask(() => call.finish());
    return this;
  }

  /** The broker accepted the connection: `connected`, then 'connect' with the CONNACK. */
  simulateConnect(connack: Partial<IConnackPacket> = {}): void {
    this.connected = true;
    this.emit('connect', { cmd: 'connack', sessionPresent: false, returnCode: 0, ...connack });
  }

  /** The connection dropped: 'close', then 'offline' as mqtt.js does before it schedules a reconnect. */
  simulateConnectionLoss(): void {
    this.connected = false;
    this.emit('close');
    this.emit('offline');
  }

  /**
   * A PUBLISH from the broker, handled as mqtt.js's `handlers/publish.ts` does: QoS 0 emits 'message'
   * and calls `handleMessage`; QoS 1 asks `customHandleAcks` first (an error there: no message, no ack,
   * 'error' emitted), then emits 'message' and sends PUBACK when `handleMessage` calls back. QoS 2 is
   * simplified to the same sequence with PUBCOMP (mqtt.js emits it on PUBREL).
   */
  deliver(topic: string, payload: Buffer | string, packet: Partial<IPublishPacket> = {}): IPublishPacket {
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const full: IPublishPacket = { cmd: 'publish', topic, payload: body, qos: 0, dup: false, retain: false, ...packet };
    if (full.qos === 0) {
      this.emit('message', topic, body, full);
      this.handleMessage(full, () => undefined);
      return full;
    }
    const ack = full.qos === 1 ? 'puback' : 'pubcomp';
    const customHandleAcks = this.options.customHandleAcks ?? ((_t, _m, _p, done) => done(0));
    customHandleAcks(topic, body, full, (error: Error | number, code?: number) => {
      if (error instanceof Error) {
        this.emit('error', error);
        return;
      }
      if ((typeof error === 'number' ? error : code) ?? 0) return;
      this.emit('message', topic, body, full);
      this.handleMessage(full, (handleError) => {
        if (!handleError) this.sentAcks.push({ cmd: ack, messageId: full.messageId });
      });
    });
    return full;
  }

  /** The last publish to `topic` (throws when there is none, so a test fails at the right line). */
  lastPublishTo(topic: string): PublishCall {
    const call = this.published.findLast((candidate) => candidate.topic === topic);
    if (!call) throw new Error(`no publish to '${topic}' among ${JSON.stringify(this.published.map((p) => p.topic))}`);
    return call;
  }

  /** The last SUBSCRIBE that carried `filter`. */
  lastSubscribeTo(filter: string): SubscribeCall {
    const call = this.subscribed.findLast((candidate) => filter in candidate.map);
    if (!call) throw new Error(`no subscribe to '${filter}' among ${JSON.stringify(this.subscribed.map((s) => Object.keys(s.map)))}`);
    return call;
  }
}

export type PublishCallback = (error?: Error, packet?: Packet) => void;
export type SubscribeCallback = (error: Error | null, granted?: unknown[], packet?: { cmd: 'suback'; granted: number[] }) => void;

export class PublishCall {
  constructor(
    readonly topic: string,
    readonly body: Buffer | string,
    readonly options: IClientPublishOptions,
    private readonly callback: PublishCallback | undefined,
  ) {}

  /** The broker acknowledged it (PUBACK/PUBCOMP), or mqtt.js wrote it (QoS 0). */
  ack(messageId = 1): void {
    this.answer(undefined, { cmd: 'puback', messageId } as Packet);
  }

  /** mqtt.js failed it, e.g. `new Error('Connection closed')`. */
  fail(error: Error): void {
    this.answer(error, undefined);
  }

  /** mqtt.js may call back more than once for one publish in its edge cases; the fake allows it. */
  answer(error: Error | undefined, packet: Packet | undefined): void {
    if (!this.callback) throw new Error(`publish to '${this.topic}' has no callback`);
    this.callback(error, packet);
  }
}

export class SubscribeCall {
  constructor(
    readonly map: ISubscriptionMap,
    readonly options: IClientSubscribeOptions | Record<string, never>,
    private readonly callback: SubscribeCallback | undefined,
  ) {}

  get filters(): string[] {
    return Object.keys(this.map);
  }

  /** SUBACK with one return code per filter, in the order sent (0x80 and up: refused). */
  suback(...codes: number[]): void {
    const granted = codes.length > 0 ? codes : this.filters.map((filter) => this.map[filter].qos);
    this.callback?.(null, [], { cmd: 'suback', granted });
  }

  /** The SUBSCRIBE failed without a SUBACK (e.g. `new Error('Connection closed')`). */
  fail(error: Error): void {
    this.callback?.(error);
  }
}

export class EndCall {
  private finished = false;

  constructor(
    readonly force: boolean,
    private readonly onFinish: () => void,
  ) {}

  /** The client closed: 'close' (when it was connected), 'end', then `end()`'s callback. Once. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.onFinish();
  }
}

export class UnsubscribeCall {
  readonly promise: Promise<Packet | undefined>;
  private settle!: { resolve(packet: Packet | undefined): void; reject(error: Error): void };

  constructor(readonly topics: string[]) {
    this.promise = new Promise<Packet | undefined>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // Fire-and-forget calls never look at the promise; a rejection must not surface as unhandled.
    this.promise.catch(() => undefined);
  }

  resolveUnsubscribe(): void {
    this.settle.resolve({ cmd: 'unsuback' } as Packet);
  }

  rejectUnsubscribe(error: Error): void {
    this.settle.reject(error);
  }
}
