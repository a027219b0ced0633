import type { LoggerService } from '@nestjs/common';
import type { IPublishPacket } from 'mqtt';
import type { PayloadFormat } from '../interfaces/mqtt-message.interface.js';
import type { HandlerInvoker, PreparedHandler } from './handler-invoker.js';
import { describeError } from '../errors/describe-error.js';
import { isPromiseLike } from './is-promise-like.js';
import { MqttContext } from './mqtt-context.js';
import type { MqttAckMode } from '../interfaces/mqtt-handler.interface.js';
import { decodePayload, formatName, PayloadDecodeFailure } from '../protocol/payload-codec.js';
import type { IdentifiedSubscription, SubscriptionIndex } from '../connection/subscription-registry.js';
import type { ParsedTopicFilter } from '../protocol/topic-filter.js';
import { TopicRouter } from '../protocol/topic-router.js';
import type { ClientCounters, HandlerCounters } from '../observability/client-stats.js';
import type { MessageTelemetry, ProcessSpan, RunOutcome, TelemetryHandler } from '../observability/message-telemetry.js';

/** A handler ready to run: the prepared invoker plus what its client and decorator decided at bootstrap. */
export interface BoundHandler extends PreparedHandler {
  /** `Class#method`, for logs. */
  readonly label: string;
  /**
   * What runs once per message: the method (instance + method) for decorated handlers, so a
   * method with stacked `@OnTopic` filters that all match runs once. The handler itself when absent.
   */
  readonly key?: object;
  /** Publishes its return value to an MQTT 5 request's response topic. */
  readonly reply?: boolean;
  readonly format: PayloadFormat;
  readonly ack: MqttAckMode;
}

/**
 * A handler of the library's own (request() replies, observe()): JSON-or-text payloads, acknowledged
 * at once, no context, no reply, no filters. Built with every field of a decorated handler, in the
 * same order, so the dispatcher sees one object shape.
 */
export function internalHandler(label: string, invoke: HandlerInvoker): BoundHandler {
  return { label, key: undefined, reply: false, invoke, needsContext: false, format: 'auto', ack: 'auto', filterError: undefined };
}

/** Publishes a handler's outcome to the response topic of an MQTT 5 request. */
export type Replier = (request: IPublishPacket, outcome: { value: unknown } | { error: string }) => void;

/** What Nest's guards throw when one returns false (ExternalContextCreator). */
const GUARD_REFUSAL = 'Forbidden resource';
/** What a request's sender learns of a failed handler unless the app opts in to details. */
const GENERIC_REPLY_ERROR = 'the handler failed';

interface Route {
  readonly handler: BoundHandler;
  /** What runs once per message (see BoundHandler.key). */
  readonly key: object;
  /** The matched filter; absent for `@OnMessage` handlers. */
  readonly filter: ParsedTopicFilter | undefined;
  /** A `$share/...` subscription of its own: only copies through it reach the route. */
  readonly sharedFilter: string | undefined;
  /** The subscriptions feeding the route, as of `SubscriptionIndex.version` `feedsVersion` (-1: not yet). */
  feeds: readonly IdentifiedSubscription[] | undefined;
  feedsVersion: number;
  /** The method's counts; undefined for the library's own handlers (request() replies, observe()). */
  readonly counters: HandlerCounters | undefined;
  /** How telemetry labels the route: bounded values only. */
  readonly tag: TelemetryHandler;
}

/** A route as tools see it (see MqttHandlerDescription); `brokerFilter` finds its subscription. */
export interface RouteDescription {
  readonly handler: string;
  readonly filter: string | undefined;
  readonly brokerFilter: string | undefined;
  readonly share: string | undefined;
  readonly payload: string;
  readonly ack: MqttAckMode;
  readonly reply: boolean;
}

/** How a failed run ended: for the counts and the span. */
type Settle = (outcome: RunOutcome, error?: unknown) => void;

/**
 * Routes each received message to every matching `@OnTopic` handler once, or to the
 * `@OnMessage` handlers when none matched; decodes the payload per handler format; keeps
 * handler errors from escaping; counts running handlers so shutdown can wait for them.
 */
export class MessageDispatcher {
  private readonly router = new TopicRouter<Route>();
  private readonly fallback: Route[] = [];
  /** handler -> filter source -> its route, so a route can be removed again (observe()). */
  private readonly routes = new Map<BoundHandler, Map<string, Route>>();
  private accepting = true;
  private running = 0;
  private idle: (() => void) | undefined;
  private ackAfterHandler = false;

