import { Injectable } from '@nestjs/common';
import { ApplicationConfig, ExternalContextCreator } from '@nestjs/core';
import type { IPublishPacket } from 'mqtt';
import { ENHANCER_METADATA_KEYS, EXCEPTION_FILTERS_METADATA, FILTER_CATCH_TYPES_METADATA, MQTT_CONTEXT_TYPE, ROUTE_ARGS_METADATA } from '../mqtt.constants.js';
import { MqttContext } from './mqtt-context.js';
import { MqttParamType } from '../interfaces/mqtt-handler.interface.js';

/** Calls one handler method with a decoded message. */
export type HandlerInvoker = (payload: unknown, topic: string, packet: IPublishPacket, context: MqttContext | undefined) => unknown;

export interface PreparedHandler {
  readonly invoke: HandlerInvoker;
  /** Whether `invoke` needs the MqttContext (so the dispatcher allocates it only then). */
  readonly needsContext: boolean;
  /**
   * Runs the handler's exception filters (method, class, global) on an error it raised. Resolves
   * with what a filter returned; rejects when no filter handled it. Absent when there are none.
   */
  readonly filterError?: (error: unknown, payload: unknown, topic: string, packet: IPublishPacket, context: MqttContext | undefined) => Promise<unknown>;
}

type HandlerArgs = [payload: unknown, topic: string, packet: IPublishPacket, context: MqttContext];

/** Exception types from `@Catch(...)`. */
type CatchTypes = ReadonlyArray<abstract new (...args: never[]) => unknown>;

/**
 * The types a filter (a class, or an instance) catches, read where Nest reads them: the prototype
 * first, then the class. Empty: it catches everything. Undefined: unknown (treated as everything).
 */
function catchTypesOf(filter: object): CatchTypes | undefined {
  const key = FILTER_CATCH_TYPES_METADATA;
  if (key === undefined) return undefined;
  const read = (target: unknown): unknown =>
    (typeof target === 'object' && target !== null) || typeof target === 'function' ? Reflect.getMetadata(key, target) : undefined;
  const [prototype, classRef]: unknown[] =
    typeof filter === 'function' ? [(filter as { prototype?: unknown }).prototype, filter] : [Object.getPrototypeOf(filter), filter.constructor];
  const types = read(prototype) ?? read(classRef) ?? [];
  return Array.isArray(types) ? (types as CatchTypes) : undefined;
}

/** Resolves our parameter decorators from the handler arguments. */
const paramsFactory = {
  exchangeKeyForValue(type: number, rawData: unknown, args: HandlerArgs): unknown {
    const [payload, topic, packet, context] = args;
    const data = typeof rawData === 'string' ? rawData : undefined;
    switch (type as MqttParamType) {
      case MqttParamType.PAYLOAD:
        return data === undefined ? payload : (payload as Record<string, unknown> | null | undefined)?.[data];
      case MqttParamType.TOPIC:
        return topic;
      case MqttParamType.TOPIC_PARAM:
        return data === undefined ? context.params : context.params[data];
      case MqttParamType.PACKET:
        return packet;
      case MqttParamType.PROPERTIES:
        return context.properties;
      case MqttParamType.USER_PROPERTY:
        return data === undefined ? context.properties.userProperties : context.properties.userProperties?.[data];
      case MqttParamType.CONTEXT:
        return context;
      default:
        return undefined;
    }
  },
};

/**
 * Builds, once per handler at bootstrap, the function the dispatcher calls per message.
 * A handler with parameter decorators or enhancers (guards, interceptors, pipes, filters) runs
 * through Nest's ExternalContextCreator; one without them is called directly and pays nothing.
 *
 * Global enhancers are read from Nest's ApplicationConfig, which holds both the `APP_*`
 * providers and what `app.useGlobal*()` added, as they stand when handlers are bound (the
 * explorer's onModuleInit, so `useGlobal*()` calls made before `app.init()` or `listen()`).
 * ExternalContextCreator reads the same config, so it runs the same enhancers.
 */
@Injectable()
export class HandlerInvokerFactory {
  constructor(
    private readonly externalContextCreator: ExternalContextCreator,
    private readonly config: ApplicationConfig,
  ) {}

  prepare(instance: object, methodName: string): PreparedHandler {
    const method = (instance as Record<string, unknown>)[methodName] as (...args: unknown[]) => unknown;
    if (!this.needsNestContext(instance, methodName, method)) {
      return {
        invoke: (payload, topic, packet, context) => method.call(instance, payload, topic, packet, context),
        // A handler declaring a fourth parameter gets the context; the others never pay for it.
        needsContext: method.length >= 4,
      };
    }
    const target = instance as Record<string, (...args: unknown[]) => unknown>;
    // Filters run separately (below), so that a guard's refusal is not reported as a failure.
    const wrapped = this.externalContextCreator.create(
      target,
      method,
      methodName,
      ROUTE_ARGS_METADATA,
      paramsFactory,
      undefined,
      undefined,
      { guards: true, interceptors: true, filters: false },
      MQTT_CONTEXT_TYPE,
    );
    return {
      invoke: (payload, topic, packet, context) => wrapped(payload, topic, packet, context),
      needsContext: true,
      filterError: this.hasFilters(instance, method) ? this.filterRunner(target, method, methodName, this.caughtTypes(instance, method)) : undefined,
    };
  }

