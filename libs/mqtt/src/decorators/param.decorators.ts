import type { PipeTransform, Type } from '@nestjs/common';
import { MqttParamType } from '../interfaces/mqtt-handler.interface.js';
import { ROUTE_ARGS_METADATA } from '../mqtt.constants.js';

type PipeLike = PipeTransform | Type<PipeTransform>;

interface ParamMetadata {
  index: number;
  data: string | undefined;
  pipes: PipeLike[];
}

function isPipe(value: unknown): value is PipeLike {
  return typeof value === 'function' || (typeof value === 'object' && value !== null && 'transform' in value);
}

function paramDecorator(type: MqttParamType, data: string | undefined, pipes: PipeLike[]): ParameterDecorator {
  return (target, key, index) => {
    if (key === undefined) return;
    const existing = (Reflect.getMetadata(ROUTE_ARGS_METADATA, target.constructor, key) ?? {}) as Record<string, ParamMetadata>;
    Reflect.defineMetadata(ROUTE_ARGS_METADATA, { ...existing, [`${type}:${index}`]: { index, data, pipes } }, target.constructor, key);
  };
}

/** The decoded payload, or one property of it (`@Payload('temp')`); pipes may follow (`@Payload(new ValidationPipe())`). */
export function Payload(propertyOrPipe?: string | PipeLike, ...pipes: PipeLike[]): ParameterDecorator {
  return isPipe(propertyOrPipe)
    ? paramDecorator(MqttParamType.PAYLOAD, undefined, [propertyOrPipe, ...pipes])
    : paramDecorator(MqttParamType.PAYLOAD, propertyOrPipe, pipes);
}

/** The topic the message was published to. */
export function Topic(): ParameterDecorator {
  return paramDecorator(MqttParamType.TOPIC, undefined, []);
}

/** The value of a named wildcard of the matched filter: `@OnTopic('home/+room/temp')` -> `@TopicParam('room')`. */
export function TopicParam(name: string, ...pipes: PipeLike[]): ParameterDecorator {
  return paramDecorator(MqttParamType.TOPIC_PARAM, name, pipes);
}

/** The raw mqtt.js PUBLISH packet. */
export function Packet(): ParameterDecorator {
  return paramDecorator(MqttParamType.PACKET, undefined, []);
}

/** MQTT 5 properties of the message (`{}` on MQTT 3.1.1). */
export function Properties(): ParameterDecorator {
  return paramDecorator(MqttParamType.PROPERTIES, undefined, []);
}

/** One MQTT 5 user property of the message. */
export function UserProperty(name: string, ...pipes: PipeLike[]): ParameterDecorator {
  return paramDecorator(MqttParamType.USER_PROPERTY, name, pipes);
}

/** The MqttContext (topic, packet, params, client name). */
export function Ctx(): ParameterDecorator {
  return paramDecorator(MqttParamType.CONTEXT, undefined, []);
}