  constructor(
    private readonly clientName: string,
    private readonly maxPayloadBytes: number,
    private readonly logger: LoggerService,
    private readonly reply: Replier,
    /** MQTT 5: the held subscriptions by identifier; absent on MQTT 3.1.1. */
    private readonly subscriptions: SubscriptionIndex | undefined,
    /** Replies carry the handler's error text (else a generic one). */
    private readonly replyErrorDetails = false,
    /** What `MqttService.stats()` reads; written in place. */
    private readonly stats?: ClientCounters,
    /** OpenTelemetry, when the app registered providers; undefined costs one check per run. */
    private readonly telemetry?: MessageTelemetry,
  ) {}

  /**
   * Routes messages matching `filter` to `handler`. `sharedFilter` is the handler's own `$share/...`
   * subscription: on MQTT 5 only copies through it reach the handler (the broker hands each one
   * to one member of the group), never a copy through a plain subscription of the same filter.
   */
  addTopicHandler(filter: ParsedTopicFilter, handler: BoundHandler, sharedFilter?: string): void {
    const shared = sharedFilter?.startsWith('$share/') ? sharedFilter : undefined;
    const route = this.route(handler, filter, shared);
    this.router.add(filter.source, route);
    let byFilter = this.routes.get(handler);
    if (!byFilter) this.routes.set(handler, (byFilter = new Map()));
    byFilter.set(filter.source, route);
    if (handler.ack === 'after-handler') this.ackAfterHandler = true;
  }

  removeTopicHandler(filter: ParsedTopicFilter, handler: BoundHandler): void {
    const byFilter = this.routes.get(handler);
    const route = byFilter?.get(filter.source);
    if (!byFilter || !route) return;
    this.router.remove(filter.source, route);
    byFilter.delete(filter.source);
    if (byFilter.size === 0) this.routes.delete(handler);
  }

  private route(handler: BoundHandler, filter: ParsedTopicFilter | undefined, sharedFilter: string | undefined): Route {
    const key = handler.key ?? handler;
    return {
      handler,
      key,
      filter,
      sharedFilter,
      feeds: undefined,
      feedsVersion: -1,
      counters: handler.key === undefined ? undefined : this.stats?.handler(key, handler.label, filter?.source),
      tag: { label: handler.label, filter: filter?.source, share: filter?.shareGroup ?? sharedFilter?.split('/', 2)[1] },
    };
  }

  addFallbackHandler(handler: BoundHandler): void {
    this.fallback.push(this.route(handler, undefined, undefined));
    if (handler.ack === 'after-handler') this.ackAfterHandler = true;
  }

  /** The decorated handlers' routes, in binding order, for `MqttService.describe()`. */
  describeRoutes(): RouteDescription[] {
    const routes = [...[...this.routes.values()].flatMap((byFilter) => [...byFilter.values()]), ...this.fallback];
    return routes
      .filter((route) => route.counters !== undefined)
      .map(({ handler, filter, sharedFilter, tag }) => ({
        handler: handler.label,
        filter: filter?.source,
        brokerFilter: sharedFilter ?? filter?.brokerFilter,
        share: tag.share,
        payload: formatName(handler.format),
        ack: handler.ack,
        reply: handler.reply === true,
      }));
  }

  /** Whether some handler wants its QoS 1/2 messages acknowledged only after it finished. */
  get needsAckAfterHandler(): boolean {
    return this.ackAfterHandler;
  }

  /** Whether handlers still take messages (false once draining began). */
  get isAccepting(): boolean {
    return this.accepting;
  }

  /**
   * Runs the handlers for one received copy of a message. Returns a promise only when a handler
   * that acknowledges after completion is still running; it never rejects.
   *
   * MQTT 5 brokers send one copy per matching subscription, each naming its subscription
   * identifiers: a copy runs the routes of those subscriptions' filters, and a handler (method)
   * fed by several of them runs only on the copy of the lowest identifier among its own feeds. A
   * copy that names no identifier of this process (MQTT 3.1.1, or a durable session queued by an
   * earlier deploy) is routed by its topic.
   */
  dispatch(topic: string, payload: Buffer, packet: IPublishPacket): Promise<void> | undefined {
    if (!this.accepting) return undefined;
    const matched = this.router.match(topic);
    const carried = this.subscriptions && packet.properties?.subscriptionIdentifier;
    if (carried !== undefined) {
      return this.dispatchCopy(matched, carried, topic, payload, packet);
    }
    const routes = matched.length > 0 ? matched : this.fallback;
    if (routes.length === 0) return this.unrouted();
    if (routes.length === 1) {
      const route = routes[0];
      return this.run(route, topic, payload, packet, undefined);
    }
    return this.runAll(routes, topic, payload, packet);
  }

