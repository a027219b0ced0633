import { afterEach, describe, expect, it } from '@jest/globals';
import { hostname } from 'node:os';
import { MqttArgumentError } from '../errors/mqtt-argument.error.js';
import { stableClientId, stableClientIdFor } from './stable-client-id.js';
import { refusal } from '../../../../test/support/refusal.js';

const savedHostname = process.env.HOSTNAME;
afterEach(() => {
  if (savedHostname === undefined) delete process.env.HOSTNAME;
  else process.env.HOSTNAME = savedHostname;
});

describe('stableClientId', () => {
  it('is <prefix>-<HOSTNAME>, the same at every call, or os.hostname() without HOSTNAME', () => {
    process.env.HOSTNAME = 'orders-0';
    expect(stableClientId('orders')).toBe('orders-orders-0');
    expect(stableClientId('orders')).toBe(stableClientId('orders'));
    expect(stableClientId()).toBe('orders-0');
    delete process.env.HOSTNAME;
    expect(stableClientId()).toBe(stableClientIdFor(hostname()));
  });

  it('replaces what a client id should not hold: dots, spaces, colons and other runs become one dash', () => {
    expect(stableClientIdFor('web1.example.com', 'api')).toBe('api-web1-example-com');
    expect(stableClientIdFor('..host name::1..', 'my app')).toBe('my-app-host-name-1');
    expect(stableClientIdFor('höst', 'a_b')).toBe('a_b-h-st');
  });

  it('keeps ids within 23 characters by ending a longer one in a hash of it: the same for a host, distinct between hosts', () => {
    const a = stableClientIdFor('orders-7d9f8c6b5-x2k4p', 'orders');
    const b = stableClientIdFor('orders-7d9f8c6b5-q8m3z', 'orders');
    expect(a).toHaveLength(23);
    expect(a).toMatch(/^orders-orders-[0-9a-f]{9}$/);
    expect(a).toBe(stableClientIdFor('orders-7d9f8c6b5-x2k4p', 'orders'));
    expect(b).not.toBe(a);
    // Raised for MQTT 3.1.1 and 5 brokers, the whole name stays readable.
    expect(stableClientIdFor('orders-7d9f8c6b5-x2k4p', 'orders', { maxLength: 64 })).toBe('orders-orders-7d9f8c6b5-x2k4p');
  });

  it('refuses what it cannot build an id from, naming the argument', () => {
    const cases: Array<[() => unknown, string]> = [
      [() => stableClientIdFor('h', 5 as never), 'prefix'],
      [() => stableClientIdFor('h', 'p', { maxLength: 5 }), 'options.maxLength'],
      [() => stableClientIdFor('h', 'p', null as never), 'options'],
      [() => stableClientIdFor('...', 'p'), 'hostname'],
    ];
    for (const [call, argument] of cases) {
      const error = refusal(call);
      expect(error).toBeInstanceOf(MqttArgumentError);
      expect((error as MqttArgumentError).argument).toBe(argument);
    }
  });
});
