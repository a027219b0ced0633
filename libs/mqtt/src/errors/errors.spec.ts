import { describe, expect, it } from '@jest/globals';
import { FakeMqttClient } from '../../../../test/support/fake-mqtt-client.js';
import { Logger } from '@nestjs/common';
import { MqttConnection } from '../connection/mqtt-connection.js';
import { planSubscriptions } from '../mqtt-client.registry.js';
import { resolveMqttOptions } from '../options/resolve-mqtt-options.js';
import * as pkg from 'nestjs-mqtt';

/** The README's error classes, as the package exports them. */
const ERROR_CLASSES = [
  'MqttConfigError',
  'MqttTopicError',
  'MqttArgumentError',
  'MqttHandlerError',
  'MqttConnectionError',
  'MqttPublishError',
  'MqttSubscribeError',
  'MqttRequestError',
] as const;

/** Runs `fn` and returns what it threw. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('errors', () => {
  it('every error class the package exports extends MqttError (and Error), and names itself', () => {
    const exported = Object.entries(pkg).filter(([name, value]) => typeof value === 'function' && /^Mqtt.*Error$/.test(name));
    expect(exported.map(([name]) => name).sort()).toEqual([...ERROR_CLASSES, 'MqttError'].sort());
    for (const name of ERROR_CLASSES) {
      const ErrorClass = pkg[name] as unknown as new (...args: string[]) => Error;
      const error = new ErrorClass('x', 'reason');
      expect(error).toBeInstanceOf(pkg.MqttError);
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe(name);
    }
  });

  it('MqttTopicError names the topic and where it was given, from a refused publish topic and a refused filter', () => {
    const topic = thrown(() => pkg.assertTopicName('a/+/b', 'topic'));
    expect(topic).toBeInstanceOf(pkg.MqttTopicError);
    expect(topic).toMatchObject({ topic: 'a/+/b', where: 'topic' });
    const filter = thrown(() => pkg.parseTopicFilter('a/#/b', 'Sensors#onReading'));
    expect(filter).toBeInstanceOf(pkg.MqttTopicError);
    expect(filter).toMatchObject({ topic: 'a/#/b', where: 'Sensors#onReading' });
  });

  it('MqttHandlerError names the handler (Class#method)', () => {
    const connection = {} as MqttConnection;
    const error = thrown(() =>
      planSubscriptions([
        { connection, label: 'A#a', request: { filter: 'x/+', qos: 0, nl: true } },
        { connection, label: 'B#b', request: { filter: 'x/+', qos: 0 } },
      ]),
    );
    expect(error).toBeInstanceOf(pkg.MqttHandlerError);
    expect(error).toMatchObject({ handler: 'B#b' });
  });

  it('MqttConnectionError names the broker URL, without credentials', async () => {
    let fake: FakeMqttClient | undefined;
    const connection = new MqttConnection('default', resolveMqttOptions({ url: 'mqtt://svc:s3cret@broker.test:1884' }), new Logger('spec'), (options) => {
      fake = new FakeMqttClient(options);
      return fake.client;
    });
    const start = connection.start();
    fake?.emit('error', Object.assign(new Error('Connection refused: Not authorized'), { code: 5 }));
    const error = await start.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(pkg.MqttConnectionError);
    expect(error).toMatchObject({ url: 'mqtt://broker.test:1884' });
  });
});
