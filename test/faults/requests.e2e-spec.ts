import { describe, expect, it } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { firstValueFrom } from 'rxjs';
import { filter as where } from 'rxjs/operators';
import { MqttArgumentError, MqttRequestError, MqttService, OnMessage, OnTopic } from 'nestjs-mqtt';
import { mosquittoPub, mosquittoSub } from '../fixtures/mosquitto-clients.js';
import { brokerSuite } from '../support/broker-suite.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { Inbox } from '../support/inbox.js';
import { unhandledRejections } from '../support/unhandled-rejections.js';

const suite = brokerSuite();
const boot: typeof suite.boot = (providers, options = {}, logger) => suite.boot(providers, { protocolVersion: 5, ...options }, logger);

const unhandled = unhandledRejections();

const offline = (mqtt: MqttService): Promise<unknown> => firstValueFrom(mqtt.status$.pipe(where((status) => status === 'offline')));

describe('request(): every request settles, none crashes the process', () => {
  it('a timeout that fires while the request still waits for the connection rejects the caller, and only the caller', async () => {
    const app = await boot([], { reconnectPeriod: 200 });
    const mqtt = app.get(MqttService);
    await expect(mqtt.request('rpc/none', 'ping', { timeout: 300 })).rejects.toMatchObject({ timedOut: true });
    const lost = offline(mqtt);
    await suite.broker.stop();
    await lost;
    await expect(mqtt.request('rpc/none', 'ping', { timeout: 200 })).rejects.toThrow(new MqttRequestError('rpc/none', 'no reply within 200 ms', true));
    const pending = mqtt.request('rpc/none', 'ping', { timeout: 60_000 });
    await app.close();
    await expect(pending).rejects.toThrow(MqttRequestError);
    expect(await unhandled.settled()).toEqual([]);
    await suite.broker.restart();
  });

  it('the timeout covers waiting for the reply subscription while the broker is down', async () => {
    await suite.broker.stop();
    const app = await boot([], { connect: 'background', reconnectPeriod: 100 });
    await expect(app.get(MqttService).request('rpc/x', 'ping', { timeout: 200 })).rejects.toMatchObject({ timedOut: true });
    await app.close();
    await suite.broker.restart();
    expect(await unhandled.settled()).toEqual([]);
  });

  it('a timeout longer than Node timers can hold is refused, not fired at once', async () => {
    const app = await boot([]);
    await expect(app.get(MqttService).request('rpc/x', 'ping', { timeout: 30 * 24 * 3_600_000 })).rejects.toThrow(MqttArgumentError);
  });

  it('a fixed client id keeps one reply topic across restarts, so a durable session does not gather old ones', async () => {
    const replyTopics = async (): Promise<string[]> => {
      const app = await boot([], { clientId: 'rq-fixed', clean: false });
      const mqtt = app.get(MqttService);
      await expect(mqtt.request('rpc/nobody', 'x', { timeout: 100 })).rejects.toMatchObject({ timedOut: true });
      const topics = [...mqtt.topics.keys()].filter((topic) => topic.startsWith('nestjs-mqtt/reply/'));
      await app.close();
      return topics;
    };
    const first = await replyTopics();
    expect(first).toHaveLength(1);
    expect(await replyTopics()).toEqual(first);
  });

  it('request() after app.close() rejects at once', async () => {
    const app = await boot([]);
    const mqtt = app.get(MqttService);
    await app.close();
    await expect(mqtt.request('rpc/x', 'ping')).rejects.toThrow(MqttRequestError);
  });
});

@Injectable()
class Telemetry {
  @OnTopic('telemetry/+')
  saved(): object {
    return { id: 42, owner: 'alice@example.com', apiKey: 'sk-live-123' };
  }
  @OnTopic('telemetry/#')
  failing(): never {
    throw new Error('connect ECONNREFUSED 10.0.3.7:5432 (db user svc_rw)');
  }
  @OnMessage()
  other(): string {
    return 'fallback';
  }
}

