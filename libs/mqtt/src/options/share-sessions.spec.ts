import { describe, expect, it } from '@jest/globals';
import type { MqttModuleOptions } from './mqtt-module-options.interface.js';
import { resolveMqttOptions } from './resolve-mqtt-options.js';
import { strandedShareWarning } from './share-sessions.js';

const SHARED = ['$share/workers/jobs/+', 'status/#'];
const PID = 4242;
const warning = (options: MqttModuleOptions, filters: string[] = SHARED) => strandedShareWarning('default', resolveMqttOptions(options), filters, PID);

describe('strandedShareWarning', () => {
  it('warns about $share handlers on an MQTT 5 session that outlives the connection under a generated client id', () => {
    const text = warning({ protocolVersion: 5, sessionExpiryInterval: 3_600 });
    expect(text).toMatch(/^Client 'default': '\$share\/workers\/jobs\/\+' on a session the broker keeps for 3600 s after a disconnect/);
    expect(text).toMatch(/under a generated client id \('nestjs-mqtt_[0-9a-f]{11}'\) that no later process uses/);
    expect(text).toMatch(/clean sessions .* or a client id the instance's next process uses again \(stableClientId\(\)\)$/);
    // The raw CONNECT property keeps the session as well.
    expect(warning({ protocolVersion: 5, clientOptions: { properties: { sessionExpiryInterval: 60 } } })).toMatch(/keeps for 60 s/);
  });

  it("warns about a fixed client id that holds this process's id, on a durable session", () => {
    expect(warning({ clean: false, clientId: `orders-${PID}` })).toMatch(
      /keeps without expiry after a disconnect, under client id 'orders-4242', which holds this process's id \(4242\)/,
    );
    expect(warning({ protocolVersion: 5, clean: false, clientId: `${PID}_orders` })).toMatch(/keeps without expiry/);
  });

  // Every row has its three values: Jest would take a missing last one for a done callback.
  it.each<[string, MqttModuleOptions, string[]]>([
    ['clean sessions (the default)', {}, SHARED],
    ['a clean MQTT 5 session without expiry', { protocolVersion: 5 }, SHARED],
    ['clean: false with a session expiry of 0', { protocolVersion: 5, clean: false, clientId: `orders-${PID}`, sessionExpiryInterval: 0 }, SHARED],
    ['a stable client id', { clean: false, clientId: 'orders-orders-0' }, SHARED],
    ['an id whose digits only contain the pid', { clean: false, clientId: `orders-${PID}1` }, SHARED],
    ['no $share handler', { protocolVersion: 5, sessionExpiryInterval: 60 }, ['jobs/+']],
  ])('stays silent for %s', (_what, options, filters) => {
    expect(warning(options, filters)).toBeUndefined();
  });

  it('leaves small process ids alone: a container runs the app as pid 1 (or 7) every time, so such an id returns', () => {
    expect(strandedShareWarning('default', resolveMqttOptions({ clean: false, clientId: 'orders-1' }), SHARED, 1)).toBeUndefined();
  });
});
