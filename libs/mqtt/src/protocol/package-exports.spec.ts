import { describe, expect, it } from '@jest/globals';
import { assertTopicName, MqttTopicError, parseTopicFilter, TopicRouter } from 'nestjs-mqtt';

/** `nestjs-mqtt` is the package's entry point (libs/mqtt/src/index.ts, as jest and tsconfig map it). */
describe("topic rules exported from 'nestjs-mqtt'", () => {
  it('TopicRouter, parseTopicFilter and assertTopicName work for your own use', () => {
    const router = new TopicRouter<string>();
    const parsed = parseTopicFilter('home/+room/#rest');
    expect(parsed).toMatchObject({ brokerFilter: 'home/+/#' });
    router.add(parsed.brokerFilter, 'home');
    router.add('home/kitchen/temp', 'kitchen');
    expect([...router.match('home/kitchen/temp')].sort()).toEqual(['home', 'kitchen']);
    expect([...router.match('office/desk')]).toEqual([]);
    expect(() => assertTopicName('home/kitchen/temp', 'topic')).not.toThrow();
    expect(() => assertTopicName('home/+/temp', 'topic')).toThrow(MqttTopicError);
  });
});
