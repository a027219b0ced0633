import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import mqtt, { type IClientOptions, type IConnackPacket, type IPublishPacket, type MqttClient } from 'mqtt';
import { FakeBroker, topicMatches } from './support/fake-broker.js';
import { Inbox } from './support/inbox.js';

/** The arguments of the client's next `event`; rejects after `timeoutMs` so no test hangs. */
function clientEvent<T extends unknown[]>(client: MqttClient, event: 'connect' | 'error' | 'close', timeoutMs = 5_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' from the client within ${timeoutMs} ms`)), timeoutMs);
    client.once(event, (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args as T);
    });
  });
}

/** Identifiers of a received copy, as a sorted list ([] when it carries none). */
function identifiers(packet: IPublishPacket): number[] {
  const value = packet.properties?.subscriptionIdentifier;
  return value === undefined ? [] : [value].flat().sort((a, b) => a - b);
}

describe('FakeBroker: a scripted MQTT broker for mqtt.js clients', () => {
  let broker: FakeBroker;
  const clients: MqttClient[] = [];

  /** A client without reconnects; it is ended after the test. */
  function client(options: IClientOptions): MqttClient {
    const created = mqtt.connect(broker.url, { reconnectPeriod: 0, connectTimeout: 3_000, ...options });
    clients.push(created);
    return created;
  }

  /** Connects once and returns the client with its CONNACK. */
  async function connected(options: IClientOptions): Promise<{ client: MqttClient; connack: IConnackPacket }> {
    const created = client(options);
    const [connack] = await clientEvent<[IConnackPacket]>(created, 'connect');
    return { client: created, connack };
  }

  /** Every PUBLISH the client receives, in order. */
  function inbox(of: MqttClient): Inbox<IPublishPacket> {
    const box = new Inbox<IPublishPacket>();
    of.on('message', (_topic, _payload, packet) => box.push(packet));
    return box;
  }

  beforeEach(async () => {
    broker = await FakeBroker.start();
  });
  afterEach(async () => {
    for (const created of clients.splice(0)) await created.endAsync(true);
    await broker.close();
  });

  it('refuses the first CONNECT with MQTT 5 "Server busy", accepts the reconnect, and sends CONNACK properties', async () => {
    broker.connack = [0x89];
    broker.connackProperties = { receiveMaximum: 2 };
    const refused = client({ protocolVersion: 5, clientId: 'busy-5', reconnectPeriod: 10, reconnectOnConnackError: true });
    const [error] = await clientEvent<[Error & { code?: number }]>(refused, 'error');
    expect(error.code).toBe(0x89);
    const [connack] = await clientEvent<[IConnackPacket]>(refused, 'connect');
    expect(connack.reasonCode).toBe(0);
    expect(connack.properties?.receiveMaximum).toBe(2);
    expect(broker.received('connect', 'busy-5')).toHaveLength(2);
    expect(broker.clients).toEqual(['busy-5']);
  });

  it('refuses the first CONNECT with 3.1.1 "Server unavailable", then accepts the reconnect', async () => {
    broker.connack = [3];
    const refused = client({ protocolVersion: 4, clientId: 'busy-4', reconnectPeriod: 10, reconnectOnConnackError: true });
    const [error] = await clientEvent<[Error & { code?: number }]>(refused, 'error');
    expect(error.code).toBe(3);
    const [connack] = await clientEvent<[IConnackPacket]>(refused, 'connect');
    expect(connack.returnCode).toBe(0);
    expect(broker.received('connect', 'busy-4')).toHaveLength(2);
  });

  it.each([
    [5, 0x87],
    [4, 0x80],
  ] as const)('MQTT %i: refuses scripted filters (SUBACK code %i) and grants at most grantQos', async (protocolVersion, refusal) => {
    broker.refuse.add('denied/#');
    broker.grantQos = 1;
    const { client: subscriber } = await connected({ protocolVersion, clientId: `suback-${protocolVersion}` });
    // mqtt.js rejects with the SUBACK itself (ErrorWithSubackPacket).
    await expect(subscriber.subscribeAsync('denied/#', { qos: 1 })).rejects.toMatchObject({ packet: { cmd: 'suback', granted: [refusal] } });
    await expect(subscriber.subscribeAsync('granted/+', { qos: 2 })).resolves.toMatchObject([{ topic: 'granted/+', qos: 1 }]);
    expect(broker.subscriptions(`suback-${protocolVersion}`).map(({ filter, qos }) => ({ filter, qos }))).toEqual([{ filter: 'granted/+', qos: 1 }]);
  });

  it('MQTT 5: one copy per overlapping subscription, each with its own identifier; or one copy with all of them; or raw identifiers', async () => {
    const { client: subscriber } = await connected({ protocolVersion: 5, clientId: 'overlap-5' });
    const received = inbox(subscriber);
    await subscriber.subscribeAsync('sensors/+/temp', { qos: 1, properties: { subscriptionIdentifier: 1 } });
    await subscriber.subscribeAsync('sensors/#', { qos: 2, properties: { subscriptionIdentifier: 2 } });
    await subscriber.subscribeAsync('other/#', { qos: 1, properties: { subscriptionIdentifier: 3 } });

    const copies = await broker.deliver('sensors/a/temp', 'one', { qos: 2 });
    expect(copies.map((copy) => [copy.outcome, copy.packet.qos, identifiers(copy.packet)])).toEqual([
      ['acknowledged', 1, [1]],
      ['acknowledged', 2, [2]],
    ]);
    // The QoS 2 copy reaches 'message' on PUBREL, after the broker saw PUBREC: wait for both.
    await received.waitFor(2);
    expect(received.items.map(identifiers).sort()).toEqual([[1], [2]]);

    received.clear();
    const [single] = await broker.deliver('sensors/b/temp', 'all', { qos: 1, oneCopyPerClient: true });
    expect(identifiers(single.packet)).toEqual([1, 2]);
    const [combined] = await received.waitFor(1);
    expect(identifiers(combined)).toEqual([1, 2]);

    received.clear();
    const raw = await broker.deliverRaw('overlap-5', {
      topic: 'sensors/c/temp',
      payload: 'old deploy',
      qos: 1,
      properties: { subscriptionIdentifier: [7, 8] },
    });
    expect(raw.outcome).toBe('acknowledged');
    const [queued] = await received.waitFor(1);
    expect(identifiers(queued)).toEqual([7, 8]);
  });

  it('MQTT 3.1.1: one copy per overlapping subscription, without identifiers', async () => {
    const { client: subscriber } = await connected({ protocolVersion: 4, clientId: 'overlap-4' });
    const received = inbox(subscriber);
    await subscriber.subscribeAsync('sensors/+/temp', { qos: 1 });
    await subscriber.subscribeAsync('sensors/#', { qos: 1 });
    const copies = await broker.deliver('sensors/a/temp', 'x', { qos: 1 });
    expect(copies.map((copy) => copy.outcome)).toEqual(['acknowledged', 'acknowledged']);
    const messages = await received.waitFor(2);
    expect(messages.map((message) => [message.topic, message.properties])).toEqual([
      ['sensors/a/temp', undefined],
      ['sensors/a/temp', undefined],
    ]);
  });

  it('sends a retained message to a new subscription only (rh 1), with that subscription identifier only', async () => {
    await broker.deliver('config/a', 'v1', { qos: 1, retain: true });
    const { client: subscriber } = await connected({ protocolVersion: 5, clientId: 'retained-5' });
    const received = inbox(subscriber);
    await subscriber.subscribeAsync('config/#', { qos: 1, rh: 1, properties: { subscriptionIdentifier: 4 } });
    const [first] = await received.waitFor(1);
    expect([first.topic, first.payload.toString(), first.retain, identifiers(first)]).toEqual(['config/a', 'v1', true, [4]]);

    // The same filter again is not new: nothing retained follows, which the acknowledged marker behind it proves.
    await subscriber.subscribeAsync('config/#', { qos: 1, rh: 1, properties: { subscriptionIdentifier: 5 } });
    await subscriber.subscribeAsync('marker', { qos: 1 });
    await broker.deliver('marker', 'end', { qos: 1 });
    expect(received.items.map((message) => [message.topic, message.retain, identifiers(message)])).toEqual([
      ['config/a', true, [4]],
      ['marker', false, []],
    ]);
  });

  it('answers UNSUBSCRIBE by dropping the connection when scripted; the filter stays in the session', async () => {
    broker.dropOnUnsubscribe = true;
    const { client: subscriber } = await connected({ protocolVersion: 5, clientId: 'drop-5', clean: false });
    await subscriber.subscribeAsync('a/b', { qos: 1 });
    const unsubscribe = broker.next('unsubscribe');
    const closed = broker.next('close', (event) => event.clientId === 'drop-5');
    const answered = subscriber.unsubscribeAsync('a/b').then(
      () => 'unsubscribed',
      () => 'failed',
    );
    expect(await unsubscribe).toMatchObject({ clientId: 'drop-5', dropped: true });
    expect(await closed).toEqual({ clientId: 'drop-5', graceful: false });
    expect(await answered).toBe('failed');
    expect(broker.connections).toBe(0);
    expect(broker.sent.filter((record) => record.cmd === 'unsuback')).toHaveLength(0);
    expect(broker.subscriptions('drop-5').map((subscription) => subscription.filter)).toEqual(['a/b']);
  });

  it('never answers a silent SUBSCRIBE', async () => {
    broker.silentSubscribe.add('quiet/#');
    const { client: subscriber } = await connected({ protocolVersion: 5, clientId: 'silent-5' });
    const subscribed = broker.next('subscribe');
    subscriber.subscribe('quiet/#', { qos: 1 }, () => undefined);
    expect((await subscribed).granted).toBeUndefined();
    expect(broker.sent.filter((record) => record.cmd === 'suback')).toHaveLength(0);
    expect(broker.subscriptions('silent-5')).toEqual([]);
  });

  it.each([5, 4] as const)('MQTT %i: a clean: false client finds its session and subscriptions; a clean one drops them', async (protocolVersion) => {
    const clientId = `keeper-${protocolVersion}`;
    const first = await connected({ protocolVersion, clientId, clean: false });
    expect(first.connack.sessionPresent).toBe(false);
    await first.client.subscribeAsync('keep/#', { qos: 1, properties: protocolVersion === 5 ? { subscriptionIdentifier: 9 } : undefined });
    await first.client.endAsync();

    const again = await connected({ protocolVersion, clientId, clean: false });
    expect(again.connack.sessionPresent).toBe(true);
    const received = inbox(again.client);
    await broker.deliver('keep/x', 'kept', { qos: 1 });
    const [message] = await received.waitFor(1);
    expect(identifiers(message)).toEqual(protocolVersion === 5 ? [9] : []);
    await again.client.endAsync();

    const clean = await connected({ protocolVersion, clientId, clean: true });
    expect(clean.connack.sessionPresent).toBe(false);
    expect(broker.subscriptions(clientId)).toEqual([]);
    const closed = broker.next('close', (event) => event.clientId === clientId);
    await clean.client.endAsync();
    await closed;

    const afterClean = await connected({ protocolVersion, clientId, clean: false });
    expect(afterClean.connack.sessionPresent).toBe(false);
  });

  it('runs both QoS 2 flows: broker to client (PUBREC, PUBREL, PUBCOMP) and client to broker, routed on', async () => {
    const { client: subscriber } = await connected({ protocolVersion: 5, clientId: 'q2-sub' });
    const { client: publisher } = await connected({ protocolVersion: 5, clientId: 'q2-pub' });
    const received = inbox(subscriber);
    await subscriber.subscribeAsync('q2/#', { qos: 2 });

    const [copy] = await broker.deliver('q2/down', 'from broker', { qos: 2 });
    expect(copy.outcome).toBe('acknowledged');
    expect(broker.received('pubrec', 'q2-sub')).toHaveLength(1);
    expect(broker.received('pubcomp', 'q2-sub')).toHaveLength(1);

    const published = broker.next('publish', (event) => event.clientId === 'q2-pub');
    await publisher.publishAsync('q2/up', 'from client', { qos: 2 });
    expect((await published).packet).toMatchObject({ topic: 'q2/up', qos: 2 });
    expect(broker.received('pubrel', 'q2-pub')).toHaveLength(1);
    expect(broker.sent.filter((record) => record.clientId === 'q2-pub').map((record) => record.cmd)).toEqual(['connack', 'pubrec', 'pubcomp']);
    const messages = await received.waitFor(2);
    expect(messages.map((message) => [message.topic, message.qos, message.payload.toString()])).toEqual([
      ['q2/down', 2, 'from broker'],
      ['q2/up', 2, 'from client'],
    ]);
  });

  it('MQTT 5 no-local: a client does not get its own message through an nl subscription', async () => {
    const { client: talker } = await connected({ protocolVersion: 5, clientId: 'talker' });
    const { client: listener } = await connected({ protocolVersion: 5, clientId: 'listener' });
    const own = inbox(talker);
    const others = inbox(listener);
    await talker.subscribeAsync('chat/#', { qos: 0, nl: true, properties: { subscriptionIdentifier: 1 } });
    await talker.subscribeAsync('chat/+', { qos: 0, nl: false, properties: { subscriptionIdentifier: 2 } });
    await listener.subscribeAsync('chat/#', { qos: 0, nl: true });
    // The broker writes the copies before its PUBACK, so they are in once the publish resolves.
    await talker.publishAsync('chat/room', 'hello', { qos: 1 });
    await others.waitFor(1);
    expect(own.items.map(identifiers)).toEqual([[2]]);
    expect(others.items.map((message) => message.payload.toString())).toEqual(['hello']);
  });

  it('publishes the will of a client whose connection is lost, not of one that disconnects', async () => {
    const { client: watcher } = await connected({ protocolVersion: 5, clientId: 'watcher' });
    const received = inbox(watcher);
    await watcher.subscribeAsync('status/#', { qos: 1 });
    const { client: polite } = await connected({
      protocolVersion: 5,
      clientId: 'polite',
      will: { topic: 'status/polite', payload: Buffer.from('gone'), qos: 1, retain: false },
    });
    // Once the broker saw it close, a wrongly sent will would reach the watcher before the next one.
    const politeClosed = broker.next('close', (event) => event.clientId === 'polite');
    await polite.endAsync();
    expect((await politeClosed).graceful).toBe(true);
    const { client: crashing } = await connected({
      protocolVersion: 5,
      clientId: 'crashing',
      will: { topic: 'status/crashing', payload: Buffer.from('gone'), qos: 1, retain: false },
    });
    crashing.stream.destroy();
    const [will] = await received.waitFor(1);
    expect([will.topic, will.payload.toString()]).toEqual(['status/crashing', 'gone']);
    expect(received.items).toHaveLength(1);
  });

  it('delivers a $share group one copy at a time, in turn', async () => {
    const { client: first } = await connected({ protocolVersion: 5, clientId: 'worker-1' });
    const { client: second } = await connected({ protocolVersion: 5, clientId: 'worker-2' });
    await first.subscribeAsync('$share/workers/jobs/#', { qos: 1 });
    await second.subscribeAsync('$share/workers/jobs/#', { qos: 1 });
    const one = await broker.deliver('jobs/1', 'a', { qos: 1 });
    const two = await broker.deliver('jobs/2', 'b', { qos: 1 });
    expect(one).toHaveLength(1);
    expect(two).toHaveLength(1);
    expect([one[0].clientId, two[0].clientId].sort()).toEqual(['worker-1', 'worker-2']);
  });

  it('matches filters like an MQTT broker', () => {
    expect(topicMatches('a/+/c', 'a/b/c')).toBe(true);
    expect(topicMatches('a/+/c', 'a/b/d')).toBe(false);
    expect(topicMatches('a/#', 'a')).toBe(true);
    expect(topicMatches('a/#', 'a/b/c')).toBe(true);
    expect(topicMatches('a/+', 'a')).toBe(false);
    expect(topicMatches('#', '$SYS/uptime')).toBe(false);
    expect(topicMatches('+/uptime', '$SYS/uptime')).toBe(false);
    expect(topicMatches('$SYS/#', '$SYS/uptime')).toBe(true);
    expect(topicMatches('a//c', 'a//c')).toBe(true);
  });

  it('drops every client on demand and keeps listening; waits are bounded', async () => {
    const { client: dropped } = await connected({ protocolVersion: 5, clientId: 'dropped' });
    const lost = clientEvent(dropped, 'close');
    await broker.dropClients();
    await lost;
    expect(broker.connections).toBe(0);
    await connected({ protocolVersion: 5, clientId: 'after-drop' });
    expect(broker.connections).toBe(1);
    await expect(broker.next('subscribe', undefined, 50)).rejects.toThrow(/no matching 'subscribe' event within 50 ms; received so far: connect\(dropped\)/);
    await broker.close();
    await broker.close();
    expect(broker.connections).toBe(0);
  });
});