  private unrouted(): undefined {
    if (this.stats) this.stats.unrouted++;
    this.telemetry?.dropped('unrouted', undefined);
    return undefined;
  }

  private dispatchCopy(
    matched: readonly Route[],
    carried: number | number[],
    topic: string,
    payload: Buffer,
    packet: IPublishPacket,
  ): Promise<void> | undefined {
    const index = this.subscriptions as SubscriptionIndex;
    // The common case: one route, one identifier, one subscription feeding it.
    if (matched.length === 1 && typeof carried === 'number') {
      const route = matched[0];
      const feeds = this.feeds(route, index);
      if (feeds?.length === 1 && feeds[0].id === carried) {
        return this.run(route, topic, payload, packet, undefined);
      }
    }
    const matching = index.idsMatching(topic);
    const ids = typeof carried === 'number' ? [carried] : carried;
    // Identifiers handed out by this process for filters that match this topic.
    const known = ids.filter((id) => matching.includes(id));
    if (known.length === 0) {
      const routes = matched.length > 0 ? matched : this.fallback;
      return routes.length === 0 ? this.unrouted() : this.runAll(routes, topic, payload, packet);
    }
    const anyFeed = lowest(matching);
    if (matched.length === 0) {
      // @OnMessage: once per message, on the copy of the lowest matching identifier.
      return known.includes(anyFeed) ? this.runAll(this.fallback, topic, payload, packet) : undefined;
    }
    // Per handler: the identifier whose copy runs it, and the route it runs through.
    const chosen = new Map<object, { id: number; route: Route }>();
    for (const route of matched) {
      const feeds = this.feeds(route, index);
      const id = feeds && feeds.length > 0 ? lowestId(feeds) : anyFeed;
      const current = chosen.get(route.key);
      if (!current || id < current.id) chosen.set(route.key, { id, route });
    }
    const routes: Route[] = [];
    for (const { id, route } of chosen.values()) if (known.includes(id)) routes.push(route);
    if (routes.length === 0) return undefined;
    return routes.length === 1 ? this.run(routes[0], topic, payload, packet, undefined) : this.runAll(routes, topic, payload, packet);
  }

  /**
   * The held subscriptions whose copies reach `route`: its own `$share` one, else the plain ones of its
   * filter. Kept on the route until the subscriptions change: this runs for every MQTT 5 copy.
   */
  private feeds(route: Route, index: SubscriptionIndex): readonly IdentifiedSubscription[] | undefined {
    if (route.feedsVersion !== index.version) {
      route.feeds = this.findFeeds(route, index);
      route.feedsVersion = index.version;
    }
    return route.feeds;
  }

  private findFeeds(route: Route, index: SubscriptionIndex): readonly IdentifiedSubscription[] | undefined {
    const all = index.byMatchFilter((route.filter as ParsedTopicFilter).matchFilter);
    if (!all || (all.length === 1 && !route.sharedFilter && !all[0].shared)) return all;
    if (route.sharedFilter) return all.filter((subscription) => subscription.filter === route.sharedFilter);
    const plain = all.filter((subscription) => !subscription.shared);
    return plain.length > 0 ? plain : all;
  }

  /** Stops taking messages and waits (up to `timeoutMs`) for running handlers. Resolves false on timeout. */
  drain(timeoutMs: number): Promise<boolean> {
    this.accepting = false;
    if (this.running === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.idle = undefined;
        resolve(false);
      }, timeoutMs);
      this.idle = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  get inFlight(): number {
    return this.running;
  }