  /**
   * Exception filters through Nest's own selection (by exception type, method before class before
   * global): a stand-in callback that throws the handler's error, carrying the method's metadata.
   *
   * An error that none of the filters catches (`caught`, when not undefined) is rejected at once:
   * Nest's chain would log it (ExternalExceptionFilter, 'ExceptionsHandler') before the dispatcher
   * logs it with the handler and the topic. The check runs on errors only.
   */
  private filterRunner(
    instance: Record<string, (...args: unknown[]) => unknown>,
    method: object,
    methodName: string,
    caught: CatchTypes | undefined,
  ): NonNullable<PreparedHandler['filterError']> {
    let pending: unknown;
    const rethrow = (): never => {
      const error = pending;
      pending = undefined;
      throw error;
    };
    for (const key of Reflect.getMetadataKeys(method)) {
      Reflect.defineMetadata(key, Reflect.getMetadata(key, method), rethrow);
    }
    const runner = this.externalContextCreator.create(
      instance,
      rethrow,
      methodName,
      undefined,
      undefined,
      undefined,
      undefined,
      { guards: false, interceptors: false, filters: true },
      MQTT_CONTEXT_TYPE,
    );
    return (error, payload, topic, packet, context) => {
      if (caught !== undefined && !isCaught(error, caught)) return Promise.reject(error);
      pending = error; // read synchronously by rethrow() within this call
      return runner(payload, topic, packet, context);
    };
  }

  /**
   * The exception types that the handler's filters catch, from the filters Nest's chain would hold
   * (method, class, and global as they stand now, when Nest builds that chain too); undefined when
   * one of them catches everything (or its types cannot be read).
   */
  private caughtTypes(instance: object, method: object): CatchTypes | undefined {
    const filters: unknown[] = [
      ...this.config.getGlobalFilters(),
      ...((Reflect.getMetadata(EXCEPTION_FILTERS_METADATA, instance.constructor) as unknown[] | undefined) ?? []),
      ...((Reflect.getMetadata(EXCEPTION_FILTERS_METADATA, method) as unknown[] | undefined) ?? []),
    ];
    const caught: Array<CatchTypes[number]> = [];
    for (const filter of filters) {
      if (filter == null || (typeof filter !== 'object' && typeof filter !== 'function')) continue; // Nest skips these too
      const types = catchTypesOf(filter);
      if (types === undefined || types.length === 0) return undefined;
      caught.push(...types);
    }
    return caught;
  }

  private needsNestContext(instance: object, methodName: string, method: object): boolean {
    if (Reflect.getMetadata(ROUTE_ARGS_METADATA, instance.constructor, methodName)) return true;
    if (this.hasGlobalGuardsOrInterceptors() || this.hasGlobalFilters()) return true;
    return ENHANCER_METADATA_KEYS.some((key) => Reflect.getMetadata(key, method) !== undefined || Reflect.getMetadata(key, instance.constructor) !== undefined);
  }

  private hasFilters(instance: object, method: object): boolean {
    return (
      this.hasGlobalFilters() ||
      Reflect.getMetadata(EXCEPTION_FILTERS_METADATA, method) !== undefined ||
      Reflect.getMetadata(EXCEPTION_FILTERS_METADATA, instance.constructor) !== undefined
    );
  }

  /**
   * Global guards or interceptors, static or request-scoped. Global pipes alone do not count: pipes
   * run only on parameters with decorators, and a handler with those runs through Nest anyway.
   */
  private hasGlobalGuardsOrInterceptors(): boolean {
    const config = this.config;
    return (
      config.getGlobalGuards().length > 0 ||
      config.getGlobalRequestGuards().length > 0 ||
      config.getGlobalInterceptors().length > 0 ||
      config.getGlobalRequestInterceptors().length > 0
    );
  }

  private hasGlobalFilters(): boolean {
    return this.config.getGlobalFilters().length > 0 || this.config.getGlobalRequestFilters().length > 0;
  }
}

/** Whether one of `types` catches `error` (instanceof, as Nest selects); if that cannot be told, Nest's chain decides. */
function isCaught(error: unknown, types: CatchTypes): boolean {
  try {
    return types.some((type) => error instanceof type);
  } catch {
    return true;
  }
}
