import { EventEmitter } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import {
  generate,
  parser,
  type IConnackPacket,
  type IConnectPacket,
  type IDisconnectPacket,
  type IPublishPacket,
  type ISubscribePacket,
  type IUnsubscribePacket,
  type Packet,
  type PacketCmd,
  type Parser,
  type QoS,
} from 'mqtt-packet';

/** Every wait of the broker rejects after this long unless told otherwise, so no test hangs. */
export const FAKE_BROKER_TIMEOUT_MS = 5_000;

export type PacketOf<C extends PacketCmd> = Extract<Packet, { cmd: C }>;
export type PublishProperties = NonNullable<IPublishPacket['properties']>;

/** What the broker does; every field is also a mutable property of the broker, read on each packet. */
export interface FakeBrokerScript {
  /** Return codes for successive CONNECTs, then 0 forever (e.g. `[0x89]`: MQTT 5 "Server busy" once). */
  connack?: number[];
  /** CONNACK properties sent to MQTT 5 clients (e.g. `{ receiveMaximum: 2 }`). */
  connackProperties?: IConnackPacket['properties'];
  /** Filters answered with a refusal in the SUBACK (0x87 on MQTT 5, 0x80 on 3.1.1); nothing is stored. */
  refuse?: Iterable<string>;
  /** The highest QoS granted: a SUBSCRIBE asking for more gets this in its SUBACK. */
  grantQos?: QoS;
  /** Answer UNSUBSCRIBE by destroying the socket; the filters stay in the session. */
  dropOnUnsubscribe?: boolean;
  /** A SUBSCRIBE naming any of these filters gets no SUBACK at all, and nothing of it is stored. */
  silentSubscribe?: Iterable<string>;
}

/** A subscription kept in a client id's session. */
export interface StoredSubscription {
  /** As subscribed, `$share/<group>/` prefix included. */
  filter: string;
  /** The granted QoS. */
  qos: QoS;
  nl: boolean;
  rap: boolean;
  rh: number;
  /** MQTT 5 subscription identifier of the SUBSCRIBE that made it. */
  identifier?: number;
}

export interface PacketRecord {
  /** The connection's client id ('' for anything before its CONNECT was read). */
  clientId: string;
  cmd: PacketCmd;
  packet: Packet;
}

export interface ConnectEvent {
  clientId: string;
  packet: IConnectPacket;
  returnCode: number;
  sessionPresent: boolean;
}
export interface SubscribeEvent {
  clientId: string;
  packet: ISubscribePacket;
  /** The SUBACK codes, or undefined when the SUBSCRIBE was left unanswered (`silentSubscribe`). */
  granted: number[] | undefined;
}
export interface UnsubscribeEvent {
  clientId: string;
  packet: IUnsubscribePacket;
  /** True when the broker answered by dropping the connection (`dropOnUnsubscribe`). */
  dropped: boolean;
}
export interface PublishEvent {
  clientId: string;
  /** As received, after topic alias resolution. */
  packet: IPublishPacket;
}
export interface DisconnectEvent {
  clientId: string;
  packet: IDisconnectPacket;
}
export interface CloseEvent {
  clientId: string;
  /** The client sent DISCONNECT before its socket closed. */
  graceful: boolean;
}

/** The events of a FakeBroker; each carries one value, emitted once the broker handled the packet. */
export type FakeBrokerEvents = {
  packet: [PacketRecord];
  connect: [ConnectEvent];
  subscribe: [SubscribeEvent];
  unsubscribe: [UnsubscribeEvent];
  publish: [PublishEvent];
  disconnect: [DisconnectEvent];
  close: [CloseEvent];
  protocolError: [Error];
};
export type FakeBrokerEvent = keyof FakeBrokerEvents;
export type FakeBrokerEventValue<E extends FakeBrokerEvent> = FakeBrokerEvents[E][0];

