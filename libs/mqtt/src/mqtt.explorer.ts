import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { DEFAULT_MQTT_CLIENT_NAME, ENHANCER_METADATA_KEYS, ROUTE_ARGS_METADATA } from './mqtt.constants.js';
import type { MqttEventMetadata, MqttEventOptions, OnMessageOptions } from './decorators/on-event.decorators.js';
import type { OnTopicMetadata, OnTopicOptions } from './decorators/on-topic.decorator.js';
import { MqttParamType } from './interfaces/mqtt-handler.interface.js';
import { MqttHandlerError } from './errors/mqtt-handler.error.js';
import type { PayloadFormat } from './interfaces/mqtt-message.interface.js';
import type { BoundHandler } from './dispatch/message-dispatcher.js';
import { HandlerInvokerFactory, type PreparedHandler } from './dispatch/handler-invoker.js';
import { MqttClientRegistry, type DecoratedSubscription } from './mqtt-client.registry.js';
import type { MqttConnection } from './connection/mqtt-connection.js';
import { MqttMetadataAccessor } from './mqtt-metadata.accessor.js';
import { handlerError, type ErrorFactory } from './errors/error-factory.js';
import {
  assertAckMode,
  assertInteger,
  assertKnownKeys,
  assertObject,
  assertPayloadFormat,
  assertQos,
  assertShareGroup,
  keysOf,
  optionalBoolean,
  optionalString,
} from './options/assert.js';
import { parseTopicFilter, toSharedFilter } from './protocol/topic-filter.js';

const TOPIC_OPTION_KEYS = keysOf<OnTopicOptions>({
  qos: true,
  share: true,
  client: true,
  payload: true,
  subscribe: true,
  ack: true,
  noLocal: true,
  retainAsPublished: true,
  retainHandling: true,
  reply: true,
});
const MESSAGE_OPTION_KEYS = keysOf<OnMessageOptions>({ client: true, payload: true, reply: true });
const CLIENT_EVENT_OPTION_KEYS = keysOf<MqttEventOptions>({ client: true });

type InstanceWrapper = ReturnType<DiscoveryService['getProviders']>[number];

/** What Nest's enhancer decorators are called in the warning for client-event handlers (ENHANCER_METADATA_KEYS order). */
const ENHANCER_NAMES = ['guards', 'interceptors', 'pipes', 'exception filters'] as const;

/**
 * Finds `@OnTopic`, `@OnMessage` and the client-event decorators on providers and controllers
 * at module init, validates them (errors name `Class#method`) and binds them to their clients.
 * Then it hands the decorated subscriptions to MqttClientRegistry, which starts the clients: no
 * message or CONNACK can arrive before its handler exists, and user `onModuleInit` hooks of
 * modules initialised later see a connected client.
 */
