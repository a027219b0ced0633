import type { ArgumentsHost } from '@nestjs/common';
import type { IPublishPacket } from 'mqtt';
import { MQTT_CONTEXT_TYPE } from '../mqtt.constants.js';
import { extractTopicParams, type ParsedTopicFilter } from '../protocol/topic-filter.js';

/**
 * What a handler knows about the message beyond its payload. Handlers receive it as the fourth
 * argument; guards, interceptors and filters reach it with `MqttContext.from(host)`.
 */
export class MqttContext {
  private cachedParams: Record<string, string> | undefined;

  constructor(
    readonly topic: string,
    readonly packet: IPublishPacket,
    /** Name of the client the message came in on. */
    readonly client: string,
    /** The filter of the handler being run (absent for `@OnMessage`). */
    readonly filter: ParsedTopicFilter | undefined,
  ) {}

  /** Values of the filter's named wildcards: `home/+room/#rest` on `home/kitchen/a/b` -> `{ room: 'kitchen', rest: 'a/b' }`. */
  get params(): Readonly<Record<string, string>> {
    return (this.cachedParams ??= this.filter ? extractTopicParams(this.filter, this.topic) : {});
  }

  /** MQTT 5 properties of the message (user properties, content type, response topic, ...). */
  get properties(): NonNullable<IPublishPacket['properties']> {
    return this.packet.properties ?? {};
  }

  /** The context of an MQTT handler call, or `undefined` when the host is not one. */
  static from(host: ArgumentsHost): MqttContext | undefined {
    if (host.getType<string>() !== MQTT_CONTEXT_TYPE) return undefined;
    const context: unknown = host.getArgByIndex(3);
    return context instanceof MqttContext ? context : undefined;
  }
}