  private runAll(routes: readonly Route[], topic: string, payload: Buffer, packet: IPublishPacket): Promise<void> | undefined {
    // Several filters of one method may match; it still runs once. Decoded values are shared.
    const seen = new Set<object>();
    const decoded = new Map<PayloadFormat, unknown>();
    let pending: Promise<void>[] | undefined;
    for (const route of routes) {
      if (seen.has(route.key)) continue;
      seen.add(route.key);
      const result = this.run(route, topic, payload, packet, decoded);
      if (result) (pending ??= []).push(result);
    }
    return pending && Promise.all(pending).then(noop);
  }

  private run(
    route: Route,
    topic: string,
    payload: Buffer,
    packet: IPublishPacket,
    decoded: Map<PayloadFormat, unknown> | undefined,
  ): Promise<void> | undefined {
    const { handler, counters } = route;
    let value: unknown;
    try {
      if (decoded?.has(handler.format)) {
        value = decoded.get(handler.format);
      } else {
        value = decodePayload(payload, handler.format, this.maxPayloadBytes, topic);
        decoded?.set(handler.format, value);
      }
    } catch (error) {
      const reason = `${error instanceof PayloadDecodeFailure ? error.message : describeError(error)} (format '${formatName(handler.format)}')`;
      this.logger.warn(`Payload on '${topic}' not delivered to ${handler.label}: ${reason}`);
      if (counters) {
        counters.refused++;
        if (this.stats) this.stats.decodeFailures++;
        this.telemetry?.dropped('decode', route.tag);
      }
      this.answer(handler, packet, { error: this.replyErrorDetails ? `payload could not be decoded: ${reason}` : 'payload could not be decoded' });
      return undefined;
    }

    const context = handler.needsContext ? new MqttContext(topic, packet, this.clientName, route.filter) : undefined;
    const span = counters && this.telemetry?.process(route.tag, topic, packet);
    // -1: this run is not timed (see HandlerCounters.timeThisRun).
    const started = counters?.timeThisRun() ? performance.now() : -1;
    let result: unknown;
    try {
      result = span ? span.run(() => handler.invoke(value, topic, packet, context)) : handler.invoke(value, topic, packet, context);
    } catch (error) {
      return this.track(handler, this.failed(route, error, value, topic, packet, context, this.settler(route, started, span), span));
    }
    if (!isPromiseLike(result)) {
      this.answer(handler, packet, { value: result }, span);
      if (counters) this.succeeded(counters, started, span);
      return undefined;
    }
    return this.track(
      handler,
      Promise.resolve(result).then(
        (resolved) => {
          this.answer(handler, packet, { value: resolved }, span);
          if (counters) this.succeeded(counters, started, span);
        },
        (error: unknown) => this.failed(route, error, value, topic, packet, context, this.settler(route, started, span), span),
      ),
    );
  }

  private succeeded(counters: HandlerCounters, started: number, span: ProcessSpan | undefined): void {
    counters.handled++;
    if (started >= 0) counters.durations.record(performance.now() - started);
    if (this.stats) this.stats.handled++;
    span?.end('ok');
  }

  /** Records how a run that threw ended (the failure path only: it may allocate). */
  private settler(route: Route, started: number, span: ProcessSpan | undefined): Settle {
    const { counters } = route;
    if (!counters) return noop;
    return (outcome, error) => {
      if (started >= 0) counters.durations.record(performance.now() - started);
      if (outcome === 'ok') {
        counters.handled++;
        if (this.stats) this.stats.handled++;
      } else if (outcome === 'failed') {
        counters.fail(describeError(error));
        if (this.stats) this.stats.failed++;
      } else {
        counters.refused++;
      }
      span?.end(outcome, error);
    };
  }

  /** Counts a running handler until `work` settles; whatever happens, the count goes down and nothing rejects. */
  private track(handler: BoundHandler, work: Promise<void> | undefined): Promise<void> | undefined {
    if (!work) return undefined;
    this.running++;
    const settled = work.then(
      () => this.finished(),
      (error: unknown) => {
        this.finished();
        this.logger.error(`${handler.label}: ${describeError(error)}`);
      },
    );
    return handler.ack === 'after-handler' ? settled : undefined;
  }

  private finished(): void {
    this.running--;
    if (this.running === 0 && this.idle) {
      const idle = this.idle;
      this.idle = undefined;
      idle();
    }
  }