@Injectable()
class Rpc {
  @OnTopic('rpc/add', { reply: true })
  add(numbers: number[]): number {
    return numbers.reduce((sum, n) => sum + n, 0);
  }
  @OnTopic('rpc/fail', { reply: true })
  fail(): never {
    throw new Error('db at 10.0.3.7 refused');
  }
}

describe('replies to MQTT 5 response topics are opt-in', () => {
  it('a message with a response topic makes no handler publish anything unless it opted in', async () => {
    await boot([Telemetry]);
    const loot = await mosquittoSub(suite.broker.ports.plain as number, ['loot/#', 'marker'], { protocolVersion: 5 });
    await mosquittoPub(suite.broker.ports.plain as number, 'telemetry/dev1', '{}', { protocolVersion: 5, responseTopic: 'loot/x', correlationData: 'c1' });
    await mosquittoPub(suite.broker.ports.plain as number, 'marker', 'end', { qos: 1 });
    const got = await loot.waitForCount(1);
    await loot.stop();
    expect(got.map((message) => message.topic)).toEqual(['marker']);
  });

  it('a handler with reply: true answers request(); an error reply carries a generic text unless the app opts in to details', async () => {
    await boot([Rpc]);
    const requester = (await boot([])).get(MqttService);
    await expect(requester.request('rpc/add', [1, 2, 3])).resolves.toBe(6);
    await expect(requester.request('rpc/fail', null)).rejects.toThrow(new MqttRequestError('rpc/fail', 'the responder failed: the handler failed'));
    await suite.apps.splice(0, 1)[0].close();
    await boot([Rpc], { replyErrorDetails: true });
    await expect(requester.request('rpc/fail', null)).rejects.toThrow('the responder failed: db at 10.0.3.7 refused');
  });

  it('module-wide reply: true, and a response topic starting with $ is refused with a warning', async () => {
    const logger = new CaptureLogger();
    const app = await boot([Telemetry], { reply: true }, logger);
    await app.get(MqttService).subscribe('elsewhere/#'); // reaches @OnMessage: no @OnTopic matches it
    // Nest's Logger is process-wide: the last setLogger() wins, so both apps share one.
    const requester = (await boot([], {}, logger)).get(MqttService);
    await expect(requester.request('elsewhere/x', null)).resolves.toBe('fallback');
    // The raw mqtt.js client: the library's own publish() would refuse this response topic.
    await requester.client.publishAsync('elsewhere/y', '{}', { qos: 1, properties: { responseTopic: '$SYS/x', correlationData: Buffer.from('c2') } });
    expect(await logger.waitFor("'$SYS/x' starts with '$'")).toMatchObject({ level: 'warn' });
    expect(app.get(Telemetry)).toBeDefined();
  });

  it('replies beyond replyBacklogBytes are not sent, with a warning', async () => {
    const logger = new CaptureLogger();
    await boot([Rpc], { replyBacklogBytes: 4 }, logger);
    const requester = (await boot([], {}, logger)).get(MqttService);
    await expect(requester.request('rpc/add', [1, 2], { timeout: 300 })).rejects.toMatchObject({ timedOut: true });
    expect(await logger.waitFor('replyBacklogBytes 4')).toMatchObject({ level: 'warn' });
  });

  it('@OnMessage gets what no @OnTopic handler, observer or request reply matched', async () => {
    @Injectable()
    class Rest {
      readonly got = new Inbox<string>();
      @OnMessage()
      on(_payload: unknown, topic: string): void {
        this.got.push(topic);
      }
    }
    const app = await boot([Rest]);
    const mqtt = app.get(MqttService);
    const observed = firstValueFrom(mqtt.observe('seen/x'));
    await mqtt.subscribe(['seen/x', 'unseen/y']);
    await expect(mqtt.request('rpc/nobody', null, { timeout: 100 })).rejects.toMatchObject({ timedOut: true });
    await mosquittoPub(suite.broker.ports.plain as number, 'seen/x', '1');
    await mosquittoPub(suite.broker.ports.plain as number, 'unseen/y', '2');
    await observed;
    expect(await app.get(Rest).got.waitFor(1)).toEqual(['unseen/y']);
  });
});
