import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Aedes, AedesOptions } from 'aedes';
import { importOptionalPeer } from '../optional-peer.js';

export interface EmbeddedBrokerOptions {
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** Interface to bind; loopback by default. */
  host?: string;
  /** Passed to aedes (authenticate, authorizePublish, authorizeSubscribe, ...). */
  aedes?: AedesOptions;
}

export interface EmbeddedBroker {
  /** `mqtt://host:port` of the running broker. */
  readonly url: string;
  readonly port: number;
  /** The aedes instance, for hooks and inspection. */
  readonly aedes: Aedes;
  /** Closes aedes, every client socket (also those that never sent CONNECT) and the TCP server. Idempotent. */
  close(): Promise<void>;
}

/**
 * The embedded broker could not listen on its port (`code` is Node's: `EADDRINUSE`, `EACCES`, `EADDRNOTAVAIL`, ...).
 * When this is thrown, nothing the broker opened is left running: aedes and the server are closed.
 */
export class EmbeddedBrokerListenError extends Error {
  override readonly name = 'EmbeddedBrokerListenError';
  readonly code: string | undefined;

  constructor(
    readonly host: string,
    readonly port: number,
    cause: Error,
  ) {
    super(listenErrorMessage(host, port, cause), { cause });
    this.code = (cause as NodeJS.ErrnoException).code;
  }
}

function listenErrorMessage(host: string, port: number, cause: Error): string {
  const at = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  switch ((cause as NodeJS.ErrnoException).code) {
    case 'EADDRINUSE':
      return (
        `embedded MQTT broker: port ${port} is already in use on ${host} (another broker, or another copy of this process?): ` +
        `connect to the broker at mqtt://${at} instead, or start the embedded broker on another port (0 picks a free one)`
      );
    case 'EACCES':
      return `embedded MQTT broker: not allowed to listen on ${at} (ports below 1024 need privileges): use a port of 1024 or above, or 0 for a free one`;
    case 'EADDRNOTAVAIL':
      return `embedded MQTT broker: cannot listen on ${at}: ${host} is not an address of this machine`;
    default:
      return `embedded MQTT broker: cannot listen on ${at}: ${cause.message}`;
  }
}

function assertPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new RangeError(`embedded MQTT broker: port must be an integer from 0 to 65535 (0 picks a free one), got ${String(port)}`);
  }
}

/**
 * Starts an in-process MQTT 3.1.1 broker (aedes) on loopback: for tests, demos and `npm start`
 * without an installed broker. aedes is an optional peer dependency, loaded only here: without it, this rejects
 * with an `MqttError` that names it. It keeps sessions in memory and does not speak MQTT 5.
 *
 * Rejects with {@link EmbeddedBrokerListenError} when the port cannot be bound (e.g. `EADDRINUSE`), after closing
 * the aedes instance it created, so a failed start leaves no handle that keeps the process alive.
 */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const requestedPort = options.port ?? 0;
  assertPort(requestedPort);
  const host = options.host ?? '127.0.0.1';
  const { Aedes } = await importOptionalPeer(() => import('aedes'), 'aedes', 'nestjs-mqtt/testing');
  const aedes = await Aedes.createBroker(options.aedes);
  const closeAedes = (): Promise<void> => new Promise<void>((resolve) => aedes.close(() => resolve()));
  // aedes only tracks clients that completed CONNECT; the server's own list also holds the others.
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    aedes.handle(socket);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(requestedPort, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await closeAedes();
    // Not `instanceof Error`: errors from Node's core come from another realm under some test runners.
    throw new EmbeddedBrokerListenError(host, requestedPort, error as Error);
  }
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: `mqtt://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    aedes,
    close: () =>
      (closing ??= (async () => {
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        // aedes ends the connected clients (and their sessions) first; then any socket still open is destroyed,
        // such as one that never sent CONNECT, which server.close() would otherwise wait for.
        await closeAedes();
        for (const socket of sockets) socket.destroy();
        await serverClosed;
      })()),
  };
}

/** Alias for tests: `const broker = await createTestBroker()`. */
export const createTestBroker = startEmbeddedBroker;