  /** A guard's refusal drops the message; other errors go to exception filters, else to the log. */
  private failed(
    route: Route,
    error: unknown,
    value: unknown,
    topic: string,
    packet: IPublishPacket,
    context: MqttContext | undefined,
    settle: Settle,
    span: ProcessSpan | undefined,
  ): Promise<void> | undefined {
    const { handler } = route;
    if (isGuardRefusal(error)) {
      this.logger.debug?.(`Message on '${topic}' dropped: a guard of ${handler.label} refused it`);
      this.answer(handler, packet, { error: GUARD_REFUSAL }, span);
      this.refused('guard', route, settle);
      return undefined;
    }
    if (handler.filterError) {
      return handler.filterError(error, value, topic, packet, context).then(
        (handled) => {
          this.answer(handler, packet, { value: handled }, span);
          // An exception filter that handled the error ends the run as a handled one.
          settle('ok');
        },
        (unhandled: unknown) => this.reportFailure(route, topic, packet, unhandled, settle, span),
      );
    }
    this.reportFailure(route, topic, packet, error, settle, span);
    return undefined;
  }

  private refused(reason: 'guard' | 'pipe', route: Route, settle: Settle): void {
    if (route.counters) {
      if (this.stats) this.stats[reason === 'guard' ? 'guardRefusals' : 'pipeRefusals']++;
      this.telemetry?.dropped(reason, route.tag);
    }
    settle('refused');
  }

  private reportFailure(route: Route, topic: string, packet: IPublishPacket, error: unknown, settle: Settle, span: ProcessSpan | undefined): void {
    const { handler } = route;
    if (isPipeRefusal(error)) {
      this.refusedByPipe(route, topic, packet, error, settle, span);
      return;
    }
    const message = describeError(error);
    this.logger.error(`${handler.label} failed on '${topic}': ${message}`, error instanceof Error ? error.stack : undefined);
    this.answer(handler, packet, { error: this.replyErrorDetails ? message : GENERIC_REPLY_ERROR }, span);
    settle('failed', error);
  }

  /** Bad input from a publisher, not a bug in the app: a warning with the reason, no stack trace. */
  private refusedByPipe(route: Route, topic: string, packet: IPublishPacket, error: unknown, settle: Settle, span: ProcessSpan | undefined): void {
    const message = describeError(error);
    this.logger.warn(`Message on '${topic}' not delivered to ${route.handler.label}: a pipe refused it: ${message}`);
    this.answer(route.handler, packet, { error: this.replyErrorDetails ? message : 'the message was refused' }, span);
    this.refused('pipe', route, settle);
  }

  /** Replies only to MQTT 5 requests (a response topic), only for handlers that opted in, and only with something to say. */
  private answer(handler: BoundHandler, packet: IPublishPacket, outcome: { value: unknown } | { error: string }, span?: ProcessSpan): void {
    if (!handler.reply || !packet.properties?.responseTopic) return;
    if ('value' in outcome && outcome.value === undefined) return;
    // Inside the run's span, so the reply's send span is its child.
    if (span) span.run(() => this.reply(packet, outcome));
    else this.reply(packet, outcome);
  }
}

/**
 * A pipe's refusal (ValidationPipe, ParseIntPipe, ...): a 400 HttpException thrown from a pipe, as its
 * stack shows. Anything else (and a pipe error without that trace) stays a handler failure.
 */
function isPipeRefusal(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const status = (error as Error & { getStatus?: () => unknown }).getStatus?.();
  return status === 400 && /pipes-consumer|\.pipe\.js/.test(error.stack ?? '');
}

/**
 * Nest's guards throw a ForbiddenException('Forbidden resource') when one returns false. A handler
 * that throws the same exception itself is told apart by where it was thrown: the guard's comes
 * from Nest's external context creator.
 */
function isGuardRefusal(error: unknown): boolean {
  return (
    error instanceof Error &&
    error.name === 'ForbiddenException' &&
    error.message === GUARD_REFUSAL &&
    // Without a stack trace (Error.stackTraceLimit = 0) there is nothing to tell them apart by.
    (!(error.stack ?? '').includes('\n    at ') || (error.stack ?? '').includes('external-context-creator'))
  );
}

function lowest(ids: readonly number[]): number {
  let min = Number.POSITIVE_INFINITY;
  for (const id of ids) if (id < min) min = id;
  return min;
}

function lowestId(subscriptions: readonly IdentifiedSubscription[]): number {
  let min = Number.POSITIVE_INFINITY;
  for (const { id } of subscriptions) if (id < min) min = id;
  return min;
}

function noop(): void {}
