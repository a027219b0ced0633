import { describe, expect, it } from '@jest/globals';
import type { IClientOptions } from 'mqtt';
import { inspect } from 'node:util';
import { MqttConfigError } from '../errors/mqtt-config.error.js';
import { toClientOptions, useServer } from './client-options.js';
import type { MqttModuleOptions } from './mqtt-module-options.interface.js';
import { resolveMqttOptions } from './resolve-mqtt-options.js';
import { refusal } from '../../../../test/support/refusal.js';

const CA_A = Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
const CA_B = Buffer.from('-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n');

describe('failover lists: url: [...] and servers', () => {
  it('url: [...] lists the brokers in order, each with the credentials of its URL, none in the display URL', () => {
    const resolved = resolveMqttOptions({
      url: ['mqtt://a.test:1883', 'mqtt://svc:s%40cret@b.test:1884', 'ws://c.test/mqtt'],
      username: 'top',
      password: 'pw',
    });
    expect(resolved.servers.map((server) => server.displayUrl)).toEqual(['mqtt://a.test:1883', 'mqtt://b.test:1884', 'ws://c.test:80/mqtt']);
    expect(resolved.servers.map((server) => [server.username, server.password])).toEqual([
      ['top', 'pw'],
      ['svc', 's@cret'],
      ['top', 'pw'],
    ]);
    // The top-level transport fields are the first broker's, as with one URL.
    expect(resolved).toMatchObject({ protocol: 'mqtt', host: 'a.test', port: 1883, displayUrl: 'mqtt://a.test:1883', username: 'top' });
    expect(toClientOptions(resolved)).toMatchObject({ protocol: 'mqtt', host: 'a.test', hostname: 'a.test', port: 1883, username: 'top', password: 'pw' });
  });

  it('a single URL, string or one-element list, resolves as before: one server', () => {
    for (const url of ['mqtt://a.test:1883', ['mqtt://a.test:1883']]) {
      const resolved = resolveMqttOptions({ url });
      expect(resolved.servers).toHaveLength(1);
      expect(resolved.servers[0]).toMatchObject({ host: 'a.test', port: 1883, displayUrl: 'mqtt://a.test:1883' });
    }
    expect(resolveMqttOptions({ host: 'h', port: 1 }).servers.map((server) => server.displayUrl)).toEqual(['mqtt://h:1']);
  });

  it('servers: each broker takes its own username, password and tls, else the top-level ones (tls replaced, not merged)', () => {
    const resolved = resolveMqttOptions({
      servers: [
        { url: 'mqtts://a.test' },
        { url: 'mqtts://b.test:8884', username: 'svc-b', password: 'pw-b', tls: { ca: CA_B } },
        { url: 'wss://c.test/mqtt', username: 'svc-c' },
      ],
      username: 'svc',
      password: 'pw',
      tls: { ca: CA_A, servername: 'broker.test' },
    });
    const [a, b, c] = resolved.servers;
    expect([a.username, a.password, a.tls?.ca, a.tls?.servername]).toEqual(['svc', 'pw', [CA_A], 'broker.test']);
    expect([b.username, b.password, b.tls?.ca, b.tls?.servername]).toEqual(['svc-b', 'pw-b', [CA_B], undefined]);
    // A server's own username with the top-level password: each falls back on its own.
    expect([c.username, c.password, c.displayUrl]).toEqual(['svc-c', 'pw', 'wss://c.test:443/mqtt']);
    expect(resolved.servers.map((server) => server.tlsVerification)).toEqual(['full', 'full', 'full']);
  });

  it('takes a per-server tls.rejectUnauthorized: false as that server only', () => {
    const resolved = resolveMqttOptions({ servers: [{ url: 'mqtts://a.test' }, { url: 'mqtts://lab.test', tls: { rejectUnauthorized: false } }] });
    expect(resolved.servers.map((server) => server.tlsVerification)).toEqual(['full', 'off']);
    expect(resolved.tlsVerification).toBe('full');
  });

  const invalid: Array<[options: MqttModuleOptions, field: string, reason: RegExp]> = [
    [{ url: [] }, 'url', /must list at least one broker URL/],
    [{ servers: [] }, 'servers', /must list at least one broker/],
    [{ servers: {} as never }, 'servers', /expected an array/],
    [{ url: 'mqtt://a', servers: [{ url: 'mqtt://b' }] }, 'servers', /either url or servers/],
    [{ servers: [{ url: 'mqtt://b' }], host: 'x' }, 'servers', /either servers or host\/port\/protocol\/path, not both \(host is set\)/],
    [{ url: ['mqtt://a'], port: 1883 }, 'url', /either url or host/],
    [{ url: ['mqtt://a', 'b:1883'] }, 'url[1]', /has no scheme; write it as mqtt:\/\/b:1883/],
    [{ url: ['mqtt://a', 42 as never] }, 'url[1]', /expected a non-empty string/],
    [{ url: ['mqtt://a', 'tcp://b'] }, 'url[1]', /unsupported scheme 'tcp:'/],
    [{ servers: [{ url: 'mqtt://a' }, {} as never] }, 'servers[1].url', /expected a non-empty string/],
    [{ servers: [null as never] }, 'servers[0]', /expected an object like \{ url \}/],
    [{ servers: [{ url: 'mqtt://a', usrname: 'x' } as never] }, 'servers[0].usrname', /did you mean 'servers\[0\].username'\?/],
    [{ servers: [{ url: 'localhost:1883' }] }, 'servers[0].url', /has no scheme/],
    [{ servers: [{ url: 'mqtt://a', password: 'p' }] }, 'servers[0].password', /needs a username/],
    [{ servers: [{ url: 'mqtt://a', username: 5 as never }] }, 'servers[0].username', /expected a string/],
    [{ servers: [{ url: 'mqtt://a', tls: {} }] }, 'servers[0].tls', /need an mqtts: or wss: broker, not mqtt:/],
    [{ servers: [{ url: 'mqtts://a', tls: { minVersion: 'TLSv1' as never } }] }, 'servers[0].tls.minVersion', /TLSv1.2/],
    [{ servers: [{ url: 'mqtts://a', tls: { cert: '/x.pem' } }] }, 'servers[0].tls.key', /needs both servers\[0\].tls.cert and servers\[0\].tls.key/],
    [{ url: ['mqtt://a', 'mqtt://b'], tls: {} }, 'tls', /need an mqtts: or wss: broker, not mqtt:/],
    [{ url: ['mqtt://a:1883', 'mqtt://b', 'mqtt://A:1883'] }, 'url[2]', /mqtt:\/\/A:1883 is listed twice \(also url\[0\]\)/],
    [
      { servers: [{ url: 'mqtt://a' }, { url: 'mqtt://u:p@a:1883', username: 'x' }] },
      'servers[1].url',
      /mqtt:\/\/a:1883 is listed twice \(also servers\[0\].url\)/,
    ],
    [{ url: ['mqtts://a', 'mqtt://b'] }, 'url[1]', /mqtt:\/\/b:1883 is plain while url\[0\] is TLS; a failover list is all TLS .* or all plain/],
    [{ url: ['ws://a', 'wss://b'] }, 'url[1]', /wss:\/\/b:443 is TLS while url\[0\] is plain/],
    [{ url: ['mqtt://a', 'mqtt://b'], reconnectPeriod: 0 }, 'reconnectPeriod', /only the first of the 2 brokers would ever be tried/],
    [{ url: ['mqtt://a', 'mqtt://b'], clientOptions: { servers: [{ host: 'c', port: 1 }] } }, 'clientOptions.servers', /failover list of url/],
  ];

  it.each(invalid)('refuses %j naming %s', (options, field, reason) => {
    const error = refusal(() => resolveMqttOptions(options));
    expect(error).toBeInstanceOf(MqttConfigError);
    expect((error as MqttConfigError).field).toBe(field);
    expect((error as MqttConfigError).message).toMatch(reason);
  });

  it('takes a list of mqtts: and wss:, or of mqtt: and ws:, and one broker with raw clientOptions.servers as before', () => {
    expect(resolveMqttOptions({ url: ['mqtts://a', 'wss://b'] }).servers.map((server) => server.protocol)).toEqual(['mqtts', 'wss']);
    expect(resolveMqttOptions({ url: ['mqtt://a', 'ws://b'] }).servers.map((server) => server.protocol)).toEqual(['mqtt', 'ws']);
    expect(resolveMqttOptions({ url: 'mqtt://a', clientOptions: { servers: [{ host: 'c', port: 1 }] } }).servers).toHaveLength(1);
  });

  it.each([
    ['url[1]', { url: ['mqtt://a', 'mqtt://alice:s3cr/et@b:1883'] }],
    ['url[1]', { url: ['mqtt://a', 'foo://alice:s3cr/et@b'] }],
    ['servers[1].url', { servers: [{ url: 'mqtt://a' }, { url: 'mqtt://alice:s3cr/et@b:1883' }] }],
    ['url[1]', { url: ['mqtts://alice:s3cret@a', 'mqtt://alice:s3cret@b'] }],
    ['url[1]', { url: ['mqtt://alice:s3cret@a', 'mqtt://alice:s3cret@a'] }],
  ] as Array<[string, MqttModuleOptions]>)('keeps URL credentials out of the error naming %s', (field, options) => {
    const error = refusal(() => resolveMqttOptions(options));
    expect((error as MqttConfigError).field).toBe(field);
    for (const text of [error?.message, String(error), error?.stack, inspect(error)]) {
      expect(text).not.toContain('s3cr');
      expect(text).not.toContain('alice');
    }
  });
});

