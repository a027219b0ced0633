import { describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import { inspect } from 'node:util';
import { MqttConfigError } from '../errors/mqtt-config.error.js';
import { redactUrl } from './broker-url.js';
import { toClientOptions } from './client-options.js';
import { MQTT_DEFAULTS } from './mqtt-defaults.js';
import type { MqttModuleOptions } from './mqtt-module-options.interface.js';
import { resolveMqttOptions } from './resolve-mqtt-options.js';
import { refusal } from '../../../../test/support/refusal.js';

const privateKeyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

/** The secret is in none of the ways an error gets printed: message, String(), stack, util.inspect (with its cause). */
function expectNoSecret(error: Error | undefined, secret: string): void {
  expect(error).toBeInstanceOf(Error);
  for (const text of [error?.message, String(error), error?.stack, inspect(error)]) expect(text).not.toContain(secret);
}

describe('resolveMqttOptions', () => {
  it('applies the defaults and a unique client id per instance', () => {
    const a = resolveMqttOptions({ url: 'mqtt://broker.local' });
    const b = resolveMqttOptions({ url: 'mqtt://broker.local' });
    expect(a).toMatchObject({ protocol: 'mqtt', host: 'broker.local', port: 1883, keepalive: MQTT_DEFAULTS.keepalive, clean: true, connect: 'wait' });
    expect(a.clientId).toMatch(/^nestjs-mqtt_[0-9a-f]{11}$/);
    expect(a.clientId).not.toBe(b.clientId);
  });

  it('without url or host connects to localhost, on the port of the protocol', () => {
    const plain = resolveMqttOptions({});
    expect(plain).toMatchObject({ protocol: 'mqtt', host: 'localhost', port: 1883, displayUrl: 'mqtt://localhost:1883' });
    expect(toClientOptions(plain)).toMatchObject({ host: 'localhost', port: 1883 });
    expect(resolveMqttOptions({ protocol: 'mqtts' })).toMatchObject({ host: 'localhost', port: 8883 });
    expect(resolveMqttOptions({ port: 1884 })).toMatchObject({ host: 'localhost', port: 1884 });
  });

  it('keeps a clean: false session on MQTT 5 after disconnect, as on 3.1.1: sessionExpiryInterval defaults to the maximum', () => {
    const durable = resolveMqttOptions({ clean: false, clientId: 'plant-1', protocolVersion: 5 });
    expect(durable.sessionExpiryInterval).toBe(MQTT_DEFAULTS.durableSessionExpiryInterval);
    expect(MQTT_DEFAULTS.durableSessionExpiryInterval).toBe(0xffffffff);
    expect(toClientOptions(durable).properties?.sessionExpiryInterval).toBe(0xffffffff);
    // An explicit value wins, 0 included; clean sessions and MQTT 3.1.1 send none.
    expect(resolveMqttOptions({ clean: false, clientId: 'p', protocolVersion: 5, sessionExpiryInterval: 0 }).sessionExpiryInterval).toBe(0);
    expect(resolveMqttOptions({ clean: false, clientId: 'p', protocolVersion: 5, sessionExpiryInterval: 300 }).sessionExpiryInterval).toBe(300);
    expect(resolveMqttOptions({ protocolVersion: 5 }).sessionExpiryInterval).toBeUndefined();
    expect(toClientOptions(resolveMqttOptions({ clean: false, clientId: 'p' })).properties).toBeUndefined();
  });

  it('advertises a Maximum Packet Size on MQTT 5: maxPayloadBytes plus room for topic and properties', () => {
    const room = MQTT_DEFAULTS.inboundPacketHeadroomBytes;
    expect(room).toBeGreaterThanOrEqual(2 * 65_536);
    const packetSize = (options: MqttModuleOptions) => toClientOptions(resolveMqttOptions(options)).properties?.maximumPacketSize;
    expect(packetSize({ protocolVersion: 5 })).toBe(MQTT_DEFAULTS.maxPayloadBytes + room);
    expect(packetSize({ protocolVersion: 5, maxPayloadBytes: 1_024 })).toBe(1_024 + room);
    // at most the largest MQTT packet (a 268,435,455-byte remaining length and a 5-byte fixed header)
    expect(packetSize({ protocolVersion: 5, maxPayloadBytes: 268_435_455 })).toBe(268_435_460);
    // the user's own value wins, and other CONNECT properties are kept
    const own = toClientOptions(
      resolveMqttOptions({ protocolVersion: 5, clean: false, clientId: 'p', clientOptions: { properties: { maximumPacketSize: 5_000, receiveMaximum: 10 } } }),
    );
    expect(own.properties).toEqual({ maximumPacketSize: 5_000, receiveMaximum: 10, sessionExpiryInterval: 0xffffffff });
    // MQTT 3.1.1 has no way to say it
    expect(toClientOptions(resolveMqttOptions({})).properties).toBeUndefined();
  });

  it('generates client ids of at most 23 characters, the MQTT 3.1 limit, and distinct ones', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 1_000; i++) {
      const { clientId } = resolveMqttOptions({ protocolVersion: 3 });
      expect(clientId.length).toBeLessThanOrEqual(23);
      ids.add(clientId);
    }
    expect(ids.size).toBe(1_000);
  });

  it("speaks MQTT 3.1 as protocol name 'MQIsdp' and 3.1.1 and 5 as 'MQTT'", () => {
    expect(toClientOptions(resolveMqttOptions({ protocolVersion: 3 }))).toMatchObject({ protocolVersion: 3, protocolId: 'MQIsdp' });
    expect(toClientOptions(resolveMqttOptions({ protocolVersion: 4 }))).toMatchObject({ protocolVersion: 4, protocolId: 'MQTT' });
    expect(toClientOptions(resolveMqttOptions({ protocolVersion: 5 }))).toMatchObject({ protocolVersion: 5, protocolId: 'MQTT' });
    // mqtt.js would otherwise send 'MQTT' with level 3, which brokers refuse (Mosquitto: "Invalid protocol version 3").
    expect(toClientOptions(resolveMqttOptions({ protocolVersion: 3, clientOptions: { protocolId: 'MQTT' } })).protocolId).toBe('MQIsdp');
  });

  it('takes credentials from the URL and keeps them out of the display URL', () => {
    const resolved = resolveMqttOptions({ url: 'mqtts://svc:s%40cret@broker.local:8884/path' });
    expect(resolved.username).toBe('svc');
    expect(resolved.password).toBe('s@cret');
    expect(resolved.displayUrl).toBe('mqtts://broker.local:8884/path');
    expect(resolved.tls?.minVersion).toBe('TLSv1.2');
  });

  it('takes IPv6 addresses as host', () => {
    expect(resolveMqttOptions({ host: '::1', port: 1884 })).toMatchObject({ host: '::1', port: 1884, displayUrl: 'mqtt://[::1]:1884' });
  });

  it('builds mqtt.js options that connect manually and leave resubscription to us', () => {
    const client = toClientOptions(resolveMqttOptions({ host: '127.0.0.1', port: 1884 }));
    expect(client).toMatchObject({ protocol: 'mqtt', host: '127.0.0.1', port: 1884, manualConnect: true, resubscribe: false });
  });

  it('verifies TLS certificates fully by default', () => {
    const resolved = resolveMqttOptions({ url: 'mqtts://h' });
    expect(resolved.tlsVerification).toBe('full');
    const client = toClientOptions(resolved);
    expect(client.rejectUnauthorized).toBe(true);
    expect((client as ConnectionOptions).checkServerIdentity).toBeUndefined();
    expect(resolveMqttOptions({ url: 'mqtt://h', insecure: true }).tlsVerification).toBeUndefined();
  });

  it("insecure: true skips only the host-name check, as paho's tls_insecure_set(True): the chain is still verified", () => {
    const resolved = resolveMqttOptions({ url: 'mqtts://h', insecure: true });
    expect(resolved.tlsVerification).toBe('no-hostname');
    const client = toClientOptions(resolved);
    expect(client.rejectUnauthorized).toBe(true);
    expect((client as ConnectionOptions).checkServerIdentity?.('h', {} as never)).toBeUndefined();
  });

  it('turns certificate verification off only with tls.rejectUnauthorized: false', () => {
    const resolved = resolveMqttOptions({ url: 'mqtts://h', tls: { rejectUnauthorized: false } });
    expect(resolved.tlsVerification).toBe('off');
    expect(toClientOptions(resolved).rejectUnauthorized).toBe(false);
    expect(resolveMqttOptions({ url: 'mqtts://h', tls: { rejectUnauthorized: true } }).tlsVerification).toBe('full');
    expect(resolveMqttOptions({ url: 'mqtts://h', insecure: true, tls: { rejectUnauthorized: false } }).tlsVerification).toBe('off');
    // the raw mqtt.js switch only along with the explicit one
    const raw = { url: 'mqtts://h', tls: { rejectUnauthorized: false }, clientOptions: { rejectUnauthorized: false } };
    expect(resolveMqttOptions(raw).tlsVerification).toBe('off');
  });

  it('hands the TLS options to the websocket too on wss:, where mqtt.js forwards only some of them', () => {
    const client = toClientOptions(
      resolveMqttOptions({ url: 'wss://h', insecure: true, tls: { servername: 'broker.example', minVersion: 'TLSv1.3', ciphers: 'TLS_AES_128_GCM_SHA256' } }),
    );
    expect(client.wsOptions).toMatchObject({
      rejectUnauthorized: true,
      servername: 'broker.example',
      minVersion: 'TLSv1.3',
      ciphers: 'TLS_AES_128_GCM_SHA256',
    });
    expect((client.wsOptions as { checkServerIdentity?: unknown }).checkServerIdentity).toBeInstanceOf(Function);
    // a raw wsOptions switch cannot undo verification
    const raw = toClientOptions(resolveMqttOptions({ url: 'wss://h', clientOptions: { wsOptions: { rejectUnauthorized: true, headers: { a: 'b' } } } }));
    expect(raw.wsOptions).toMatchObject({ rejectUnauthorized: true, headers: { a: 'b' } });
  });

  const invalid: Array<[options: MqttModuleOptions, field: string, reason: RegExp]> = [
    [{ url: 'localhost:1883' }, 'url', /has no scheme; write it as mqtt:\/\/localhost:1883/],
    [{ url: 'foo://h:1' }, 'url', /unsupported scheme 'foo:'/],
    [{ url: 'mqtt://bad host:1' }, 'url', /is not a URL/],
    [{ url: 'mqtt://h', host: 'x' }, 'url', /either url or host/],
    [{ protocol: 'tcp' as never }, 'protocol', /must be one of/],
    [{ port: 70_000 }, 'port', /integer from 1 to 65535/],
    [{ maxInflight: 0 }, 'maxInflight', /integer from 1 to 65535/],
    // Node fires longer timers at once (TimeoutOverflowWarning)
    [{ connectTimeout: 2 ** 31 }, 'connectTimeout', /integer from 1 to 2147483647/],
    [{ shutdownTimeout: 2 ** 31 }, 'shutdownTimeout', /integer from 0 to 2147483647/],
    [{ password: 'p' }, 'password', /needs a username/],
    [{ clean: false }, 'clientId', /needs a fixed clientId/],
    [{ clientId: '' }, 'clientId', /must not be empty/],
    [{ keepalive: 65_536 }, 'keepalive', /0 to 65535/],
    [{ keepalive: -1 }, 'keepalive', /0 to 65535/],
    [{ protocolVersion: 6 as never }, 'protocolVersion', /3, 4 or 5/],
    [{ sessionExpiryInterval: 60 }, 'sessionExpiryInterval', /protocolVersion: 5/],
    [{ url: 'mqtt://h', tls: {} }, 'tls', /need an mqtts: or wss: broker/],
    [{ url: 'mqtts://h', tls: { ca: '/nonexistent/ca.pem' } }, 'tls.ca', /cannot read file '\/nonexistent\/ca.pem' \(ENOENT\)/],
    [{ url: 'mqtts://h', tls: { cert: '/x.pem' } }, 'tls.key', /needs both/],
    [{ url: 'mqtts://h', tls: { minVersion: 'TLSv1' as never } }, 'tls.minVersion', /TLSv1.2/],
    [{ will: { topic: 'a/+' } }, 'will.topic', /wildcards/],
    [{ will: { topic: 'a', qos: 3 as never } }, 'will.qos', /0, 1 or 2/],
    [{ protocolVersion: 5, will: { topic: 'a', properties: { contentType: 5 as never } } }, 'will.properties.contentType', /UTF-8 string/],
    [{ protocolVersion: 5, will: { topic: 'a', properties: { messageExpiryInterval: -5 } } }, 'will.properties.messageExpiryInterval', /0 to 4294967295/],
    [{ protocolVersion: 5, will: { topic: 'a', properties: { topicAlias: 1 } as never } }, 'will.properties.topicAlias', /not a will property/],
    [{ share: 'a/b' }, 'share', /without/],
    [{ share: true as never }, 'share', /group must be a string, got boolean/],
    [{ share: 'g\u0000' }, 'share', /control character U\+0000/],
    [{ host: '127.0.0.1:1883' }, 'host', /give the port separately: host: '127\.0\.0\.1', port: 1883/],
    [{ host: 'localhost:8883', protocol: 'mqtts' }, 'host', /host: 'localhost', port: 8883/],
    [{ host: '[::1]:1883' }, 'host', /host: '::1', port: 1883/],
    [{ host: 'broker:' }, 'host', /not a host name or address/],
    [{ connect: 'later' as never }, 'connect', /'wait' or 'background'/],
    [{ clientID: 'x' } as never, 'clientID', /unknown option \(did you mean 'clientId'\?/],
    [{ keepAlive: 30 } as never, 'keepAlive', /did you mean 'keepalive'\?/],
    [{ shutdownTimout: 30 } as never, 'shutdownTimout', /did you mean 'shutdownTimeout'\?/],
    [{ url: 'mqtts://h', tls: { certs: 'x' } as never }, 'tls.certs', /did you mean 'tls.cert'\?/],
    [{ frobnicate: 1 } as never, 'frobnicate', /^Invalid MQTT option 'frobnicate': unknown option \(raw mqtt.js options go in clientOptions\)$/],
    [{ url: 'mqtts://h', clientOptions: { rejectUnauthorized: false } }, 'clientOptions.rejectUnauthorized', /tls: \{ rejectUnauthorized: false \}/],
    [
      { url: 'mqtts://h', insecure: true, clientOptions: { rejectUnauthorized: false } },
      'clientOptions.rejectUnauthorized',
      /tls: \{ rejectUnauthorized: false \}/,
    ],
    [
      { url: 'wss://h', clientOptions: { wsOptions: { rejectUnauthorized: false } } },
      'clientOptions.wsOptions.rejectUnauthorized',
      /tls: \{ rejectUnauthorized: false \}/,
    ],
    [{ url: 'mqtts://h', tls: { rejectUnauthorized: 'false' as never } }, 'tls.rejectUnauthorized', /true or false/],
  ];

  it.each(invalid)('refuses %j naming %s', (options, field, reason) => {
    let caught: unknown;
    try {
      resolveMqttOptions(options);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(MqttConfigError);
    expect((caught as MqttConfigError).field).toBe(field);
    expect((caught as MqttConfigError).message).toMatch(reason);
  });

  const SECRET = 's3cr/et';
  const leakyUrls: Array<[what: string, url: string, secret: string]> = [
    ["a password with '/' (not a URL)", `mqtt://alice:${SECRET}@broker.example:1883`, SECRET],
    ["a password with '/' and no scheme", `alice:${SECRET}@broker.example:1883`, SECRET],
    ["a password with '@' and an unsupported scheme", 'tcp://alice:pa@ssword9@broker.example:1883', 'ssword9'],
    ["a password with '@' and '/' and a bad port", 'mqtt://alice:p@s/s@broker.example:99999', 'p@s/s'],
    ['a password and no host', 'mqtt://alice:hunter2@', 'hunter2'],
    ['a password with a space', 'foo://alice:hunt er2@h', 'hunt er2'],
    ['a token in the query', 'foo://h/mqtt?token=hunter2', 'hunter2'],
  ];

  it.each(leakyUrls)('keeps the secret out of the error for a URL with %s', (_what, url, secret) => {
    const error = refusal(() => resolveMqttOptions({ url }));
    expect(error).toBeInstanceOf(MqttConfigError);
    expect((error as MqttConfigError).field).toBe('url');
    expectNoSecret(error, secret);
    expectNoSecret(error, 'alice');
  });

  it('keeps a password out of the error when credentials are put in host', () => {
    const error = refusal(() => resolveMqttOptions({ host: `alice:${SECRET}@broker.example` }));
    expect((error as MqttConfigError).field).toBe('host');
    expectNoSecret(error, SECRET);
  });

  it('redacts userinfo up to the last @ before the host in log text, with or without a scheme', () => {
    expect(redactUrl(`dialing mqtt://alice:${SECRET}@broker:1883 now`)).toBe('dialing mqtt://***@broker:1883 now');
    expect(redactUrl('x tcp://a:p@ss@h:1 y')).toBe('x tcp://***@h:1 y');
    expect(redactUrl(`alice:${SECRET}@broker:1883 has no scheme`)).toBe('***@broker:1883 has no scheme');
    expect(redactUrl('mqtt://broker:1883 and ws://h/mqtt')).toBe('mqtt://broker:1883 and ws://h/mqtt');
  });

  it('never echoes a TLS value that may be key material, only what looks like a path', () => {
    const rawKeyBody = privateKeyPem
      .split('\n')
      .filter((line) => !line.startsWith('-----'))
      .join('');
    const base64Key = Buffer.from(privateKeyPem).toString('base64');
    const cases: Array<[field: 'ca' | 'cert' | 'key', value: string, secret: string]> = [
      ['ca', rawKeyBody, rawKeyBody.slice(0, 40)],
      ['ca', rawKeyBody.slice(0, 120), rawKeyBody.slice(0, 40)],
      ['ca', 'bm90IGEgcGVtIGF0IGFsbCBidXQgYmFzZTY0IG9mIHNvbWV0aGluZyBzZWNyZXQ=', 'bm90IGEgcGVt'],
      ['ca', `garbage\n${rawKeyBody.slice(0, 60)}`, rawKeyBody.slice(0, 40)],
      ['ca', 'x'.repeat(300), 'x'.repeat(100)],
      ['ca', base64Key.replace('LS0tLS1CRUdJTi', 'LS0tLS1CRUdJTj'), base64Key.slice(20, 60)],
    ];
    for (const [field, value, secret] of cases) {
      const error = refusal(() => resolveMqttOptions({ url: 'mqtts://h', tls: { [field]: value } }));
      expect(error).toBeInstanceOf(MqttConfigError);
      expect((error as MqttConfigError).field).toBe(`tls.${field}`);
      expect((error as Error).message).toMatch(/is neither PEM contents nor a readable file path/);
      expectNoSecret(error, secret);
    }
    // A path is shown, so a typo is easy to spot.
    expect(refusal(() => resolveMqttOptions({ url: 'mqtts://h', tls: { ca: '/run/secrets/mqtt-ca' } }))?.message).toContain("'/run/secrets/mqtt-ca'");
  });

  it('takes base64-encoded PEM, as passed through environment variables', () => {
    const cert = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const resolved = resolveMqttOptions({
      url: 'mqtts://h',
      tls: {
        ca: cert.toString('base64'),
        cert: cert.toString('base64'),
        key: Buffer.from(privateKeyPem)
          .toString('base64')
          .replace(/(.{64})/g, '$1\n'),
      },
    });
    expect(resolved.tls?.ca).toEqual([cert]);
    expect(resolved.tls?.key?.toString()).toBe(privateKeyPem);
  });

  it('never puts a password in an error message', () => {
    try {
      resolveMqttOptions({ url: 'foo://user:hunter2@h' });
    } catch (error) {
      expect((error as Error).message).not.toContain('hunter2');
    }
    expect.assertions(1);
  });
});
