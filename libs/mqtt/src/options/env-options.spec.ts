import { describe, expect, it } from '@jest/globals';
import { mqttOptionsFromEnv } from './env-options.js';
import { MqttConfigError } from '../errors/mqtt-config.error.js';
import { toClientOptions } from './client-options.js';
import { resolveMqttOptions } from './resolve-mqtt-options.js';
import { refusal } from '../../../../test/support/refusal.js';

describe('mqttOptionsFromEnv', () => {
  it("uses Flask-MQTT's defaults when no key is set", () => {
    expect(mqttOptionsFromEnv({})).toEqual({ protocol: 'mqtt', host: 'localhost', port: 1883 });
  });

  it('reads every Flask-MQTT key with its type', () => {
    const options = mqttOptionsFromEnv({
      MQTT_BROKER_URL: 'broker.local',
      MQTT_BROKER_PORT: '8883',
      MQTT_USERNAME: 'svc',
      MQTT_PASSWORD: 'pw',
      MQTT_KEEPALIVE: '30',
      MQTT_CLIENT_ID: 'plant-1',
      MQTT_CLEAN_SESSION: 'False',
      MQTT_TLS_ENABLED: 'True',
      MQTT_TLS_CA_CERTS: '/etc/ca.pem',
      MQTT_TLS_CERTFILE: '/etc/client.pem',
      MQTT_TLS_KEYFILE: '/etc/client.key',
      MQTT_TLS_CERT_REQS: 'CERT_REQUIRED',
      MQTT_TLS_VERSION: 'PROTOCOL_TLSv1_2',
      MQTT_TLS_CIPHERS: 'ECDHE-RSA-AES128-GCM-SHA256',
      MQTT_TLS_INSECURE: 'false',
      MQTT_LAST_WILL_TOPIC: 'plant/status',
      MQTT_LAST_WILL_MESSAGE: 'offline',
      MQTT_LAST_WILL_QOS: '1',
      MQTT_LAST_WILL_RETAIN: 'true',
      MQTT_TRANSPORT: 'tcp',
      MQTT_PROTOCOL_VERSION: 'MQTTv311',
    });
    expect(options).toEqual({
      protocol: 'mqtts',
      host: 'broker.local',
      port: 8883,
      username: 'svc',
      password: 'pw',
      keepalive: 30,
      clientId: 'plant-1',
      clean: false,
      protocolVersion: 4,
      tls: { ca: '/etc/ca.pem', cert: '/etc/client.pem', key: '/etc/client.key', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256', minVersion: 'TLSv1.2' },
      will: { topic: 'plant/status', payload: 'offline', qos: 1, retain: true },
    });
  });

  it('reads another prefix, as config_prefix does', () => {
    const env = { MQTT_BROKER_URL: 'a', MQTT2_BROKER_URL: 'b', MQTT2_BROKER_PORT: '1885' };
    expect(mqttOptionsFromEnv(env, 'MQTT2')).toEqual({ protocol: 'mqtt', host: 'b', port: 1885 });
  });

  it("maps websockets and TLS to wss, and CERT_NONE to verification off, as paho's CERT_NONE", () => {
    const options = mqttOptionsFromEnv({ MQTT_TRANSPORT: 'websockets', MQTT_TLS_ENABLED: '1', MQTT_TLS_CERT_REQS: 'CERT_NONE' });
    expect(options).toMatchObject({ protocol: 'wss', tls: { rejectUnauthorized: false } });
    expect(options.insecure).toBeUndefined();
    expect(resolveMqttOptions(options).tlsVerification).toBe('off');
    expect(mqttOptionsFromEnv({ MQTT_TRANSPORT: 'websockets' })).toMatchObject({ protocol: 'ws' });
  });

  it("maps MQTT_TLS_INSECURE to insecure: the host-name check is skipped and the chain still verified, as paho's tls_insecure_set", () => {
    const options = mqttOptionsFromEnv({ MQTT_TLS_ENABLED: 'true', MQTT_TLS_INSECURE: 'true', MQTT_TLS_CA_CERTS: '-----BEGIN CERTIFICATE-----' });
    expect(options).toMatchObject({ insecure: true, tls: { ca: '-----BEGIN CERTIFICATE-----' } });
    expect(resolveMqttOptions(options).tlsVerification).toBe('no-hostname');
  });

  it('accepts a full URL in MQTT_BROKER_URL, and the result passes validation', () => {
    const options = mqttOptionsFromEnv({ MQTT_BROKER_URL: 'mqtt://h:1999', MQTT_LAST_WILL_TOPIC: 'w' });
    expect(options).toEqual({ url: 'mqtt://h:1999', will: { topic: 'w', payload: null, qos: 0, retain: false } });
    expect(resolveMqttOptions(options).port).toBe(1999);
  });

  it.each([
    ['MQTT_KEEPALIVE', 'soon'],
    ['MQTT_BROKER_PORT', '99999'],
    ['MQTT_CLEAN_SESSION', 'maybe'],
    ['MQTT_TRANSPORT', 'udp'],
    ['MQTT_PROTOCOL_VERSION', '6'],
    ['MQTT_LAST_WILL_QOS', '3'],
  ])('refuses a bad %s naming the key', (name, value) => {
    const env: Record<string, string> = { [name]: value, MQTT_LAST_WILL_TOPIC: 'w' };
    expect(() => mqttOptionsFromEnv(env)).toThrow(MqttConfigError);
    expect(() => mqttOptionsFromEnv(env)).toThrow(`'${name}'`);
  });

  it("maps MQTT_PROTOCOL_VERSION=MQTTv31 to MQTT 3.1, which connects as protocol name 'MQIsdp'", () => {
    const options = mqttOptionsFromEnv({ MQTT_PROTOCOL_VERSION: 'MQTTv31' });
    expect(options.protocolVersion).toBe(3);
    expect(toClientOptions(resolveMqttOptions(options))).toMatchObject({ protocolVersion: 3, protocolId: 'MQIsdp' });
  });

  it('treats an empty MQTT_USERNAME or MQTT_PASSWORD as not set, and ignores a password without a username, as Flask-MQTT does', () => {
    const base = { protocol: 'mqtt', host: 'localhost', port: 1883 };
    expect(mqttOptionsFromEnv({ MQTT_PASSWORD: '' })).toEqual(base);
    expect(mqttOptionsFromEnv({ MQTT_USERNAME: '', MQTT_PASSWORD: '' })).toEqual(base);
    expect(mqttOptionsFromEnv({ MQTT_PASSWORD: 'pw' })).toEqual(base);
    expect(mqttOptionsFromEnv({ MQTT_USERNAME: '', MQTT_PASSWORD: 'pw' })).toEqual(base);
    expect(mqttOptionsFromEnv({ MQTT_USERNAME: 'svc', MQTT_PASSWORD: '' })).toEqual({ ...base, username: 'svc' });
    expect(() => resolveMqttOptions(mqttOptionsFromEnv({ MQTT_PASSWORD: 'pw' }))).not.toThrow();
  });

  it('refuses TLS 1.0 and 1.1', () => {
    expect(() => mqttOptionsFromEnv({ MQTT_TLS_ENABLED: 'true', MQTT_TLS_VERSION: 'PROTOCOL_TLSv1' })).toThrow(/MQTT_TLS_VERSION.*TLSv1.2 or TLSv1.3/);
  });

  it('reads a comma-separated MQTT_BROKER_URL as a failover list: URLs as they are, host names with the port and scheme of the other keys', () => {
    const options = mqttOptionsFromEnv({ MQTT_BROKER_URL: 'mqtt://a.test:1883, b.test,c.test:1885,::1', MQTT_BROKER_PORT: '1884', MQTT_USERNAME: 'svc' });
    expect(options).toEqual({ url: ['mqtt://a.test:1883', 'mqtt://b.test:1884', 'mqtt://c.test:1885', 'mqtt://[::1]:1884'], username: 'svc' });
    expect(resolveMqttOptions(options).servers.map((server) => [server.displayUrl, server.username])).toEqual([
      ['mqtt://a.test:1883', 'svc'],
      ['mqtt://b.test:1884', 'svc'],
      ['mqtt://c.test:1885', 'svc'],
      ['mqtt://[::1]:1884', 'svc'],
    ]);
    const secure = mqttOptionsFromEnv({ MQTT_BROKER_URL: 'a.test,b.test', MQTT_TLS_ENABLED: 'true', MQTT_TRANSPORT: 'websockets', MQTT_BROKER_PORT: '443' });
    expect(secure).toMatchObject({ url: ['wss://a.test:443', 'wss://b.test:443'], tls: {} });
  });

  it.each([
    ['an empty entry', 'a.test,,b.test', /entry 2 of the comma-separated list is empty/],
    ['a trailing comma', 'a.test,', /entry 2 of the comma-separated list is empty/],
    ['credentials without a scheme', 'a.test,svc:hunter2@b.test', /entry 2 of the comma-separated list is not a URL, a host name or host:port$/],
    ['a bad port', 'a.test,b.test:99999', /'MQTT_BROKER_URL \(entry 2\)': must be an integer from 1 to 65535/],
  ])('refuses a list with %s naming MQTT_BROKER_URL, without echoing it', (_what, value, reason) => {
    const error = refusal(() => mqttOptionsFromEnv({ MQTT_BROKER_URL: value }));
    expect(error).toBeInstanceOf(MqttConfigError);
    expect((error as MqttConfigError).field).toMatch(/^MQTT_BROKER_URL/);
    expect(error?.message).toMatch(reason);
    expect(error?.message).not.toContain('hunter2');
  });

  it('leaves a list with mixed schemes to resolveMqttOptions, which names the entry', () => {
    const error = refusal(() => resolveMqttOptions(mqttOptionsFromEnv({ MQTT_BROKER_URL: 'mqtts://a.test,mqtt://b.test' })));
    expect((error as MqttConfigError).field).toBe('url[1]');
  });
});
