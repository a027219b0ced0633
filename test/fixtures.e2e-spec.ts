import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import mqtt, { type IClientOptions, type IConnackPacket, type IPublishPacket, type MqttClient } from 'mqtt';
import { MosquittoBroker } from './fixtures/mosquitto.js';
import { mosquittoPub, mosquittoSub } from './fixtures/mosquitto-clients.js';

/** Connects once (no retries, no reconnect) and returns the client; rejects with the first error. */
function connect(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 3_000, ...options }, false);
}

/** The arguments of the next `event` the client emits. */
function nextEvent<T extends unknown[]>(client: MqttClient, event: 'message' | 'connect'): Promise<T> {
  return new Promise((resolve) => client.once(event, (...args: unknown[]) => resolve(args as T)));
}

/** Connects once and returns the client with its CONNACK. */
async function connectWithConnack(url: string, options: IClientOptions): Promise<{ client: MqttClient; connack: IConnackPacket }> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 3_000, ...options });
  const [connack] = await nextEvent<[IConnackPacket]>(client, 'connect');
  return { client, connack };
}

/** Connects, then disconnects cleanly: resolves when the broker accepted the client. */
async function connectAndEnd(url: string, options: IClientOptions = {}): Promise<void> {
  const client = await connect(url, options);
  await client.endAsync();
}

/** The error a refused connection ends with (fails the test when it connects). */
async function refusal(url: string, options: IClientOptions = {}): Promise<Error & { code?: string | number }> {
  try {
    await connectAndEnd(url, options);
  } catch (error) {
    return error as Error & { code?: string | number };
  }
  throw new Error(`${url} accepted a connection that should have been refused`);
}

