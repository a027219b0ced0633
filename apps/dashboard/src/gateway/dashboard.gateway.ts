import { Logger, type OnModuleDestroy } from '@nestjs/common';
import {
  Ack,
  ConnectedSocket,
  MessageBody,
  SubscribeMessage,
  WebSocketGateway,
  type OnGatewayConnection,
  type OnGatewayDisconnect,
  type OnGatewayInit,
} from '@nestjs/websockets';
import { MqttService } from 'nestjs-mqtt';
import { merge, skip, Subscription } from 'rxjs';
import type { Server, Socket } from 'socket.io';
import { DashboardConfig } from '../dashboard.config.js';
import { PAGE_EVENTS, SERVER_EVENTS, type Hello, type Reply } from '../protocol.js';
import { SensorSimulator } from '../simulator/sensor-simulator.js';
import { DashboardPage } from './dashboard-page.js';
import { DashboardSnapshots } from './dashboard-snapshots.js';
import { tokenCheck } from './handshake-checks.js';
import { checkPublish, checkSimulate, checkSubscribe, checkUnsubscribe, checkUnsubscribeAll, RequestRefused } from './page-requests.js';
import { PageSubscriptions } from './page-subscriptions.js';

/**
 * The page's socket.io endpoint (protocol.ts): `hello` on connect, `snapshot` every `snapshotMs` (and at once when a
 * client's status or the simulator changes), `messages` every `batchMs`. Every request is checked before anything
 * reaches the broker and answered through its ack; a request without an ack callback is ignored (nothing is done).
 */
@WebSocketGateway()
export class DashboardGateway implements OnGatewayInit<Server>, OnGatewayConnection<Socket>, OnGatewayDisconnect<Socket>, OnModuleDestroy {
  private readonly logger = new Logger('DashboardGateway');
  private readonly pages = new Map<string, DashboardPage>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly changes = new Subscription();

  constructor(
    private readonly config: DashboardConfig,
    private readonly mqtt: MqttService,
    private readonly subscriptions: PageSubscriptions,
    private readonly snapshots: DashboardSnapshots,
    private readonly simulator: SensorSimulator,
  ) {}

  afterInit(server: Server): void {
    server.use(tokenCheck(this.config.token));
    const { batchMs, snapshotMs } = this.config.limits;
    this.timers.push(
      setInterval(() => this.flushMessages(), batchMs),
      setInterval(() => this.sendSnapshots(), snapshotMs),
    );
    this.changes.add(merge(this.mqtt.status$.pipe(skip(1)), this.simulator.on$.pipe(skip(1))).subscribe(() => this.sendSnapshots()));
  }

  handleConnection(socket: Socket): void {
    const page = new DashboardPage(socket, this.config.limits.messagesPerSecond);
    this.pages.set(socket.id, page);
    const { maxPayloadBytes, previewBytes, messagesPerSecond } = this.config.limits;
    const hello: Hello = { ...this.snapshots.of(page), limits: { maxPayloadBytes, previewBytes, messagesPerSecond } };
    socket.emit(SERVER_EVENTS.hello, hello);
  }

  handleDisconnect(socket: Socket): void {
    const page = this.pages.get(socket.id);
    if (!page) return;
    this.pages.delete(socket.id);
    this.subscriptions.unsubscribeAll(page).catch((error: Error) => this.logger.debug(`a closed page's subscriptions: ${error.message}`));
  }

  onModuleDestroy(): void {
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    this.changes.unsubscribe();
  }

  @SubscribeMessage(PAGE_EVENTS.subscribe)
  subscribe(@ConnectedSocket() socket: Socket, @MessageBody() body: unknown, @Ack() ack: unknown): Promise<void> {
    return this.answer(socket, ack, async (page) => {
      const { filter, qos } = checkSubscribe(body);
      await this.subscriptions.subscribe(page, filter, qos);
      return { subscriptions: page.subscriptions };
    });
  }

  @SubscribeMessage(PAGE_EVENTS.unsubscribe)
  unsubscribe(@ConnectedSocket() socket: Socket, @MessageBody() body: unknown, @Ack() ack: unknown): Promise<void> {
    return this.answer(socket, ack, async (page) => {
      const filter = checkUnsubscribe(body);
      if (!(await this.subscriptions.unsubscribe(page, filter.brokerFilter))) {
        throw new RequestRefused('filter', `this page did not subscribe to ${JSON.stringify(filter.source)}`);
      }
      return { subscriptions: page.subscriptions };
    });
  }

  @SubscribeMessage(PAGE_EVENTS.unsubscribeAll)
  unsubscribeAll(@ConnectedSocket() socket: Socket, @MessageBody() body: unknown, @Ack() ack: unknown): Promise<void> {
    return this.answer(socket, ack, async (page) => {
      checkUnsubscribeAll(body);
      await this.subscriptions.unsubscribeAll(page);
      return { subscriptions: page.subscriptions };
    });
  }

  @SubscribeMessage(PAGE_EVENTS.publish)
  publish(@ConnectedSocket() socket: Socket, @MessageBody() body: unknown, @Ack() ack: unknown): Promise<void> {
    return this.answer(socket, ack, async () => {
      const { topic, payload, qos, retain, userProperties } = checkPublish(body, this.config.limits, this.mqtt.describe().protocolVersion === 5);
      const { messageId } = await this.mqtt.publish(topic, payload, { qos, retain, ...(userProperties && { properties: { userProperties } }) });
      return messageId === undefined ? {} : { messageId };
    });
  }

  @SubscribeMessage(PAGE_EVENTS.simulate)
  simulate(@ConnectedSocket() socket: Socket, @MessageBody() body: unknown, @Ack() ack: unknown): Promise<void> {
    return this.answer(socket, ack, () => {
      this.simulator.set(checkSimulate(body));
      return { simulate: this.simulator.on };
    });
  }

  /** Runs a request and answers it: `{ ok: true, ...result }`, or `{ ok: false, error }` naming the field. Never throws. */
  private async answer(socket: Socket, ack: unknown, work: (page: DashboardPage) => object | Promise<object>): Promise<void> {
    const page = this.pages.get(socket.id);
    if (typeof ack !== 'function' || !page) return;
    let reply: Reply<object>;
    try {
      reply = { ok: true, ...(await work(page)) };
    } catch (error) {
      if (!(error instanceof RequestRefused)) this.logger.debug(`a page's request failed: ${error instanceof Error ? error.message : String(error)}`);
      reply = { ok: false, error: error instanceof Error ? error.message : String(error) };
    }
    try {
      (ack as (reply: Reply<object>) => void)(reply);
    } catch (error) {
      this.logger.debug(`a reply could not be sent: ${(error as Error).message}`);
    }
  }

  private flushMessages(): void {
    for (const page of this.pages.values()) {
      if (!page.writable) continue;
      const batch = page.outbox.take();
      if (batch) page.socket.emit(SERVER_EVENTS.messages, batch);
    }
  }

  private sendSnapshots(): void {
    if (this.pages.size === 0) return;
    const clients = this.snapshots.describeClients();
    for (const page of this.pages.values()) {
      if (page.writable) page.socket.emit(SERVER_EVENTS.snapshot, this.snapshots.of(page, clients));
    }
  }
}
