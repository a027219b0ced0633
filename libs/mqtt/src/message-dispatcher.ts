import type { LoggerService } from '@nestjs/common';
import type { IPublishPacket } from 'mqtt';
import type { PayloadFormat } from './interfaces/mqtt-message.interface.js';
import type { HandlerInvoker, PreparedHandler } from './handler-invoker.js';
import { MqttContext } from './mqtt-context.js';
import type { MqttAckMode } from './options.js';
import { decodePayload, formatName, PayloadDecodeFailure } from './payload-codec.js';
import type { ParsedTopicFilter } from './topic-filter.js';
import { TopicRouter } from './topic-router.js';

/** A handler method ready to run: everything decided at bootstrap. */
export interface BoundHandler {
  /** `Class#method`, for logs. */
  readonly label: string;
  readonly invoke: HandlerInvoker;
  readonly needsContext: boolean;
  readonly format: PayloadFormat;
  readonly ack: MqttAckMode;
  readonly filterError?: PreparedHandler['filterError'];
}

/** Publishes a handler's outcome to the response topic of an MQTT 5 request. */
export type Replier = (request: IPublishPacket, outcome: { value: unknown } | { error: string }) => void;

/** What Nest's guards throw when one returns false (ExternalContextCreator). */
const GUARD_REFUSAL = 'Forbidden resource';

interface Route {
  readonly handler: BoundHandler;
  /** The matched filter; absent for `@OnMessage` handlers. */
  readonly filter: ParsedTopicFilter | undefined;
}

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
  ) {}

  addTopicHandler(filter: ParsedTopicFilter, handler: BoundHandler): void {
    const route: Route = { handler, filter };
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

  addFallbackHandler(handler: BoundHandler): void {
    this.fallback.push({ handler, filter: undefined });
    if (handler.ack === 'after-handler') this.ackAfterHandler = true;
  }

  /** Whether some handler wants its QoS 1/2 messages acknowledged only after it finished. */
  get needsAckAfterHandler(): boolean {
    return this.ackAfterHandler;
  }

  /**
   * Runs the handlers for one message. Returns a promise only when a handler that acknowledges
   * after completion is still running; it never rejects.
   */
  dispatch(topic: string, payload: Buffer, packet: IPublishPacket): Promise<void> | undefined {
    if (!this.accepting) return undefined;
    const matched = this.router.match(topic);
    const routes = matched.length > 0 ? matched : this.fallback;
    if (routes.length === 1) {
      const route = routes[0];
      return this.run(route.handler, route.filter, topic, payload, packet, undefined);
    }
    return routes.length === 0 ? undefined : this.runAll(routes, topic, payload, packet);
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

  private runAll(
    routes: readonly Route[],
    topic: string,
    payload: Buffer,
    packet: IPublishPacket,
  ): Promise<void> | undefined {
    // Several filters of one handler may match; it still runs once. Decoded values are shared.
    const seen = new Set<BoundHandler>();
    const decoded = new Map<PayloadFormat, unknown>();
    let pending: Promise<void>[] | undefined;
    for (const { handler, filter } of routes) {
      if (seen.has(handler)) continue;
      seen.add(handler);
      const result = this.run(handler, filter, topic, payload, packet, decoded);
      if (result) (pending ??= []).push(result);
    }
    return pending && Promise.all(pending).then(noop);
  }

  private run(
    handler: BoundHandler,
    filter: ParsedTopicFilter | undefined,
    topic: string,
    payload: Buffer,
    packet: IPublishPacket,
    decoded: Map<PayloadFormat, unknown> | undefined,
  ): Promise<void> | undefined {
    let value: unknown;
    try {
      if (decoded?.has(handler.format)) {
        value = decoded.get(handler.format);
      } else {
        value = decodePayload(payload, handler.format, this.maxPayloadBytes, topic);
        decoded?.set(handler.format, value);
      }
    } catch (error) {
      const reason = `${error instanceof PayloadDecodeFailure ? error.message : String(error)} (format '${formatName(handler.format)}')`;
      this.logger.warn(`Payload on '${topic}' not delivered to ${handler.label}: ${reason}`);
      this.answer(packet, { error: `payload could not be decoded: ${reason}` });
      return undefined;
    }

    const context = handler.needsContext ? new MqttContext(topic, packet, this.clientName, filter) : undefined;
    let result: unknown;
    try {
      result = handler.invoke(value, topic, packet, context);
    } catch (error) {
      return this.track(handler, this.failed(handler, error, value, topic, packet, context));
    }
    if (!isPromiseLike(result)) {
      this.answer(packet, { value: result });
      return undefined;
    }
    return this.track(
      handler,
      Promise.resolve(result).then(
        (resolved) => this.answer(packet, { value: resolved }),
        (error: unknown) => this.failed(handler, error, value, topic, packet, context),
      ),
    );
  }

  /** Counts a running handler until `work` settles; `work` never rejects. */
  private track(handler: BoundHandler, work: Promise<void> | undefined): Promise<void> | undefined {
    if (!work) return undefined;
    this.running++;
    const settled = work.then(() => this.finished());
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
    handler: BoundHandler,
    error: unknown,
    value: unknown,
    topic: string,
    packet: IPublishPacket,
    context: MqttContext | undefined,
  ): Promise<void> | undefined {
    if (error instanceof Error && error.message === GUARD_REFUSAL && error.name === 'ForbiddenException') {
      this.logger.debug?.(`Message on '${topic}' dropped: a guard of ${handler.label} refused it`);
      this.answer(packet, { error: GUARD_REFUSAL });
      return undefined;
    }
    if (handler.filterError) {
      return handler.filterError(error, value, topic, packet, context).then(
        (handled) => this.answer(packet, { value: handled }),
        (unhandled: unknown) => this.reportFailure(handler, topic, packet, unhandled),
      );
    }
    this.reportFailure(handler, topic, packet, error);
    return undefined;
  }

  private reportFailure(handler: BoundHandler, topic: string, packet: IPublishPacket, error: unknown): void {
    const message = describeError(error);
    this.logger.error(`${handler.label} failed on '${topic}': ${message}`, error instanceof Error ? error.stack : undefined);
    this.answer(packet, { error: message });
  }

  /** Replies only to MQTT 5 requests (a response topic), and only with something to say. */
  private answer(packet: IPublishPacket, outcome: { value: unknown } | { error: string }): void {
    if (!packet.properties?.responseTopic) return;
    if ('value' in outcome && outcome.value === undefined) return;
    this.reply(packet, outcome);
  }
}

/** An error's message, with the details of Nest's HTTP-style exceptions (e.g. ValidationPipe's constraints). */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const response = (error as Error & { getResponse?: () => unknown }).getResponse?.();
  const details = typeof response === 'object' && response !== null ? (response as { message?: unknown }).message : undefined;
  if (Array.isArray(details)) return `${error.message}: ${details.join('; ')}`;
  if (typeof details === 'string' && details !== error.message) return `${error.message}: ${details}`;
  return error.message;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}

function noop(): void {}