@Injectable()
export class MqttExplorer implements OnModuleInit {
  private readonly logger = new Logger('MqttExplorer');

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly accessor: MqttMetadataAccessor,
    private readonly registry: MqttClientRegistry,
    private readonly invokers: HandlerInvokerFactory,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.registry.startAll(this.explore());
  }

  /** Binds every decorated method; returns the subscriptions the decorators ask for, in discovery order. */
  private explore(): DecoratedSubscription[] {
    const subscriptions: DecoratedSubscription[] = [];
    const wrappers = [...this.discovery.getControllers(), ...this.discovery.getProviders()];
    for (const wrapper of wrappers) {
      const instance: unknown = wrapper.instance;
      // Aliases (useExisting) would register the same handlers twice.
      if (!instance || typeof instance !== 'object' || wrapper.isAlias) continue;
      const prototype: object | null = Object.getPrototypeOf(instance);
      if (!prototype) continue;
      for (const methodName of this.scanner.getAllMethodNames(prototype)) {
        this.bindMethod(wrapper, instance, methodName, subscriptions);
      }
    }
    return subscriptions;
  }

  private bindMethod(wrapper: InstanceWrapper, instance: object, methodName: string, subscriptions: DecoratedSubscription[]): void {
    const method: unknown = (instance as Record<string, unknown>)[methodName];
    const topics = this.accessor.topicHandlers(method);
    const events = this.accessor.eventHandlers(method);
    if (topics.length === 0 && events.length === 0) return;

    const label = `${instance.constructor.name}#${methodName}`;
    if (!wrapper.isDependencyTreeStatic()) {
      this.logger.warn(`${label} is request-scoped or transient; MQTT handlers must be on static providers, so it is not bound`);
      return;
    }
    const clientEvents = events.filter(({ event }) => event !== 'message');
    const fallbacks = events.filter(({ event }) => event === 'message');
    if (clientEvents.length > 0) {
      this.warnUnusedEnhancers(label, instance, methodName, clientEvents);
      for (const metadata of clientEvents) this.bindEventHandler(label, instance, methodName, metadata);
    }
    // Client events call the method directly: only @OnTopic and @OnMessage need an invoker.
    if (topics.length === 0 && fallbacks.length === 0) return;
    const prepared = this.invokers.prepare(instance, methodName);
    // A method's stacked filters are told apart by subscription identifier; a copy withheld by
    // No Local on one of them but not the other would decide which one runs the method.
    if (new Set(topics.map(({ options }) => options?.noLocal === true)).size > 1) {
      throw new MqttHandlerError(label, 'stacked @OnTopic decorators of one method must agree on noLocal');
    }
    const names = topicParamNames(instance, methodName);
    for (const metadata of topics) {
      if (names.length > 0) checkTopicParams(label, names, metadata.filters);
      this.bindTopicHandler(label, prepared, metadata, subscriptions);
    }
    for (const metadata of fallbacks) {
      this.bindFallbackHandler(label, prepared, metadata);
    }
  }

  private bindTopicHandler(label: string, prepared: PreparedHandler, { filters, options }: OnTopicMetadata, subscriptions: DecoratedSubscription[]): void {
    checkTopicOptions(label, options);
    const connection = this.connectionFor(label, options.client);
    if (!Array.isArray(filters) || filters.length === 0) {
      throw new MqttHandlerError(label, '@OnTopic needs at least one topic filter');
    }
    const handler = this.bound(label, prepared, connection, options.payload, options.ack, options.reply);
    const share = options.share === false ? undefined : (options.share ?? connection.options.share);
    const qos = options.qos ?? 0;
    const mqtt5Options = { noLocal: options.noLocal, retainAsPublished: options.retainAsPublished, retainHandling: options.retainHandling };
    if (connection.options.protocolVersion !== 5 && Object.values(mqtt5Options).some((value) => value !== undefined)) {
      throw new MqttHandlerError(label, 'noLocal, retainAsPublished and retainHandling are MQTT 5 subscription options; the client speaks MQTT 3.1.1');
    }
    for (const filter of filters) {
      const parsed = parseTopicFilter(filter, `topic filter of ${label}`);
      if (options.subscribe === false) {
        connection.addRoute(parsed, handler);
        continue;
      }
      const brokerFilter = toSharedFilter(parsed, share, `topic filter of ${label}`);
      connection.addRoute(parsed, handler, brokerFilter);
      subscriptions.push({
        connection,
        label,
        request: {
          filter: brokerFilter,
          qos,
          ...(options.noLocal !== undefined ? { nl: options.noLocal } : {}),
          ...(options.retainAsPublished !== undefined ? { rap: options.retainAsPublished } : {}),
          ...(options.retainHandling !== undefined ? { rh: options.retainHandling } : {}),
        },
      });
    }
  }

  /**
   * Client-event handlers (`@OnConnect`, `@OnError`, ...) are called directly, outside Nest's
   * pipeline: enhancers on the method would silently do nothing, so say so once, at bootstrap.
   */
  private warnUnusedEnhancers(label: string, instance: object, methodName: string, events: readonly MqttEventMetadata[]): void {
    const method: unknown = (instance as Record<string, unknown>)[methodName];
    if (typeof method !== 'function') return;
    const found = ENHANCER_NAMES.filter((_name, index) => Reflect.getMetadata(ENHANCER_METADATA_KEYS[index], method) !== undefined);
    if (found.length === 0) return;
    const decorators = [...new Set(events.map(({ event }) => eventDecoratorName(event)))].sort();
    this.logger.warn(
      `${label} has ${joinWords(found)}, which ${joinWords(decorators)} handlers do not run: client-event handlers are called directly; ` +
        'guards, interceptors, pipes and exception filters apply to @OnTopic and @OnMessage handlers only',
    );
  }

  /** `@OnMessage`: messages no route matched, through the prepared invoker like `@OnTopic`. */
  private bindFallbackHandler(label: string, prepared: PreparedHandler, { event, options }: MqttEventMetadata): void {
    const fail = checkEventOptions(label, event, options);
    if (options.payload !== undefined) assertPayloadFormat(options.payload, 'payload', fail);
    optionalBoolean(options.reply, 'reply', fail);
    const connection = this.connectionFor(label, options.client);
    connection.addFallback(this.bound(label, prepared, connection, options.payload, undefined, options.reply));
  }

  /** `@OnConnect`, `@OnError`, ...: the method is called directly with the event's arguments. */
  private bindEventHandler(label: string, instance: object, methodName: string, { event, options }: MqttEventMetadata): void {
    checkEventOptions(label, event, options);
    const connection = this.connectionFor(label, options.client);
    const method = (instance as Record<string, (...args: unknown[]) => unknown>)[methodName];
    connection.onClientEvent(event, { label, call: (...args) => method.apply(instance, args) });
  }

  private bound(
    label: string,
    prepared: PreparedHandler,
    connection: MqttConnection,
    payload: PayloadFormat | undefined,
    ack: OnTopicOptions['ack'],
    reply: boolean | undefined,
  ): BoundHandler {
    // Every field written out, in internalHandler()'s order: the dispatcher sees one object shape.
    return {
      label,
      // One per method: stacked decorators of one method run it once per message.
      key: prepared,
      reply: reply ?? connection.options.reply,
      invoke: prepared.invoke,
      needsContext: prepared.needsContext,
      format: payload ?? connection.options.payload,
      ack: ack ?? connection.options.ack,
      filterError: prepared.filterError,
    };
  }

  private connectionFor(label: string, client: string | undefined): MqttConnection {
    const name = client ?? DEFAULT_MQTT_CLIENT_NAME;
    const connection = this.registry.get(name);
    if (!connection) {
      const known = this.registry.names();
      throw new MqttHandlerError(
        label,
        `uses the MQTT client '${name}', but no MqttModule.forRoot(${name === DEFAULT_MQTT_CLIENT_NAME ? '' : `{ name: '${name}' }`}) is registered` +
          (known.length ? ` (registered: ${known.join(', ')})` : ''),
      );
    }
    return connection;
  }
}

