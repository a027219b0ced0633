import { describe, expect, it } from '@jest/globals';
import { MqttError } from './errors/mqtt.error.js';
import { importOptionalPeer } from './optional-peer.js';

/** An error as Node's ESM loader words a package it cannot find. */
function notFound(message: string, code = 'ERR_MODULE_NOT_FOUND'): Error {
  return Object.assign(new Error(message), { code });
}

describe('importOptionalPeer', () => {
  it('resolves with the module when the peer loads', async () => {
    const module = { Aedes: class {} };
    await expect(importOptionalPeer(() => Promise.resolve(module), 'aedes', 'nestjs-mqtt/testing')).resolves.toBe(module);
  });

  it('rejects with an MqttError naming the subpath, the peer and the install command when the peer is missing', async () => {
    const cause = notFound("Cannot find package 'aedes' imported from /app/node_modules/nestjs-mqtt/dist/testing/embedded-broker.js");
    const error = await importOptionalPeer(() => Promise.reject(cause), 'aedes', 'nestjs-mqtt/testing').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MqttError);
    expect(error).toMatchObject({ name: 'MqttError', message: 'nestjs-mqtt/testing needs the optional peer "aedes": npm install aedes', cause });
  });

  it("recognises the resolver's wording too (Jest, CommonJS), with the real import() of a package that is not installed", async () => {
    const missing = 'nestjs-mqtt-no-such-peer';
    await expect(importOptionalPeer(() => import(missing), missing, 'nestjs-mqtt/terminus')).rejects.toThrow(
      `nestjs-mqtt/terminus needs the optional peer "${missing}": npm install ${missing}`,
    );
    const cjs = notFound("Cannot find module '@nestjs/terminus'\nRequire stack: ...", 'MODULE_NOT_FOUND');
    await expect(importOptionalPeer(() => Promise.reject(cjs), '@nestjs/terminus', 'nestjs-mqtt/terminus')).rejects.toThrow(MqttError);
  });

  it('rethrows as it is when the peer is there but something it imports is missing, or it fails otherwise', async () => {
    const inner = notFound("Cannot find package 'mqtt-packet' imported from /app/node_modules/aedes/lib/client.js");
    await expect(importOptionalPeer(() => Promise.reject(inner), 'aedes', 'nestjs-mqtt/testing')).rejects.toBe(inner);
    const broken = new SyntaxError('Unexpected token');
    await expect(importOptionalPeer(() => Promise.reject(broken), 'aedes', 'nestjs-mqtt/testing')).rejects.toBe(broken);
  });
});