describe('useServer: the live mqtt.js options pointed at the next broker', () => {
  const resolved = resolveMqttOptions({
    servers: [
      { url: 'mqtts://a.test:8883', username: 'svc-a', password: 'pw-a', tls: { ca: CA_A } },
      { url: 'mqtts://b.test:8884', tls: { ca: CA_B, servername: 'broker-b.test' } },
      { url: 'wss://c.test/mqtt', username: 'svc-c', tls: { ca: CA_B } },
    ],
    insecure: true,
    clientOptions: { wsOptions: { headers: { 'x-app': 'spec' } } },
  });

  it('sets every server key of the next broker and removes what it lacks, also what mqtt.js wrote', () => {
    const live = toClientOptions(resolved) as IClientOptions & Record<string, unknown>;
    expect(live).toMatchObject({ host: 'a.test', port: 8883, username: 'svc-a', password: 'pw-a', ca: [CA_A] });
    // mqtt.js's TLS stream builder names the host it dials as servername and drops path.
    live.servername = 'a.test';
    useServer(live, resolved, resolved.servers[1]);
    expect(live).toMatchObject({ protocol: 'mqtts', host: 'b.test', hostname: 'b.test', port: 8884, ca: [CA_B], servername: 'broker-b.test' });
    expect(live).not.toHaveProperty('username');
    expect(live).not.toHaveProperty('password');
    // A key the server does not set keeps its raw clientOptions value, as toClientOptions gives it.
    expect(live.wsOptions).toEqual({ headers: { 'x-app': 'spec' } });
    expect(live.checkServerIdentity).toBeInstanceOf(Function);
    // Options that are not the server's stay as they were.
    expect(live).toMatchObject({ clientId: resolved.clientId, manualConnect: true, resubscribe: false, reconnectPeriod: resolved.reconnectPeriod });

    useServer(live, resolved, resolved.servers[2]);
    expect(live).toMatchObject({ protocol: 'wss', host: 'c.test', port: 443, path: '/mqtt', username: 'svc-c' });
    expect(live).not.toHaveProperty('servername');
    expect(live.wsOptions).toMatchObject({ headers: { 'x-app': 'spec' }, ca: [CA_B], rejectUnauthorized: true });

    // mqtt.js's websocket builder copies TLS keys into wsOptions: the next switch starts from a fresh copy.
    (live.wsOptions as Record<string, unknown>).pfx = 'written by mqtt.js';
    const written = live.wsOptions;
    useServer(live, resolved, resolved.servers[2]);
    expect(live.wsOptions).not.toBe(written);
    expect(live.wsOptions).not.toHaveProperty('pfx');

    useServer(live, resolved, resolved.servers[0]);
    expect(live).toMatchObject({ protocol: 'mqtts', host: 'a.test', port: 8883, username: 'svc-a', password: 'pw-a', ca: [CA_A] });
    expect(live).not.toHaveProperty('path');
    expect(live).not.toHaveProperty('servername');
    expect(live.wsOptions).toEqual({ headers: { 'x-app': 'spec' } });
  });

  it('never hands a TCP socket a path (Node would dial it as a Unix socket)', () => {
    const list = resolveMqttOptions({ url: ['ws://a.test/mqtt', 'mqtt://b.test/ignored'] });
    const live: IClientOptions = toClientOptions(list);
    expect(live.path).toBe('/mqtt');
    useServer(live, list, list.servers[1]);
    expect(live).not.toHaveProperty('path');
    expect(live).toMatchObject({ protocol: 'mqtt', host: 'b.test', port: 1883 });
  });
});
