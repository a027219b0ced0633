import { describe, expect, it } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { firstValueFrom } from 'rxjs';
import { filter as where, take, toArray } from 'rxjs/operators';
import { MqttService, OnTopic } from 'nestjs-mqtt';
import { mosquittoPub } from '../fixtures/mosquitto-clients.js';
import { brokerSuite } from '../support/broker-suite.js';
import { Inbox } from '../support/inbox.js';

/**
 * Every matching handler runs once per message, whatever copies the broker sends: MQTT 5 brokers
 * send one copy per matching subscription (each naming its subscription identifiers), but not
 * always one for each (No Local, retained messages on a new subscription, refusals), and a durable
 * session may hold copies queued under identifiers of an earlier deploy.
 */
const suite = brokerSuite();
const boot: typeof suite.boot = (providers, options = {}, logger) => suite.boot(providers, { protocolVersion: 5, ...options }, logger);

const port = (): number => suite.broker.ports.plain as number;

@Injectable()
class NoLocalOverlap {
  readonly all = new Inbox<string>();
  readonly exact = new Inbox<string>();
  @OnTopic('nl/#', { noLocal: true })
  onAll(payload: string): void {
    this.all.push(payload);
  }
  @OnTopic('nl/b')
  onExact(payload: string): void {
    this.exact.push(payload);
  }
}

@Injectable()
class SharedOverlap {
  readonly hash = new Inbox<string>();
  readonly plus = new Inbox<string>();
  @OnTopic('ov/#')
  onHash(payload: string): void {
    this.hash.push(payload);
  }
  @OnTopic('ov/+/b')
  onPlus(payload: string): void {
    this.plus.push(payload);
  }
}

@Injectable()
class Stacked {
  readonly runs = new Inbox<string>();
  @OnTopic('st/#')
  @OnTopic('st/a/b')
  both(payload: string): void {
    this.runs.push(payload);
  }
}

describe('one run per handler, whatever copies the broker sends (MQTT 5)', () => {
  it('our own publish on a filter that overlaps a noLocal filter still reaches the exact handler, and only it', async () => {
    const app = await boot([NoLocalOverlap]);
    const handlers = app.get(NoLocalOverlap);
    await app.get(MqttService).publish('nl/b', 'own', { qos: 1 });
    await mosquittoPub(port(), 'nl/b', 'outside', { qos: 1 });
    await handlers.exact.waitFor(2);
    await handlers.all.waitFor(1);
    expect(handlers.exact.items).toEqual(['own', 'outside']);
    expect(handlers.all.items).toEqual(['outside']);
  });

  it('observe() of a topic under a decorated wildcard gets its retained message', async () => {
    await mosquittoPub(port(), 'rt/state', 'ON', { qos: 1, retain: true });
    @Injectable()
    class Everything {
      readonly got = new Inbox<string>();
      @OnTopic('rt/#')
      on(payload: string): void {
        this.got.push(payload);
      }
    }
    const app = await boot([Everything]);
    await app.get(Everything).got.waitFor(1);
    const current = await firstValueFrom(app.get(MqttService).observe<string>('rt/state'));
    expect(current.payload).toBe('ON');
    await mosquittoPub(port(), 'rt/state', '', { qos: 1, retain: true });
  });

  it("handlers on overlapping filters of the module's share group each run once per message", async () => {
    const app = await boot([SharedOverlap], { share: 'g' });
    const handlers = app.get(SharedOverlap);
    await mosquittoPub(port(), 'ov/a/b', 'one', { qos: 1 });
    await mosquittoPub(port(), 'ov/a/b', 'marker', { qos: 1 });
    await handlers.hash.until((items) => items.includes('marker'));
    await handlers.plus.until((items) => items.includes('marker'));
    expect(handlers.hash.items).toEqual(['one', 'marker']);
    expect(handlers.plus.items).toEqual(['one', 'marker']);
  });

  it('a $share handler and an observer of an overlapping plain filter each get a message once', async () => {
    @Injectable()
    class Shared {
      readonly got = new Inbox<string>();
      @OnTopic('$share/g/sx/#')
      on(payload: string): void {
        this.got.push(payload);
      }
    }
    const app = await boot([Shared]);
    const mqtt = app.get(MqttService);
    const observed = new Inbox<string>();
    const subscription = mqtt.observe<string>('sx/+/b').subscribe((message) => observed.push(message.payload));
    await mqtt.subscribe('sx/+/b'); // resolves once granted (the observer's subscription is the same filter)
    await mosquittoPub(port(), 'sx/a/b', 'one', { qos: 1 });
    await mosquittoPub(port(), 'sx/a/b', 'marker', { qos: 1 });
    await observed.until((items) => items.includes('marker'));
    await app.get(Shared).got.until((items) => items.includes('marker'));
    expect(observed.items).toEqual(['one', 'marker']);
    expect(app.get(Shared).got.items).toEqual(['one', 'marker']);
    subscription.unsubscribe();
  });

  it.each([4, 5] as const)('one method with stacked overlapping @OnTopic runs once per message (protocol %i)', async (protocolVersion) => {
    const app = await boot([Stacked], { protocolVersion });
    const handler = app.get(Stacked);
    await mosquittoPub(port(), 'st/a/b', 'one', { qos: 1 });
    await mosquittoPub(port(), 'st/a/b', 'marker', { qos: 1 });
    await handler.runs.until((items) => items.includes('marker'));
    expect(handler.runs.items).toEqual(['one', 'marker']);
  });

  it('two observers of one filter each get every message, also when the first leaves while a message is dispatched', async () => {
    const app = await boot([]);
    const mqtt = app.get(MqttService);
    for (const filter of ['dev/1/state', 'dev/+/state']) {
      const first = firstValueFrom(mqtt.observe<string>(filter)); // its teardown runs inside the dispatch of m1
      const second = firstValueFrom(
        mqtt.observe<string>(filter).pipe(
          where((message) => message.topic === 'dev/1/state'),
          take(2),
          toArray(),
        ),
      );
      await mqtt.subscribe(filter);
      await mqtt.publish('dev/1/state', 'm1', { qos: 1 });
      await mqtt.publish('dev/1/state', 'm2', { qos: 1 });
      expect((await first).payload).toBe('m1');
      expect((await second).map((message) => message.payload)).toEqual(['m1', 'm2']);
      await mqtt.unsubscribe(filter);
    }
  });

  it('a durable session keeps messages queued under the identifiers of an earlier deploy for the next one', async () => {
    const clientId = 'copies-durable';
    const durable = { clientId, clean: false, sessionExpiryInterval: 300 };
    @Injectable()
    class V1 {
      @OnTopic('z/1', { qos: 1 })
      z(): void {}
      @OnTopic('q/1', { qos: 1 })
      q(): void {}
    }
    @Injectable()
    class V2 {
      readonly got = new Inbox<string>();
      @OnTopic('q/1', { qos: 1 })
      q(payload: string): void {
        this.got.push(payload);
      }
    }
    const v1 = await boot([V1], durable);
    await v1.close();
    await mosquittoPub(port(), 'q/1', 'queued-while-down', { qos: 1 });
    const v2 = await boot([V2], durable);
    expect(await v2.get(V2).got.waitFor(1)).toEqual(['queued-while-down']);
    await v2.get(MqttService).unsubscribeAll();
  });
});

