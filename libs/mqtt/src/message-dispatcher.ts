import type { LoggerService } from '@nestjs/common';
import type { IPublishPacket } from 'mqtt';
import type { PayloadFormat } from './interfaces/mqtt-message.interface.js';
import type { HandlerInvoker } from './handler-invoker.js';
import { MqttContext } from './mqtt-context.js';
import type { MqttAckMode } from './options.js';
import { decodePayload, PayloadDecodeFailure } from './payload-codec.js';
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
}

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
  private accepting = true;
  private running = 0;
  private idle: (() => void) | undefined;
  private ackAfterHandler = false;

  constructor(
    private readonly clientName: string,
    private readonly maxPayloadBytes: number,
    private readonly logger: LoggerService,
  ) {}

  addTopicHandler(filter: ParsedTopicFilter, handler: BoundHandler): void {
    this.router.add(filter.source, { handler, filter });
    if (handler.ack === 'after-handler') this.ackAfterHandler = true;
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
        value = decodePayload(payload, handler.format, this.maxPayloadBytes);
        decoded?.set(handler.format, value);
      }
    } catch (error) {
      const reason = error instanceof PayloadDecodeFailure ? error.message : String(error);
      this.logger.warn(`Payload on '${topic}' not delivered to ${handler.label}: ${reason} (format '${handler.format}')`);
      return undefined;
    }

    let result: unknown;
    try {
      const context = handler.needsContext ? new MqttContext(topic, packet, this.clientName, filter) : undefined;
      result = handler.invoke(value, topic, packet, context);
    } catch (error) {
      this.reportFailure(handler, topic, error);
      return undefined;
    }
    if (!isPromiseLike(result)) return undefined;

    this.running++;
    const settled = Promise.resolve(result).then(
      () => this.finished(),
      (error: unknown) => {
        this.reportFailure(handler, topic, error);
        this.finished();
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

  private reportFailure(handler: BoundHandler, topic: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.logger.error(`${handler.label} failed on '${topic}': ${message}`, error instanceof Error ? error.stack : undefined);
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}

function noop(): void {}