describe('MosquittoBroker fixture: every listener', () => {
  let broker: MosquittoBroker;

  beforeAll(async () => {
    broker = await MosquittoBroker.start({ listeners: ['plain', 'auth', 'tls', 'mtls', 'ws', 'wss'], persistence: true });
  });
  afterAll(async () => {
    await broker.close();
  });

  it('gives each listener its own port and a URL whose host matches the server certificate', () => {
    const ports = Object.values(broker.ports);
    expect(ports).toHaveLength(6);
    expect(new Set(ports).size).toBe(6);
    expect(broker.url()).toBe(`mqtt://127.0.0.1:${broker.ports.plain}`);
    expect(broker.url('auth')).toBe(`mqtt://127.0.0.1:${broker.ports.auth}`);
    expect(broker.url('tls')).toBe(`mqtts://localhost:${broker.ports.tls}`);
    expect(broker.url('mtls')).toBe(`mqtts://localhost:${broker.ports.mtls}`);
    expect(broker.url('ws')).toBe(`ws://127.0.0.1:${broker.ports.ws}`);
    expect(broker.url('wss')).toBe(`wss://localhost:${broker.ports.wss}`);
    expect(broker.pid).toEqual(expect.any(Number));
  });

  it('round-trips text, empty and binary payloads through mosquitto_pub and mosquitto_sub', async () => {
    const port = broker.ports.plain as number;
    const sub = await mosquittoSub(port, ['fx/text', 'fx/bytes/#'], { qos: 1 });
    try {
      // Every byte value, including newline, NUL and invalid UTF-8.
      const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      await mosquittoPub(port, 'fx/text', 'hello wörld', { qos: 1 });
      await mosquittoPub(port, 'fx/bytes/empty', '', { qos: 1 });
      await mosquittoPub(port, 'fx/bytes/all', binary, { qos: 1 });
      const messages = await sub.waitForCount(3);
      expect(messages.map((m) => m.topic)).toEqual(['fx/text', 'fx/bytes/empty', 'fx/bytes/all']);
      expect(messages[0].payload.toString('utf8')).toBe('hello wörld');
      expect(messages[1].payload).toEqual(Buffer.alloc(0));
      expect(messages[2].payload.equals(binary)).toBe(true);
      await expect(sub.waitForCount(4, 200)).rejects.toThrow(/expected 4 message\(s\), got 3: fx\/text, fx\/bytes\/empty, fx\/bytes\/all/);
    } finally {
      await sub.stop();
    }
  });

  it('delivers from mqtt.js on the plain listener to mosquitto_sub, and MQTT 5 properties from mosquitto_pub', async () => {
    const port = broker.ports.plain as number;
    const sub = await mosquittoSub(port, 'fx/js', { protocolVersion: 5 });
    const client = await connect(broker.url('plain'), { protocolVersion: 5 });
    try {
      await client.publishAsync('fx/js', 'from mqtt.js', { qos: 1 });
      expect((await sub.waitForCount(1))[0].payload.toString()).toBe('from mqtt.js');

      await client.subscribeAsync('fx/v5', { qos: 1 });
      const arrived = nextEvent<[string, Buffer, IPublishPacket]>(client, 'message');
      await mosquittoPub(port, 'fx/v5', 'props', {
        protocolVersion: 5,
        userProperties: { tenant: 'acme' },
        responseTopic: 'fx/reply',
        correlationData: 'c-1',
      });
      const [, payload, packet] = await arrived;
      expect(payload.toString()).toBe('props');
      expect(packet.properties?.userProperties).toEqual({ tenant: 'acme' });
      expect(packet.properties?.responseTopic).toBe('fx/reply');
      expect(packet.properties?.correlationData?.toString()).toBe('c-1');
    } finally {
      await client.endAsync();
      await sub.stop();
    }
  });

  it('auth listener: accepts svc-app, refuses a wrong password and anonymous clients (CONNACK 5)', async () => {
    const { username, password } = broker.users.app;
    await connectAndEnd(broker.url('auth'), { username, password, protocolVersion: 4 });
    expect(await refusal(broker.url('auth'), { username, password: `${password}-wrong`, protocolVersion: 4 })).toMatchObject({ code: 5 });
    expect(await refusal(broker.url('auth'), { protocolVersion: 4 })).toMatchObject({ code: 5 });
    expect(await refusal(broker.url('auth'), { username, password: 'nope', protocolVersion: 5 })).toMatchObject({ code: 135 });
  });

  it('auth listener ACL: svc-ro reads everything but its publishes are dropped', async () => {
    const port = broker.ports.auth as number;
    const sub = await mosquittoSub(port, 'acl/#', { qos: 1, ...broker.users.ro });
    try {
      await mosquittoPub(port, 'acl/ro', 'dropped', { qos: 1, ...broker.users.ro });
      await mosquittoPub(port, 'acl/app', 'kept', { qos: 1, ...broker.users.app });
      const [first] = await sub.waitForCount(1);
      expect(first).toEqual({ topic: 'acl/app', payload: Buffer.from('kept') });
      await expect(mosquittoPub(port, 'acl/x', 'x', { password: 'no-user' })).rejects.toThrow(/mosquitto_pub exited with/);
    } finally {
      await sub.stop();
    }
  });

  it('tls listener: trusts only the private CA and checks the host name', async () => {
    const credentials = broker.users.app;
    await connectAndEnd(broker.url('tls'), { ...credentials, ca: readFileSync(broker.tls.ca) });
    expect(await refusal(broker.url('tls'), credentials)).toMatchObject({ code: 'SELF_SIGNED_CERT_IN_CHAIN' });
    expect(await refusal(broker.url('tls'), { ...credentials, ca: readFileSync(broker.tls.wrongCa) })).toMatchObject({
      code: 'SELF_SIGNED_CERT_IN_CHAIN',
    });
    expect(
      await refusal(broker.url('tls'), { ...credentials, ca: readFileSync(broker.tls.ca), servername: 'other.test' }),
    ).toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    // A plain MQTT client on the TLS port does not get through either.
    await expect(connectAndEnd(`mqtt://127.0.0.1:${broker.ports.tls}`, credentials)).rejects.toThrow();
  });

  it('certificates: server for localhost/127.0.0.1, client CN test-client, other-host cert from the same CA, unrelated wrong CA', () => {
    const pem = (file: string) => new X509Certificate(readFileSync(file));
    const ca = pem(broker.tls.ca);
    const server = pem(broker.tls.serverCert);
    const client = pem(broker.tls.clientCert);
    const other = pem(broker.tls.otherHostCert);
    const wrong = pem(broker.tls.wrongCa);
    expect(ca.ca).toBe(true);
    expect(server.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1');
    expect(server.checkIssued(ca) && server.verify(ca.publicKey)).toBe(true);
    expect(client.subject).toContain('CN=test-client');
    expect(client.verify(ca.publicKey)).toBe(true);
    expect(other.subjectAltName).toBe('DNS:not-this-host');
    expect(other.verify(ca.publicKey)).toBe(true);
    expect(wrong.ca).toBe(true);
    expect(server.verify(wrong.publicKey)).toBe(false);
    for (const file of Object.values(broker.tls)) expect(existsSync(file)).toBe(true);
  });

  it('mtls listener: connects with the client certificate, refuses a client without one', async () => {
    const ca = readFileSync(broker.tls.ca);
    await connectAndEnd(broker.url('mtls'), { ca, cert: readFileSync(broker.tls.clientCert), key: readFileSync(broker.tls.clientKey) });
    const error = await refusal(broker.url('mtls'), { ca });
    // TLS 1.3 reports the missing certificate after the handshake: an alert, or the broker closing the socket.
    expect(String(error.code ?? error.message)).toMatch(/CERTIFICATE_REQUIRED|ECONNRESET|connect/i);
  });

  it('ws and wss listeners accept mqtt.js', async () => {
    await connectAndEnd(broker.url('ws'));
    await connectAndEnd(broker.url('wss'), { ...broker.users.app, ca: readFileSync(broker.tls.ca) });
  });

  it('pause() freezes the broker and resume() thaws it', async () => {
    // The kernel's view of the process: 'T' while stopped by SIGSTOP.
    const state = () => readFileSync(`/proc/${broker.pid}/stat`, 'utf8').split(') ')[1]?.charAt(0);
    // Signals are delivered asynchronously: give the kernel a bounded number of turns to apply them.
    const settle = async (stopped: boolean) => {
      for (let turn = 0; (state() === 'T') !== stopped && turn < 10_000; turn++) await new Promise((resolve) => setImmediate(resolve));
      return state() === 'T';
    };
    broker.pause();
    try {
      expect(await settle(true)).toBe(true);
    } finally {
      broker.resume();
    }
    expect(await settle(false)).toBe(false);
    await mosquittoPub(broker.ports.plain as number, 'fx/resumed', 'on time', { qos: 1 });
  });

  it('restart() keeps the ports and the persisted durable session, including queued QoS 1 messages', async () => {
    const ports = { ...broker.ports };
    const firstPid = broker.pid;
    const durable: IClientOptions = { clientId: 'fixture-durable', clean: false, protocolVersion: 4 };
    const { client: first, connack } = await connectWithConnack(broker.url(), durable);
    expect(connack.sessionPresent).toBe(false);
    await first.subscribeAsync('durable/#', { qos: 1 });
    await first.endAsync();

    await broker.stop();
    expect(broker.pid).toBeUndefined();
    await broker.restart();
    expect(broker.ports).toEqual(ports);
    expect(broker.pid).not.toBe(firstPid);

    // Queued for the offline durable session; received as soon as it reconnects.
    await mosquittoPub(broker.ports.plain as number, 'durable/queued', 'while away', { qos: 1 });
    const again = mqtt.connect(broker.url(), { ...durable, reconnectPeriod: 0 });
    const message = nextEvent<[string, Buffer]>(again, 'message');
    try {
      const [connackAgain] = await nextEvent<[IConnackPacket]>(again, 'connect');
      expect(connackAgain.sessionPresent).toBe(true);
      const [topic, payload] = await message;
      expect(topic).toBe('durable/queued');
      expect(payload.toString()).toBe('while away');
    } finally {
      await again.endAsync();
    }
    expect(await broker.log()).toMatch(/Saving in-memory database/);
  });

  it('kill() ends the broker at once; restart() brings it back on the same ports', async () => {
    await broker.kill();
    expect(broker.pid).toBeUndefined();
    await expect(connectAndEnd(broker.url(), { connectTimeout: 500 })).rejects.toThrow();
    await broker.restart();
    await connectAndEnd(broker.url());
    await connectAndEnd(broker.url('wss'), { ...broker.users.app, ca: readFileSync(broker.tls.ca) });
  });
});

describe('MosquittoBroker fixture: defaults and lifecycle', () => {
  it('starts a plain-only broker, has no TLS material, logs to a file, and close() is idempotent', async () => {
    const broker = await MosquittoBroker.start();
    try {
      expect(Object.keys(broker.ports)).toEqual(['plain']);
      expect(() => broker.tls).toThrow(/no TLS files/);
      expect(() => broker.url('tls')).toThrow(/no 'tls' listener/);
      await connectAndEnd(broker.url());
      expect(await broker.log()).toMatch(/mosquitto version 2\.\d+\.\d+ running/);
    } finally {
      await broker.close();
    }
    expect(existsSync(broker.dir)).toBe(false);
    expect(broker.pid).toBeUndefined();
    await broker.close();
  });

  it('reports a broker that cannot start, with its own error output', async () => {
    await expect(MosquittoBroker.start({ extraConfig: ['no_such_directive 1'] })).rejects.toThrow(/mosquitto exited at start[\s\S]*no_such_directive/);
  });
});
