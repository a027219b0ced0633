import { describe, expect, it } from '@jest/globals';
import type { IPublishPacket } from 'mqtt';
import { FakeMqttClient } from '../../../../test/support/fake-mqtt-client.js';
import { MqttPublishError } from '../errors/mqtt-publish.error.js';
import { ClientPublisher } from './client-publisher.js';
import { createReplier, type ReplySender } from './reply-publisher.js';

/**
 * A replier on a real ClientPublisher over a connected fake mqtt.js client, its errors typed as
 * MqttConnection's publish path types them; warnings are collected.
 */
function setup({ maxPayloadBytes = 1_024, maxBacklogBytes = 1_000_000 } = {}) {
  const fake = new FakeMqttClient();
  fake.connected = true;
  const publisher = new ClientPublisher(fake.client, 100, () => false);
  const send: ReplySender = (topic, body, options, done) =>
    publisher.publish(topic, body, options, (error) => done(error && new MqttPublishError(topic, error.message, undefined, { cause: error })));
  const warnings: string[] = [];
  const reply = createReplier(send, maxPayloadBytes, maxBacklogBytes, (message) => warnings.push(message));
  return { fake, reply, warnings };
}

function request(
  responseTopic: string | undefined,
  { qos = 1, correlationData = Buffer.from('corr-1') }: { qos?: 0 | 1 | 2; correlationData?: Buffer | null } = {},
): IPublishPacket {
  return {
    cmd: 'publish',
    topic: 'svc/ask',
    payload: Buffer.alloc(0),
    qos,
    dup: false,
    retain: false,
    properties: { ...(responseTopic !== undefined ? { responseTopic } : {}), ...(correlationData ? { correlationData } : {}) },
  };
}

describe('createReplier', () => {
  it('publishes an object as JSON with the JSON content type and the request’s correlation data', () => {
    const { fake, reply, warnings } = setup();
    reply(request('replies/a'), { value: { sum: 3 } });
    const sent = fake.lastPublishTo('replies/a');
    expect(sent.body).toBe('{"sum":3}');
    expect(sent.options).toEqual({ qos: 1, properties: { correlationData: Buffer.from('corr-1'), contentType: 'application/json' } });
    expect(warnings).toEqual([]);
  });

  it.each([
    ['a string', 'plain', 'plain'],
    ['a number', 42, '42'],
    ['a Buffer', Buffer.from([1, 2]), Buffer.from([1, 2])],
  ])('publishes %s as it is, without a JSON content type', (_what, value, body) => {
    const { fake, reply } = setup();
    reply(request('replies/a'), { value });
    const sent = fake.lastPublishTo('replies/a');
    expect(sent.body).toEqual(body);
    expect(sent.options.properties?.contentType).toBeUndefined();
  });

  it('publishes an error as an empty payload with the error user property', () => {
    const { fake, reply } = setup();
    reply(request('replies/a'), { error: 'the handler failed' });
    const sent = fake.lastPublishTo('replies/a');
    expect(sent.body).toBe('');
    expect(sent.options.properties).toEqual({ correlationData: Buffer.from('corr-1'), userProperties: { error: 'the handler failed' } });
  });

  it('replies with an error when the value cannot be encoded', () => {
    const { fake, reply } = setup({ maxPayloadBytes: 8 });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    reply(request('replies/circular'), { value: circular });
    reply(request('replies/large'), { value: 'x'.repeat(9) });
    for (const topic of ['replies/circular', 'replies/large']) {
      const sent = fake.lastPublishTo(topic);
      expect(sent.body).toBe('');
      expect(sent.options.properties?.contentType).toBeUndefined();
      expect(sent.options.properties?.userProperties?.error).toMatch(/^the reply could not be encoded: /);
    }
  });

  it('answers a QoS 0 request at QoS 0 and a QoS 1 or 2 request at QoS 1', () => {
    const { fake, reply } = setup();
    reply(request('r/0', { qos: 0 }), { value: 'a' });
    reply(request('r/1', { qos: 1 }), { value: 'a' });
    reply(request('r/2', { qos: 2 }), { value: 'a' });
    expect(fake.published.map((call) => [call.topic, call.options.qos])).toEqual([
      ['r/0', 0],
      ['r/1', 1],
      ['r/2', 1],
    ]);
  });

  it('omits correlation data the request did not carry', () => {
    const { fake, reply } = setup();
    reply(request('replies/a', { correlationData: null }), { value: 'x' });
    expect(fake.lastPublishTo('replies/a').options.properties).toEqual({});
  });

  it('sends nothing for a request without a response topic', () => {
    const { fake, reply, warnings } = setup();
    reply(request(undefined), { value: 'x' });
    expect(fake.published).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it.each([
    ['$SYS/broker/clients', /starts with '\$' \(reserved for the broker\)/],
    ['$share/g/replies', /starts with '\$'/],
    ['replies/+', /wildcards/],
  ])("refuses the response topic '%s' with a warning", (responseTopic, reason) => {
    const { fake, reply, warnings } = setup();
    reply(request(responseTopic), { value: 'x' });
    expect(fake.published).toEqual([]);
    expect(warnings).toEqual([expect.stringMatching(/^Reply not sent: /)]);
    expect(warnings[0]).toMatch(reason);
  });

  it('bounds the bytes of unacknowledged replies, and frees them once a reply is acknowledged or fails', () => {
    // Each reply: 9 bytes of topic + 3 of payload + 6 of correlation data = 18 bytes.
    const { fake, reply, warnings } = setup({ maxBacklogBytes: 36 });
    reply(request('replies/1'), { value: 'abc' });
    reply(request('replies/2'), { value: 'abc' });
    reply(request('replies/3'), { value: 'abc' });
    expect(fake.published.map((call) => call.topic)).toEqual(['replies/1', 'replies/2']);
    expect(warnings).toEqual(["Reply to 'replies/3' not sent: 36 bytes of replies are still waiting (replyBacklogBytes 36)"]);

    fake.published[0].ack();
    reply(request('replies/4'), { value: 'abc' });
    fake.published[1].fail(new Error('Quota exceeded'));
    reply(request('replies/5'), { value: 'abc' });
    expect(fake.published.map((call) => call.topic)).toEqual(['replies/1', 'replies/2', 'replies/4', 'replies/5']);
    expect(warnings.slice(1)).toEqual(["Reply failed: Publish to 'replies/2' failed: Quota exceeded"]);
  });
});