export interface DeliverOptions {
  /** Asked QoS (default 0); each copy gets min(this, the subscription's granted QoS). */
  qos?: QoS;
  /** Also keep it as the topic's retained message (an empty payload clears it). Copies carry retain only for rap subscriptions. */
  retain?: boolean;
  /** MQTT 5 properties of every copy; the broker sets subscriptionIdentifier itself. */
  properties?: PublishProperties;
  /** One copy per client carrying every matching identifier (the other behaviour MQTT 5 allows) instead of one per subscription. */
  oneCopyPerClient?: boolean;
  /** How long to wait for the acknowledgements (default 5 s). */
  timeoutMs?: number;
}

export interface RawPublish {
  topic: string;
  payload: string | Buffer;
  qos?: QoS;
  retain?: boolean;
  dup?: boolean;
  /** Sent as given to MQTT 5 clients (e.g. `{ subscriptionIdentifier: [3, 9] }`), dropped for 3.1.1. */
  properties?: PublishProperties;
}

export interface DeliveredCopy {
  clientId: string;
  /** The PUBLISH as sent (its messageId included). */
  packet: IPublishPacket;
  /** 'written' for QoS 0; 'acknowledged' once PUBACK or PUBCOMP (or a failing PUBREC) came back. */
  outcome: 'written' | 'acknowledged' | 'connection lost';
  /** The reason code of the final acknowledgement (MQTT 5). */
  reasonCode?: number;
}

type Outcome = Pick<DeliveredCopy, 'outcome' | 'reasonCode'>;

/** A client id's session: what survives reconnects of a clean: false client. */
class Session {
  readonly subscriptions = new Map<string, StoredSubscription>();
}

interface PendingDelivery {
  qos: 1 | 2;
  settle: (outcome: Outcome) => void;
}

/** One socket: its parser, protocol version, message ids and the acknowledgements it owes or awaits. */
class Connection {
  clientId = '';
  protocolVersion: 3 | 4 | 5 = 4;
  session: Session | undefined;
  clean = true;
  will: IConnectPacket['will'];
  graceful = false;
  readonly parser: Parser = parser();
  /** Our QoS 1/2 PUBLISHes by message id, until their flow completes. */
  readonly outgoing = new Map<number, PendingDelivery>();
  /** Message ids of the client's QoS 2 PUBLISHes, until PUBREL. */
  readonly awaitingRelease = new Set<number>();
  readonly topicAliases = new Map<number, string>();
  readonly closed: Promise<void>;
  private lastMessageId = 0;

  constructor(
    readonly socket: Socket,
    private readonly onSend: (connection: Connection, packet: Packet) => void,
  ) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  get v5(): boolean {
    return this.protocolVersion === 5;
  }

  get open(): boolean {
    return this.session !== undefined && !this.socket.destroyed;
  }

  /** Queues the packet on the socket; resolves false if it could not be written. */
  send(packet: Packet): Promise<boolean> {
    this.onSend(this, packet);
    const bytes = generate(packet, { protocolVersion: this.protocolVersion });
    if (this.socket.destroyed) return Promise.resolve(false);
    return new Promise((resolve) => this.socket.write(bytes, (error) => resolve(!error)));
  }

  /** The next free message id of this connection. */
  allocateMessageId(): number {
    for (;;) {
      this.lastMessageId = (this.lastMessageId % 0xffff) + 1;
      if (!this.outgoing.has(this.lastMessageId)) return this.lastMessageId;
    }
  }

  /** Sends a PUBLISH and resolves once its QoS flow is complete or the connection is gone. */
  async publish(packet: IPublishPacket): Promise<DeliveredCopy> {
    const copy = (outcome: Outcome): DeliveredCopy => ({ clientId: this.clientId, packet, ...outcome });
    if (packet.qos === 0) return copy({ outcome: (await this.send(packet)) ? 'written' : 'connection lost' });
    const qos = packet.qos;
    packet.messageId = this.allocateMessageId();
    const settled = new Promise<Outcome>((settle) => this.outgoing.set(packet.messageId as number, { qos, settle }));
    if (!(await this.send(packet))) this.settle(packet.messageId, { outcome: 'connection lost' });
    return copy(await settled);
  }