/**
 * What every event decorator takes (`client`, a string) and, for `@OnMessage`, which keys; returns
 * the handler's error factory for the rest. `payload` and `reply` are `@OnMessage` options only.
 */
function checkEventOptions(label: string, event: MqttEventMetadata['event'], options: unknown): ErrorFactory {
  const fail = handlerError(label);
  const decorator = eventDecoratorName(event);
  assertObject(options, `${decorator} options`, fail);
  const message = event === 'message';
  assertKnownKeys(options, message ? MESSAGE_OPTION_KEYS : CLIENT_EVENT_OPTION_KEYS, fail, {
    note: message ? `${decorator} takes client, payload and reply` : `${decorator} takes only client`,
  });
  optionalString((options as MqttEventOptions).client, 'client', fail);
  return fail;
}

/** `@OnConnect` for 'connect', and so on. */
function eventDecoratorName(event: MqttEventMetadata['event']): string {
  return `@On${event.charAt(0).toUpperCase()}${event.slice(1)}`;
}

/** 'a', 'a and b', 'a, b and c'. */
function joinWords(words: readonly string[]): string {
  return words.length <= 1 ? words.join('') : `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}

/** The names a method's `@TopicParam(name)` parameters ask for. */
function topicParamNames(instance: object, methodName: string): string[] {
  const params = Reflect.getMetadata(ROUTE_ARGS_METADATA, instance.constructor, methodName) as Record<string, { data?: unknown }> | undefined;
  if (!params) return [];
  return Object.entries(params)
    .filter(([key, param]) => key.startsWith(`${MqttParamType.TOPIC_PARAM}:`) && typeof param.data === 'string')
    .map(([, param]) => param.data as string);
}

/** A `@TopicParam` name that a filter of the method does not bind would silently be `undefined`. */
function checkTopicParams(label: string, names: readonly string[], filters: readonly string[]): void {
  if (!Array.isArray(filters)) return;
  for (const filter of filters) {
    const parsed = parseTopicFilter(filter, `topic filter of ${label}`);
    const bound = parsed.params.map((param) => param.name);
    for (const name of names) {
      if (!bound.includes(name)) {
        const known = bound.length > 0 ? `it binds ${bound.map((n) => `'${n}'`).join(', ')}` : 'it has no named wildcards (write +name or #name)';
        throw new MqttHandlerError(label, `@TopicParam('${name}') is not a named wildcard of '${filter}': ${known}`);
      }
    }
  }
}

/**
 * Every `@OnTopic` option, typed as declared: plain JavaScript can pass anything (`{ share: true }`
 * would otherwise subscribe `$share/true/...`). Errors read `Class#method: <option>: <reason>`.
 */
function checkTopicOptions(label: string, options: unknown): asserts options is OnTopicOptions {
  const fail = handlerError(label);
  assertObject(options, '@OnTopic options', fail);
  assertKnownKeys(options, TOPIC_OPTION_KEYS, fail);
  const { qos, share, client, payload, ack, retainHandling, subscribe, reply, noLocal, retainAsPublished } = options as OnTopicOptions;
  if (qos !== undefined) assertQos(qos, 'qos', fail);
  // false opts out of the module's share group; anything else must be a group.
  if (share !== undefined && share !== false) assertShareGroup(share, 'share', fail);
  optionalString(client, 'client', fail);
  if (payload !== undefined) assertPayloadFormat(payload, 'payload', fail);
  if (ack !== undefined) assertAckMode(ack, 'ack', fail);
  if (retainHandling !== undefined) assertInteger(retainHandling, 'retainHandling', fail, 0, 2);
  optionalBoolean(subscribe, 'subscribe', fail);
  optionalBoolean(reply, 'reply', fail);
  optionalBoolean(noLocal, 'noLocal', fail);
  optionalBoolean(retainAsPublished, 'retainAsPublished', fail);
}
