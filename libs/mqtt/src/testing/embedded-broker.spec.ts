import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Aedes } from 'aedes';
import { connect as mqttConnect } from 'mqtt';
import { connect as tcpConnect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { EmbeddedBrokerListenError, createTestBroker, startEmbeddedBroker } from './index.js';

/** A TCP server holding a loopback port, as a first `npm start` would. */
function occupyPort(): Promise<{ port: number; server: Server }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as AddressInfo).port, server }));
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** The aedes instances created by the next starts, to check they were closed. */
function watchAedes(): () => Promise<Aedes[]> {
  const createBroker = jest.spyOn(Aedes, 'createBroker');
  return () => Promise.all(createBroker.mock.results.map((result) => result.value as Promise<Aedes>));
}

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => (socket.closed ? resolve() : socket.once('close', () => resolve())));
}

afterEach(() => {
  jest.restoreAllMocks();
});

describe('startEmbeddedBroker on a port that is taken', () => {
  it('rejects with EmbeddedBrokerListenError naming the port and what to do, and closes the aedes it created', async () => {
    const taken = await occupyPort();
    const created = watchAedes();
    try {
      const error = await startEmbeddedBroker({ port: taken.port }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(EmbeddedBrokerListenError);
      const listenError = error as EmbeddedBrokerListenError;
      expect(listenError).toMatchObject({ name: 'EmbeddedBrokerListenError', code: 'EADDRINUSE', port: taken.port, host: '127.0.0.1' });
      expect(listenError.message).toContain(`port ${taken.port} is already in use on 127.0.0.1`);
      expect(listenError.message).toContain(`connect to the broker at mqtt://127.0.0.1:${taken.port} instead`);
      expect(listenError.message).toContain('another port (0 picks a free one)');
      expect((listenError.cause as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
      const instances = await created();
      expect(instances).toHaveLength(1);
      expect(instances[0].closed).toBe(true);
    } finally {
      await closeServer(taken.server);
    }
  });

  it('createTestBroker fails the same way, and the port works again once it is free', async () => {
    const taken = await occupyPort();
    await expect(createTestBroker({ port: taken.port })).rejects.toThrow(EmbeddedBrokerListenError);
    await closeServer(taken.server);
    const broker = await createTestBroker({ port: taken.port });
    expect(broker.url).toBe(`mqtt://127.0.0.1:${taken.port}`);
    await broker.close();
  });

  it('refuses a port that is not one before creating aedes', async () => {
    const created = watchAedes();
    for (const port of [-1, 65_536, 1.5, Number.NaN]) {
      await expect(startEmbeddedBroker({ port })).rejects.toThrow('port must be an integer from 0 to 65535');
    }
    expect(await created()).toHaveLength(0);
  });
});

describe('EmbeddedBroker.close()', () => {
  it('resolves with an MQTT client connected and a socket that never sent CONNECT, closing both, aedes and the port', async () => {
    const broker = await createTestBroker();
    const client = mqttConnect(broker.url, { reconnectPeriod: 0 });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    const clientClosed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const silent = tcpConnect({ port: broker.port, host: '127.0.0.1' });
    silent.on('error', () => undefined);
    await new Promise<void>((resolve) => silent.once('connect', () => resolve()));
    const second = broker.close();
    await Promise.all([broker.close(), second]);
    expect(broker.close()).toBe(second);
    await clientClosed;
    await closed(silent);
    expect(broker.aedes.closed).toBe(true);
    expect(broker.aedes.connectedClients).toBe(0);
    client.end(true);
    // The port is released: a new server can listen on it at once.
    const again = createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(broker.port, '127.0.0.1', () => resolve());
    });
    await closeServer(again);
  });
});
