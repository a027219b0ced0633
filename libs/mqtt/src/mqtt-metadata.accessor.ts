import { Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { MqttEventMetadata } from './decorators/on-event.decorators.js';
import type { OnTopicMetadata } from './decorators/on-topic.decorator.js';
import { MQTT_EVENT_HANDLER_METADATA, MQTT_TOPIC_HANDLER_METADATA } from './mqtt.constants.js';

/** Typed reads of the handler decorators' metadata. */
@Injectable()
export class MqttMetadataAccessor {
  constructor(private readonly reflector: Reflector) {}

  topicHandlers(method: unknown): readonly OnTopicMetadata[] {
    return typeof method === 'function' ? (this.reflector.get<OnTopicMetadata[] | undefined>(MQTT_TOPIC_HANDLER_METADATA, method) ?? []) : [];
  }

  eventHandlers(method: unknown): readonly MqttEventMetadata[] {
    return typeof method === 'function' ? (this.reflector.get<MqttEventMetadata[] | undefined>(MQTT_EVENT_HANDLER_METADATA, method) ?? []) : [];
  }
}
