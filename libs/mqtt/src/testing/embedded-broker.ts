import { createServer, type AddressInfo, type Server } from 'node:net';
import type { Aedes, AedesOptions } from 'aedes';

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
  close(): Promise<void>;
}

/**
 * Starts an in-process MQTT 3.1.1 broker (aedes) on loopback: for tests, demos and `npm start`
 * without an installed broker. aedes is an optional peer dependency, loaded only here.
 * It keeps sessions in memory and does not speak MQTT 5.
 */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const { Aedes } = await import('aedes');
  const aedes = await Aedes.createBroker(options.aedes);
  const server: Server = createServer(aedes.handle);
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: `mqtt://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    aedes,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        // Close the broker first: it ends client connections, which lets the server close.
        aedes.close(() => server.close(() => resolve()));
      })),
  };
}

/** Alias for tests: `const broker = await createTestBroker()`. */
export const createTestBroker = startEmbeddedBroker;