describe('observe() and subscribe() leave a decorated filter as it was', () => {
  @Injectable()
  class Decorated {
    readonly got = new Inbox<string>();
    @OnTopic('obs/+', { qos: 1 })
    on(payload: string): void {
      this.got.push(payload);
    }
  }

  it('an observer that joins before the first SUBACK and leaves again neither downgrades nor drops the filter', async () => {
    const broker = suite.broker;
    await broker.stop();
    const app = await boot([Decorated], { connect: 'background', reconnectPeriod: 100 });
    const mqtt = app.get(MqttService);
    const observer = mqtt.observe('obs/+').subscribe();
    const connected = firstValueFrom(mqtt.status$.pipe(where((status) => status === 'connected')));
    await broker.restart();
    await connected;
    await mqtt.subscribe('obs/+', { qos: 1 }); // resolves once the decorated subscription is granted
    expect(mqtt.topics.get('obs/+')).toEqual({ topic: 'obs/+', qos: 1 });
    observer.unsubscribe();
    expect(mqtt.topics.get('obs/+')).toEqual({ topic: 'obs/+', qos: 1 });
    await mosquittoPub(port(), 'obs/kitchen', 'warm', { qos: 1 });
    expect(await app.get(Decorated).got.waitFor(1)).toEqual(['warm']);
  });

  it('subscribe() of a decorated noLocal filter keeps it noLocal and keeps its QoS', async () => {
    @Injectable()
    class Bridge {
      readonly got = new Inbox<string>();
      @OnTopic('br/#', { qos: 1, noLocal: true })
      on(payload: string): void {
        this.got.push(payload);
      }
    }
    const app = await boot([Bridge]);
    const mqtt = app.get(MqttService);
    expect(await mqtt.subscribe('br/#', { qos: 0 })).toEqual([{ topic: 'br/#', qos: 1 }]);
    await mqtt.publish('br/x', 'own', { qos: 1 });
    await mosquittoPub(port(), 'br/x', 'outside', { qos: 1 });
    await app.get(Bridge).got.waitFor(1);
    expect(app.get(Bridge).got.items).toEqual(['outside']);
  });
});
