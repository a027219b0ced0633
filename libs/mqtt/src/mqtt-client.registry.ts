import { Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationShutdown } from '@nestjs/common';
import { DEFAULT_MQTT_CLIENT_NAME } from './mqtt.constants.js';
import { MqttConfigError } from './errors/mqtt-config.error.js';
import { MqttHandlerError } from './errors/mqtt-handler.error.js';
import { MqttConnection } from './connection/mqtt-connection.js';
import type { SubscriptionRequest } from './connection/subscription-registry.js';
import { MqttService } from './mqtt.service.js';
import type { MqttModuleOptions } from './options/mqtt-module-options.interface.js';
import { resolveMqttOptions } from './options/resolve-mqtt-options.js';
import { strandedShareWarning } from './options/share-sessions.js';
import { createTelemetry, loadOtelApi } from './observability/load-telemetry.js';

/** A subscription a decorator asks for: its client, the request, and the handler (`Class#method`) for errors. */
export interface DecoratedSubscription {
  readonly connection: MqttConnection;
  readonly request: SubscriptionRequest;
  readonly label: string;
}

/** The subscriptions each client makes at start: one per distinct broker filter. */
export type SubscriptionPlan = Map<MqttConnection, Map<string, SubscriptionRequest>>;

/**
 * One subscription per distinct broker filter and client, at the highest QoS any handler asked for.
 * Handlers of one filter must agree on its MQTT 5 options (a filter is subscribed once).
 */
export function planSubscriptions(subscriptions: readonly DecoratedSubscription[]): SubscriptionPlan {
  const plan: SubscriptionPlan = new Map();
  for (const { connection, request, label } of subscriptions) {
    let forClient = plan.get(connection);
    if (!forClient) plan.set(connection, (forClient = new Map()));
    const existing = forClient.get(request.filter);
    if (!existing) {
      forClient.set(request.filter, request);
      continue;
    }
    if (existing.nl !== request.nl || existing.rap !== request.rap || existing.rh !== request.rh) {
      throw new MqttHandlerError(label, `subscribes '${request.filter}' with other MQTT 5 subscription options than another handler of that filter`);
    }
    if (request.qos > existing.qos) forClient.set(request.filter, request);
  }
  return plan;
}

interface Client {
  readonly connection: MqttConnection;
  /** `MqttModule` (default client) or `MqttModule:<name>`: the context of the client's log lines. */
  readonly logger: Logger;
}

/**
 * The clients of one application, by name. Created clients stay unconnected until the explorer
 * has bound every handler and calls startAll(); shutdown drains every client, then disconnects them.
 */
@Injectable()
export class MqttClientRegistry implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly clients = new Map<string, Client>();

  /**
   * Creates a client while the Nest app is created: that is when `@opentelemetry/api` is loaded (unless
   * `telemetry: false`) and the providers the app registered by then are taken.
   */
  async create(name: string, options: MqttModuleOptions): Promise<MqttService> {
    this.assertUnregistered(name);
    const resolved = resolveMqttOptions(options);
    const otel = resolved.telemetry ? await loadOtelApi() : undefined;
    // Again after the await: two forRoot() of one name may both have passed the first check.
    this.assertUnregistered(name);
    const logger = new Logger(name === DEFAULT_MQTT_CLIENT_NAME ? 'MqttModule' : `MqttModule:${name}`);
    const connection = new MqttConnection(name, resolved, logger, undefined, otel && ((client, gauges) => createTelemetry(otel, client, gauges)));
    this.clients.set(name, { connection, logger });
    return new MqttService(connection);
  }

  private assertUnregistered(name: string): void {
    if (this.clients.has(name)) {
      throw new MqttConfigError('name', `a client named '${name}' is registered twice; give each MqttModule.forRoot() its own name`);
    }
  }

  get(name: string): MqttConnection | undefined {
    return this.clients.get(name)?.connection;
  }

  names(): string[] {
    return [...this.clients.keys()];
  }

  all(): MqttConnection[] {
    return [...this.clients.values()].map((client) => client.connection);
  }

  /**
   * Starts every client with the subscriptions its decorators ask for (planned first: a conflict
   * fails before any client connects; `$share` handlers on a session that would strand their messages are
   * warned about). With `connect: 'wait'`, resolves once every client is
   * connected and its decorated subscriptions are granted; a refused one fails the bootstrap.
   */
  async startAll(subscriptions: readonly DecoratedSubscription[]): Promise<void> {
    const plan = planSubscriptions(subscriptions);
    for (const { connection, logger } of this.clients.values()) {
      const warning = strandedShareWarning(connection.name, connection.options, plan.get(connection)?.keys() ?? []);
      if (warning) logger.warn(warning);
    }
    await Promise.all([...this.clients.values()].map((client) => this.start(client, plan.get(client.connection))));
  }

  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all(this.all().map((connection) => connection.drain()));
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.all().map((connection) => connection.close()));
  }

  private async start({ connection, logger }: Client, requests: Map<string, SubscriptionRequest> | undefined): Promise<void> {
    // Registered before connecting, so the first CONNACK sends them together.
    const granted = requests?.size ? connection.subscribe([...requests.values()]) : undefined;
    if (connection.options.connect === 'background') {
      granted?.catch((error: Error) => logger.error(error.message));
      await connection.start();
      return;
    }
    // Handled here whatever happens next: a failed start closes the client, which rejects it.
    const outcome = granted?.then(
      () => undefined,
      (error: Error) => error,
    );
    await connection.start();
    const refused = await outcome;
    if (refused) {
      // Bootstrap fails: the client must not stay connected behind a failed app.
      await connection.close();
      throw refused;
    }
  }
}
