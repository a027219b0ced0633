import { MqttError } from './errors/mqtt.error.js';

/**
 * Loads an optional peer dependency of a subpath export (`aedes` for `nestjs-mqtt/testing`, `@nestjs/terminus` for
 * `nestjs-mqtt/terminus`). When the peer is not installed, rejects with an {@link MqttError} naming the subpath, the
 * package and the command that installs it, instead of Node's bare `ERR_MODULE_NOT_FOUND`; any other failure (the
 * peer is there but cannot load) is rethrown as it is.
 *
 * The peers are loaded with `import()` when first needed, never imported at module evaluation: a static import of a
 * missing package fails while the graph links, before any code of ours could catch it, and a top-level `await
 * import()` would make the package's graph asynchronous, which CommonJS apps cannot `require()`
 * (`ERR_REQUIRE_ASYNC_MODULE`).
 *
 * @param load `() => import('the-peer')`, written out at the call site so that the import stays typed and visible.
 */
export async function importOptionalPeer<T>(load: () => Promise<T>, peer: string, subpath: string): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (isMissingPackage(error, peer)) {
      throw new MqttError(`${subpath} needs the optional peer "${peer}": npm install ${peer}`, { cause: error });
    }
    throw error;
  }
}

/**
 * Whether `error` says that `peer` itself cannot be found, not a module that `peer` imports. Node words it
 * `Cannot find package 'aedes' imported from ...`; Jest's resolver `Cannot find module 'aedes' from ...`.
 * Not `instanceof Error`: errors from Node's core come from another realm under some test runners.
 */
export function isMissingPackage(error: unknown, peer: string): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && typeof message === 'string' && message.includes(`'${peer}'`);
}