  settle(messageId: number | undefined, outcome: Outcome): void {
    const pending = messageId === undefined ? undefined : this.outgoing.get(messageId);
    if (!pending || messageId === undefined) return;
    this.outgoing.delete(messageId);
    pending.settle(outcome);
  }

  /** Settles every unfinished delivery as lost (the socket closed). */
  loseAll(): void {
    for (const messageId of [...this.outgoing.keys()]) this.settle(messageId, { outcome: 'connection lost' });
  }
}

/** True when `topic` matches the MQTT `filter` (without any `$share/<group>/` prefix). */
export function topicMatches(filter: string, topic: string): boolean {
  const filterLevels = filter.split('/');
  const topicLevels = topic.split('/');
  // Leading wildcards never match $-topics ($SYS/...).
  if (topic.startsWith('$') && (filterLevels[0] === '+' || filterLevels[0] === '#')) return false;
  for (let i = 0; i < filterLevels.length; i++) {
    // '#' also matches the parent level: 'a/#' matches 'a'.
    if (filterLevels[i] === '#') return true;
    if (i >= topicLevels.length) return false;
    if (filterLevels[i] !== '+' && filterLevels[i] !== topicLevels[i]) return false;
  }
  return filterLevels.length === topicLevels.length;
}

/** Splits `$share/<group>/<filter>` into its group and filter; other filters have no group. */
export function parseShared(filter: string): { group?: string; filter: string } {
  const match = /^\$share\/([^/]+)\/(.+)$/.exec(filter);
  return match ? { group: match[1], filter: match[2] } : { filter };
}

