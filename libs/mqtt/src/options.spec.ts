import { describe, expect, it } from '@jest/globals';
import { MqttConfigError } from './errors/mqtt-config.error.js';
import { MQTT_DEFAULTS, resolveMqttOptions, toClientOptions, type MqttModuleOptions } from './options.js';

describe('resolveMqttOptions', () => {
  it('applies the defaults and a unique client id per instance', () => {
    const a = resolveMqttOptions({ url: 'mqtt://broker.local' });
    const b = resolveMqttOptions({ url: 'mqtt://broker.local' });
    expect(a).toMatchObject({ protocol: 'mqtt', host: 'broker.local', port: 1883, keepalive: MQTT_DEFAULTS.keepalive, clean: true, connect: 'wait' });
    expect(a.clientId).toMatch(/^nestjs-mqtt_[0-9a-f]{11}$/);
    expect(a.clientId).not.toBe(b.clientId);
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

  it('builds mqtt.js options that connect manually and leave resubscription to us', () => {
    const client = toClientOptions(resolveMqttOptions({ host: '127.0.0.1', port: 1884 }));
    expect(client).toMatchObject({ protocol: 'mqtt', host: '127.0.0.1', port: 1884, manualConnect: true, resubscribe: false });
  });

  it('verifies TLS certificates unless insecure is set explicitly', () => {
    expect(toClientOptions(resolveMqttOptions({ url: 'mqtts://h' })).rejectUnauthorized).toBe(true);
    expect(toClientOptions(resolveMqttOptions({ url: 'mqtts://h', insecure: true })).rejectUnauthorized).toBe(false);
  });

  const invalid: Array<[options: MqttModuleOptions, field: string, reason: RegExp]> = [
    [{ url: 'localhost:1883' }, 'url', /has no scheme; write it as mqtt:\/\/localhost:1883/],
    [{ url: 'foo://h:1' }, 'url', /unsupported scheme 'foo:'/],
    [{ url: 'mqtt://bad host:1' }, 'url', /is not a URL/],
    [{ url: 'mqtt://h', host: 'x' }, 'url', /either url or host/],
    [{ protocol: 'tcp' as never }, 'protocol', /must be one of/],
    [{ port: 70_000 }, 'port', /integer from 1 to 65535/],
    [{ maxInflight: 0 }, 'maxInflight', /integer from 1 to 65535/],
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
    [{ connect: 'later' as never }, 'connect', /'wait' or 'background'/],
    [{ clientID: 'x' } as never, 'clientID', /unknown option/],
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

  it('never puts a password in an error message', () => {
    try {
      resolveMqttOptions({ url: 'foo://user:hunter2@h' });
    } catch (error) {
      expect((error as Error).message).not.toContain('hunter2');
    }
    expect.assertions(1);
  });
});
