import { Injectable } from '@nestjs/common';
import { ExternalContextCreator } from '@nestjs/core';
import type { IPublishPacket } from 'mqtt';
import { ENHANCER_METADATA_KEYS, MQTT_CONTEXT_TYPE, ROUTE_ARGS_METADATA } from './mqtt.constants.js';
import { MqttContext } from './mqtt-context.js';
import { MqttParamType } from './decorators/param.decorators.js';

/** Calls one handler method with a decoded message. */
export type HandlerInvoker = (payload: unknown, topic: string, packet: IPublishPacket, context: MqttContext | undefined) => unknown;

export interface PreparedHandler {
  readonly invoke: HandlerInvoker;
  /** Whether `invoke` needs the MqttContext (so the dispatcher allocates it only then). */
  readonly needsContext: boolean;
}

type HandlerArgs = [payload: unknown, topic: string, packet: IPublishPacket, context: MqttContext];

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
 */
@Injectable()
export class HandlerInvokerFactory {
  constructor(private readonly externalContextCreator: ExternalContextCreator) {}

  prepare(instance: object, methodName: string): PreparedHandler {
    const method = (instance as Record<string, unknown>)[methodName] as (...args: unknown[]) => unknown;
    if (!this.needsNestContext(instance, methodName, method)) {
      return {
        invoke: (payload, topic, packet, context) => method.call(instance, payload, topic, packet, context),
        // A handler declaring a fourth parameter gets the context; the others never pay for it.
        needsContext: method.length >= 4,
      };
    }
    const wrapped = this.externalContextCreator.create(
      instance as Record<string, (...args: unknown[]) => unknown>,
      method,
      methodName,
      ROUTE_ARGS_METADATA,
      paramsFactory,
      undefined,
      undefined,
      { guards: true, interceptors: true, filters: true },
      MQTT_CONTEXT_TYPE,
    );
    return {
      invoke: (payload, topic, packet, context) => wrapped(payload, topic, packet, context),
      needsContext: true,
    };
  }

  private needsNestContext(instance: object, methodName: string, method: object): boolean {
    if (Reflect.getMetadata(ROUTE_ARGS_METADATA, instance.constructor, methodName)) return true;
    return ENHANCER_METADATA_KEYS.some(
      (key) => Reflect.getMetadata(key, method) !== undefined || Reflect.getMetadata(key, instance.constructor) !== undefined,
    );
  }
}