function validFilter(full: string): boolean {
  if (full.startsWith('$share/') && parseShared(full).group === undefined) return false;
  const { group, filter } = parseShared(full);
  if (filter === '' || (group !== undefined && /[+#]/.test(group))) return false;
  const levels = filter.split('/');
  return levels.every((level, i) => (level.includes('#') ? level === '#' && i === levels.length - 1 : !level.includes('+') || level === '+'));
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: () => string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`FakeBroker: ${what()} not within ${timeoutMs} ms`)), timeoutMs);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/**
 * A scripted MQTT broker for tests, speaking the wire protocol (mqtt-packet) on 127.0.0.1 to real
 * mqtt.js clients, for broker behaviours Mosquitto cannot be made to show on demand: refused
 * CONNACKs and SUBACKs, downgraded grants, dropped connections on UNSUBSCRIBE, unanswered SUBSCRIBEs,
 * one copy per overlapping subscription, copies queued under arbitrary subscription identifiers.
 * Sessions (per client id) keep subscriptions only; session expiry and offline queues are not
 * modelled, and nothing is delivered to a client id that is not connected.
 */
export class FakeBroker extends EventEmitter<FakeBrokerEvents> {
  connack: number[];
  connackProperties: IConnackPacket['properties'];
  readonly refuse: Set<string>;
  grantQos: QoS | undefined;
  dropOnUnsubscribe: boolean;
  readonly silentSubscribe: Set<string>;

  /** Every packet received, in order. */
  readonly packets: PacketRecord[] = [];
  /** Every packet sent, in order. */
  readonly sent: PacketRecord[] = [];
  /** Malformed input (the broker destroyed the socket that sent it). */
  readonly errors: Error[] = [];
  /** Retained messages by topic. */
  readonly retained = new Map<string, IPublishPacket>();

  private readonly sockets = new Set<Connection>();
  private readonly sessions = new Map<string, Session>();
  private readonly shareCursors = new Map<string, number>();
  private assignedIds = 0;
  private closing: Promise<void> | undefined;
  private listeningPort = 0;

  private constructor(
    private readonly server: Server,
    script: FakeBrokerScript,
  ) {
    super();
    this.connack = [...(script.connack ?? [])];
    this.connackProperties = script.connackProperties;
    this.refuse = new Set(script.refuse);
    this.grantQos = script.grantQos;
    this.dropOnUnsubscribe = script.dropOnUnsubscribe ?? false;
    this.silentSubscribe = new Set(script.silentSubscribe);
  }

  static async start(script: FakeBrokerScript = {}): Promise<FakeBroker> {
    const server = createServer();
    const broker = new FakeBroker(server, script);
    server.on('connection', (socket) => broker.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    broker.listeningPort = (server.address() as AddressInfo).port;
    return broker;
  }

  get port(): number {
    return this.listeningPort;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Sockets open now (accepted, refused-but-not-yet-closed and not-yet-connected ones). */
  get connections(): number {
    return this.sockets.size;
  }

  /** Client ids with an accepted, open connection. */
  get clients(): string[] {
    return [...this.sockets].filter((connection) => connection.open).map((connection) => connection.clientId);
  }

  /** The subscriptions kept in a client id's session (connected or not). */
  subscriptions(clientId: string): StoredSubscription[] {
    return [...(this.sessions.get(clientId)?.subscriptions.values() ?? [])];
  }

  /** The packets of one kind received so far, optionally from one client id only. */
  received<C extends PacketCmd>(cmd: C, clientId?: string): PacketOf<C>[] {
    return this.packets
      .filter((record) => record.cmd === cmd && (clientId === undefined || record.clientId === clientId))
      .map((record) => record.packet as PacketOf<C>);
  }

  /** The next `event` (emitted after this call) for which `where` holds; rejects after `timeoutMs`. */
  next<E extends FakeBrokerEvent>(
    event: E,
    where: (value: FakeBrokerEventValue<E>) => boolean = () => true,
    timeoutMs = FAKE_BROKER_TIMEOUT_MS,
  ): Promise<FakeBrokerEventValue<E>> {
    // One untyped listener: EventEmitter's typed overloads cannot follow a generic event name.
    const events = this as EventEmitter;
    return new Promise((resolve, reject) => {
      const listener = (value: FakeBrokerEventValue<E>): void => {
        if (!where(value)) return;
        clearTimeout(timer);
        events.off(event, listener);
        resolve(value);
      };
      const timer = setTimeout(() => {
        events.off(event, listener);
        reject(new Error(`FakeBroker: no matching '${event}' event within ${timeoutMs} ms; received so far: ${this.history()}`));
      }, timeoutMs);
      events.on(event, listener);
    });
  }

  /** The next packet of one kind received (after this call) for which `where` holds; rejects after `timeoutMs`. */
  async nextPacket<C extends PacketCmd>(
    cmd: C,
    where: (packet: PacketOf<C>, clientId: string) => boolean = () => true,
    timeoutMs = FAKE_BROKER_TIMEOUT_MS,
  ): Promise<PacketOf<C>> {
    const record = await this.next('packet', (r) => r.cmd === cmd && where(r.packet as PacketOf<C>, r.clientId), timeoutMs);
    return record.packet as PacketOf<C>;
  }

  /**
   * Publishes to every connected client, one PUBLISH per matching stored subscription (one per
   * client with `oneCopyPerClient`), each with its subscription's identifier on MQTT 5; a `$share`
   * subscription group gets one copy in all. Resolves once every copy was acknowledged (QoS 1/2),
   * written (QoS 0) or lost with its connection; rejects after `timeoutMs`.
   */
  deliver(topic: string, payload: string | Buffer, options: DeliverOptions = {}): Promise<DeliveredCopy[]> {
    const qos = options.qos ?? 0;
    const properties = options.properties ?? {};
    if (options.retain) this.keepRetained({ cmd: 'publish', topic, payload, qos, retain: true, dup: false, properties });
    const copies = this.route(topic, payload, qos, options.retain ?? false, properties, undefined, options.oneCopyPerClient ?? false);
    return withTimeout(Promise.all(copies), options.timeoutMs ?? FAKE_BROKER_TIMEOUT_MS, () => `acknowledgement of ${copies.length} cop(ies) on '${topic}'`);
  }

  /** Sends one PUBLISH exactly as given (message id assigned) to a connected client id, e.g. copies queued under old identifiers. */
  deliverRaw(clientId: string, publish: RawPublish, timeoutMs = FAKE_BROKER_TIMEOUT_MS): Promise<DeliveredCopy> {
    const connection = [...this.sockets].find((candidate) => candidate.open && candidate.clientId === clientId);
    if (!connection) return Promise.reject(new Error(`FakeBroker: no connected client '${clientId}' (connected: ${this.clients.join(', ')})`));
    const packet: IPublishPacket = {
      cmd: 'publish',
      topic: publish.topic,
      payload: publish.payload,
      qos: publish.qos ?? 0,
      retain: publish.retain ?? false,
      dup: publish.dup ?? false,
      ...(connection.v5 && publish.properties ? { properties: publish.properties } : {}),
    };
    return withTimeout(connection.publish(packet), timeoutMs, () => `acknowledgement of the raw PUBLISH on '${publish.topic}' by '${clientId}'`);
  }

  /** Destroys every client socket (a lost connection; the server keeps listening); resolves once all closed. */
  async dropClients(): Promise<void> {
    const connections = [...this.sockets];
    for (const connection of connections) connection.socket.destroy();
    await Promise.all(connections.map((connection) => connection.closed));
  }

  /** Destroys every socket and closes the server. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      await this.dropClients();
      await closed;
    })();
    return this.closing;
  }

  private accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const connection = new Connection(socket, (from, packet) => this.sent.push({ clientId: from.clientId, cmd: packet.cmd, packet }));
    this.sockets.add(connection);
    connection.parser.on('packet', (packet: Packet) => this.handle(connection, packet));
    connection.parser.on('error', (error: unknown) => this.protocolError(connection, error instanceof Error ? error : new Error(String(error))));
    socket.on('data', (chunk: Buffer) => connection.parser.parse(chunk));
    // Resets from clients that vanish are expected here; 'close' follows.
    socket.on('error', () => undefined);
    socket.once('close', () => this.onClose(connection));
  }

  private handle(connection: Connection, packet: Packet): void {
    if (connection.socket.destroyed) return;
    const clientId = packet.cmd === 'connect' ? packet.clientId : connection.clientId;
    const record: PacketRecord = { clientId, cmd: packet.cmd, packet };
    this.packets.push(record);
    if (packet.cmd !== 'connect' && !connection.session) {
      this.protocolError(connection, new Error(`${packet.cmd} before an accepted CONNECT`));
      return;
    }
    switch (packet.cmd) {
      case 'connect':
        this.onConnect(connection, packet);
        break;
      case 'subscribe':
        this.onSubscribe(connection, packet);
        break;
      case 'unsubscribe':
        this.onUnsubscribe(connection, packet);
        break;
      case 'publish':
        this.onPublish(connection, packet);
        break;
      case 'pubrel':
        connection.awaitingRelease.delete(packet.messageId ?? -1);
        void connection.send({ cmd: 'pubcomp', messageId: packet.messageId, ...(connection.v5 ? { reasonCode: 0 } : {}) });
        break;
      case 'puback':
        this.onAck(connection, packet.messageId, 1, packet.reasonCode);
        break;
      case 'pubrec':
        this.onPubrec(connection, packet.messageId, packet.reasonCode);
        break;
      case 'pubcomp':
        this.onAck(connection, packet.messageId, 2, packet.reasonCode);
        break;
      case 'pingreq':
        void connection.send({ cmd: 'pingresp' });
        break;
      case 'disconnect':
        // MQTT 5 reason 0x04 asks for the will to be sent all the same.
        connection.graceful = packet.reasonCode !== 0x04;
        this.emit('disconnect', { clientId, packet });
        connection.socket.end();
        break;
      default:
        break;
    }
    this.emit('packet', record);
  }

  private onConnect(connection: Connection, packet: IConnectPacket): void {
    if (connection.session) {
      this.protocolError(connection, new Error('a second CONNECT on one connection'));
      return;
    }
    connection.protocolVersion = packet.protocolVersion ?? 4;
    const assigned = packet.clientId === '' ? `fake-broker-${++this.assignedIds}` : undefined;
    connection.clientId = assigned ?? packet.clientId;
    const returnCode = this.connack.shift() ?? 0;
    const properties =
      connection.v5 && (this.connackProperties || assigned)
        ? { ...this.connackProperties, ...(assigned ? { assignedClientIdentifier: assigned } : {}) }
        : undefined;
    const code = connection.v5 ? { reasonCode: returnCode } : { returnCode };
    if (returnCode !== 0) {
      void connection.send({ cmd: 'connack', sessionPresent: false, ...code, ...(properties ? { properties } : {}) });
      // The server closes the connection after a refusing CONNACK.
      connection.socket.end();
      this.emit('connect', { clientId: connection.clientId, packet, returnCode, sessionPresent: false });
      return;
    }
    // Session takeover: an older connection with this client id goes.
    for (const other of this.sockets) if (other !== connection && other.open && other.clientId === connection.clientId) other.socket.destroy();
    connection.clean = packet.clean ?? true;
    connection.will = packet.will;
    const kept = connection.clean ? undefined : this.sessions.get(connection.clientId);
    const session = kept ?? new Session();
    this.sessions.set(connection.clientId, session);
    connection.session = session;
    const sessionPresent = kept !== undefined;
    void connection.send({ cmd: 'connack', sessionPresent, ...code, ...(properties ? { properties } : {}) });
    this.emit('connect', { clientId: connection.clientId, packet, returnCode, sessionPresent });
  }

  private onSubscribe(connection: Connection, packet: ISubscribePacket): void {
    const session = connection.session as Session;
    if (packet.subscriptions.some((subscription) => this.silentSubscribe.has(subscription.topic))) {
      this.emit('subscribe', { clientId: connection.clientId, packet, granted: undefined });
      return;
    }
    const identifier = connection.v5 ? packet.properties?.subscriptionIdentifier : undefined;
    const granted: number[] = [];
    const added: Array<{ subscription: StoredSubscription; isNew: boolean }> = [];
    for (const asked of packet.subscriptions) {
      if (!validFilter(asked.topic)) {
        granted.push(connection.v5 ? 0x8f : 0x80);
        continue;
      }
      if (this.refuse.has(asked.topic)) {
        granted.push(connection.v5 ? 0x87 : 0x80);
        continue;
      }
      const qos = Math.min(asked.qos, this.grantQos ?? 2) as QoS;
      const subscription: StoredSubscription = {
        filter: asked.topic,
        qos,
        nl: asked.nl ?? false,
        rap: asked.rap ?? false,
        rh: asked.rh ?? 0,
        ...(identifier === undefined ? {} : { identifier }),
      };
      added.push({ subscription, isNew: !session.subscriptions.has(asked.topic) });
      session.subscriptions.set(asked.topic, subscription);
      granted.push(qos);
    }
    void connection.send({ cmd: 'suback', messageId: packet.messageId, granted });
    for (const { subscription, isNew } of added) this.sendRetained(connection, subscription, isNew);
    this.emit('subscribe', { clientId: connection.clientId, packet, granted });
  }

  /** Retained messages for a new or replaced subscription, per its retain handling (never for $share). */
  private sendRetained(connection: Connection, subscription: StoredSubscription, isNew: boolean): void {
    const { group, filter } = parseShared(subscription.filter);
    if (group !== undefined || subscription.rh === 2 || (subscription.rh === 1 && !isNew)) return;
    for (const message of this.retained.values()) {
      if (!topicMatches(filter, message.topic)) continue;
      const properties = { ...message.properties, ...(subscription.identifier === undefined ? {} : { subscriptionIdentifier: subscription.identifier }) };
      void connection.publish({
        cmd: 'publish',
        topic: message.topic,
        payload: message.payload,
        qos: Math.min(message.qos, subscription.qos) as QoS,
        retain: true,
        dup: false,
        ...(connection.v5 ? { properties } : {}),
      });
    }
  }

  private onUnsubscribe(connection: Connection, packet: IUnsubscribePacket): void {
    if (this.dropOnUnsubscribe) {
      connection.socket.destroy();
      this.emit('unsubscribe', { clientId: connection.clientId, packet, dropped: true });
      return;
    }
    const session = connection.session as Session;
    const granted = packet.unsubscriptions.map((filter) => (session.subscriptions.delete(filter) ? 0 : 0x11));
    void connection.send({ cmd: 'unsuback', messageId: packet.messageId, granted });
    this.emit('unsubscribe', { clientId: connection.clientId, packet, dropped: false });
  }

  private onPublish(connection: Connection, packet: IPublishPacket): void {
    const alias = packet.properties?.topicAlias;
    if (alias !== undefined) {
      if (packet.topic) connection.topicAliases.set(alias, packet.topic);
      const topic = connection.topicAliases.get(alias);
      if (topic === undefined) {
        this.protocolError(connection, new Error(`unknown topic alias ${alias}`));
        return;
      }
      packet.topic = topic;
    }
    const duplicate = packet.qos === 2 && connection.awaitingRelease.has(packet.messageId ?? -1);
    if (!duplicate) {
      const { topicAlias: _alias, subscriptionIdentifier: _identifier, ...properties } = packet.properties ?? {};
      if (packet.retain) this.keepRetained({ ...packet, properties });
      // Copies to other clients settle on their own; nobody awaits them here.
      void this.route(packet.topic, packet.payload, packet.qos, packet.retain, properties, connection, false);
    }
    const reason = connection.v5 ? { reasonCode: 0 } : {};
    if (packet.qos === 1) void connection.send({ cmd: 'puback', messageId: packet.messageId, ...reason });
    if (packet.qos === 2) {
      connection.awaitingRelease.add(packet.messageId ?? -1);
      void connection.send({ cmd: 'pubrec', messageId: packet.messageId, ...reason });
    }
    if (!duplicate) this.emit('publish', { clientId: connection.clientId, packet });
  }

  private onAck(connection: Connection, messageId: number | undefined, qos: 1 | 2, reasonCode: number | undefined): void {
    const pending = messageId === undefined ? undefined : connection.outgoing.get(messageId);
    if (pending?.qos !== qos) return;
    connection.settle(messageId, { outcome: 'acknowledged', ...(reasonCode === undefined ? {} : { reasonCode }) });
  }

  private onPubrec(connection: Connection, messageId: number | undefined, reasonCode: number | undefined): void {
    const pending = messageId === undefined ? undefined : connection.outgoing.get(messageId);
    if (pending?.qos !== 2) return;
    // A failing PUBREC (MQTT 5) ends the flow: no PUBREL follows.
    if (reasonCode !== undefined && reasonCode >= 0x80) {
      connection.settle(messageId, { outcome: 'acknowledged', reasonCode });
      return;
    }
    void connection.send({ cmd: 'pubrel', messageId, ...(connection.v5 ? { reasonCode: 0 } : {}) });
  }

  private onClose(connection: Connection): void {
    this.sockets.delete(connection);
    connection.loseAll();
    const session = connection.session;
    if (session) {
      // A clean session ends with its connection, unless a newer connection (takeover) holds it.
      const held = [...this.sockets].some((other) => other.session === session);
      if (connection.clean && !held && this.sessions.get(connection.clientId) === session) this.sessions.delete(connection.clientId);
      const will = connection.will;
      if (will && !connection.graceful && !this.closing) {
        const { willDelayInterval: _delay, ...properties } = will.properties ?? {};
        const qos = will.qos ?? 0;
        if (will.retain) this.keepRetained({ cmd: 'publish', topic: will.topic, payload: will.payload, qos, retain: true, dup: false, properties });
        void this.route(will.topic, will.payload, qos, will.retain ?? false, properties, connection, false);
      }
    }
    this.emit('close', { clientId: connection.clientId, graceful: connection.graceful });
  }

  private protocolError(connection: Connection, error: Error): void {
    this.errors.push(error);
    connection.socket.destroy();
    this.emit('protocolError', error);
  }

  private keepRetained(packet: IPublishPacket): void {
    // Identifiers and aliases belong to one hop; each later copy gets its own.
    const { subscriptionIdentifier: _identifier, topicAlias: _alias, ...properties } = packet.properties ?? {};
    if (packet.payload.length === 0) this.retained.delete(packet.topic);
    else this.retained.set(packet.topic, { ...packet, retain: true, dup: false, properties });
  }

  /**
   * The copies of one message: per matching subscription of every connected client (nl honoured on
   * MQTT 5 for the publisher's own subscriptions), one member of each `$share` group in turn.
   */
  private route(
    topic: string,
    payload: string | Buffer,
    qos: QoS,
    retain: boolean,
    properties: PublishProperties,
    from: Connection | undefined,
    oneCopyPerClient: boolean,
  ): Array<Promise<DeliveredCopy>> {
    const targets = new Map<Connection, StoredSubscription[]>();
    const shared = new Map<string, Array<{ connection: Connection; subscription: StoredSubscription }>>();
    for (const connection of this.sockets) {
      if (!connection.open) continue;
      for (const subscription of (connection.session as Session).subscriptions.values()) {
        const { group, filter } = parseShared(subscription.filter);
        if (!topicMatches(filter, topic)) continue;
        if (group !== undefined) {
          const members = shared.get(subscription.filter) ?? [];
          members.push({ connection, subscription });
          shared.set(subscription.filter, members);
        } else if (!(connection === from && connection.v5 && subscription.nl)) {
          targets.set(connection, [...(targets.get(connection) ?? []), subscription]);
        }
      }
    }
    for (const [key, members] of shared) {
      const cursor = this.shareCursors.get(key) ?? 0;
      this.shareCursors.set(key, cursor + 1);
      const { connection, subscription } = members[cursor % members.length];
      targets.set(connection, [...(targets.get(connection) ?? []), subscription]);
    }
    const copies: Array<Promise<DeliveredCopy>> = [];
    for (const [connection, subscriptions] of targets) {
      const groups = oneCopyPerClient ? [subscriptions] : subscriptions.map((subscription) => [subscription]);
      for (const group of groups) copies.push(connection.publish(this.copy(connection, group, topic, payload, qos, retain, properties)));
    }
    return copies;
  }

  /** One PUBLISH for a client covering `subscriptions`: the highest granted QoS among them caps the QoS. */
  private copy(
    connection: Connection,
    subscriptions: StoredSubscription[],
    topic: string,
    payload: string | Buffer,
    qos: QoS,
    retain: boolean,
    properties: PublishProperties,
  ): IPublishPacket {
    const granted = Math.max(...subscriptions.map((subscription) => subscription.qos));
    const identifiers = subscriptions.flatMap((subscription) => (subscription.identifier === undefined ? [] : [subscription.identifier]));
    const { subscriptionIdentifier: _ignored, ...rest } = properties;
    const withIdentifiers = identifiers.length === 0 ? rest : { ...rest, subscriptionIdentifier: identifiers.length === 1 ? identifiers[0] : identifiers };
    return {
      cmd: 'publish',
      topic,
      payload,
      qos: Math.min(qos, granted) as QoS,
      // Retain as published only for rap subscriptions (MQTT 5); 3.1.1 forwards with retain 0.
      retain: retain && connection.v5 && subscriptions.some((subscription) => subscription.rap),
      dup: false,
      ...(connection.v5 && Object.keys(withIdentifiers).length > 0 ? { properties: withIdentifiers } : {}),
    };
  }

  /** The packets received so far, briefly, for timeout messages. */
  private history(): string {
    const last = this.packets.slice(-20).map((record) => `${record.cmd}(${record.clientId})`);
    return last.length ? `${this.packets.length > 20 ? '..., ' : ''}${last.join(', ')}` : 'nothing';
  }
}
