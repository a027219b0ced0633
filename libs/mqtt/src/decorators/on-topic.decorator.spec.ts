import { describe, expect, it } from '@jest/globals';
import { Reflector } from '@nestjs/core';
import { MqttMetadataAccessor } from '../mqtt-metadata.accessor.js';
import { OnConnect, OnMessage } from './on-event.decorators.js';
import { OnTopic } from './on-topic.decorator.js';

interface Reading {
  celsius: number;
}

class Handlers {
  @OnTopic<Reading>('sensors/+', { qos: 1 })
  @OnTopic('legacy/sensors/+')
  typed(reading: Reading): number {
    return reading.celsius;
  }

  // @ts-expect-error -- the payload type does not fit the first parameter (checked by `npm run typecheck`)
  @OnTopic<Reading>('sensors/+')
  mistyped(reading: string): string {
    return reading;
  }

  @OnMessage()
  @OnConnect({ client: 'plant' })
  events(): void {}
}

describe('method decorators', () => {
  const accessor = new MqttMetadataAccessor(new Reflector());

  it('stack, keeping every use in order of application', () => {
    expect(accessor.topicHandlers(Handlers.prototype.typed)).toEqual([
      { filters: ['legacy/sensors/+'], options: {} },
      { filters: ['sensors/+'], options: { qos: 1 } },
    ]);
    expect(accessor.eventHandlers(Handlers.prototype.events)).toEqual([
      { event: 'connect', options: { client: 'plant' } },
      { event: 'message', options: {} },
    ]);
  });

  it('expose their metadata key as .KEY, for custom decorators and tests', () => {
    expect(typeof OnTopic.KEY).toBe('symbol');
    expect(OnMessage.KEY).toBe(OnConnect.KEY);
    expect(accessor.topicHandlers(undefined)).toEqual([]);
  });
});
