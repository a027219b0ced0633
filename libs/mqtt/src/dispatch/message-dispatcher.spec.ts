import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Catch, ForbiddenException, Injectable, ParseIntPipe, UseFilters, UseGuards, type CanActivate, type ExceptionFilter } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { IPublishPacket } from 'mqtt';
import { CaptureLogger } from '../../../../test/support/capture-logger.js';
import { FakeMqttClient } from '../../../../test/support/fake-mqtt-client.js';
import { unhandledRejections } from '../../../../test/support/unhandled-rejections.js';
import { Payload } from '../decorators/param.decorators.js';
import { HandlerInvokerFactory } from './handler-invoker.js';
import type { PayloadFormat } from '../interfaces/mqtt-message.interface.js';
import { type BoundHandler, MessageDispatcher } from './message-dispatcher.js';
import type { MqttContext } from './mqtt-context.js';
import { SubscriptionRegistry } from '../connection/subscription-registry.js';
import { parseTopicFilter } from '../protocol/topic-filter.js';

interface Call {
  label: string;
  payload: unknown;
  topic: string;
  context: MqttContext | undefined;
}

type Reply = [request: IPublishPacket, outcome: { value: unknown } | { error: string }];

function setup({
  registry,
  replyErrorDetails = false,
  maxPayloadBytes = 1_024,
}: { registry?: SubscriptionRegistry; replyErrorDetails?: boolean; maxPayloadBytes?: number } = {}) {
  const logger = new CaptureLogger();
  const replies: Reply[] = [];
  const calls: Call[] = [];
  const dispatcher = new MessageDispatcher(
    'plant',
    maxPayloadBytes,
    logger,
    (request, outcome) => replies.push([request, outcome]),
    registry,
    replyErrorDetails,
  );
  /** A handler that records its calls and returns what `body` returns. */
  const handler = (label: string, extra: Partial<BoundHandler> = {}, body: (payload: unknown) => unknown = () => undefined): BoundHandler => ({
    label,
    needsContext: false,
    format: 'auto',
    ack: 'auto',
    invoke: (payload, topic, _packet, context) => {
      calls.push({ label, payload, topic, context });
      return body(payload);
    },
    ...extra,
  });
  const on = (filter: string, bound: BoundHandler, sharedFilter?: string): BoundHandler => {
    dispatcher.addTopicHandler(parseTopicFilter(filter), bound, sharedFilter);
    return bound;
  };
  const labels = (): string[] => calls.map((call) => call.label);
  return { dispatcher, logger, replies, calls, handler, on, labels };
}

function packet(topic: string, properties?: IPublishPacket['properties'], qos: 0 | 1 | 2 = 0): IPublishPacket {
  return { cmd: 'publish', topic, payload: Buffer.alloc(0), qos, dup: false, retain: false, ...(properties ? { properties } : {}) };
}

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

/** A request as an MQTT 5 requester sends it. */
const request = (topic: string): IPublishPacket => packet(topic, { responseTopic: 'replies/me', correlationData: Buffer.from('c1') }, 1);

/** An MQTT 5 subscription registry whose client is offline: subscribe() only hands out identifiers. */
function offlineRegistry(...filters: string[]): { registry: SubscriptionRegistry; id(filter: string): number } {
  const registry = new SubscriptionRegistry(new FakeMqttClient().client, { subscribed: () => undefined, downgraded: () => undefined }, true);
  for (const filter of filters) registry.subscribe([{ filter, qos: 1 }]).catch(() => undefined);
  const id = (filter: string): number => {
    const found = registry.byMatchFilter(parseTopicFilter(filter).matchFilter)?.find((subscription) => subscription.filter === filter);
    if (!found) throw new Error(`'${filter}' is not held`);
    return found.id;
  };
  return { registry, id };
}

const copy = (topic: string, subscriptionIdentifier: number | number[]): IPublishPacket => packet(topic, { subscriptionIdentifier });

afterEach(() => {
  jest.useRealTimers();
});

describe('MessageDispatcher routing by topic', () => {
  it('runs every handler whose filter matches, and no other', () => {
    const { dispatcher, on, handler, labels } = setup();
    on('home/+/temp', handler('A#temp'));
    on('home/#', handler('B#all'));
    on('office/#', handler('C#office'));
    void dispatcher.dispatch('home/kitchen/temp', json(21), packet('home/kitchen/temp'));
    expect(labels().sort()).toEqual(['A#temp', 'B#all']);
  });

  it('runs a method whose stacked filters all match once (same key), and each other method once', () => {
    const { dispatcher, on, handler, labels } = setup();
    const method = {};
    on('home/+/temp', handler('A#stacked', { key: method }));
    on('home/#', handler('A#stacked', { key: method }));
    on('home/kitchen/+', handler('B#other'));
    void dispatcher.dispatch('home/kitchen/temp', json(21), packet('home/kitchen/temp'));
    expect(labels().sort()).toEqual(['A#stacked', 'B#other']);
  });

  it('hands @OnMessage handlers only the messages no @OnTopic handler matched', () => {
    const { dispatcher, on, handler, labels } = setup();
    on('home/#', handler('A#home'));
    dispatcher.addFallbackHandler(handler('F#one'));
    dispatcher.addFallbackHandler(handler('F#two'));
    void dispatcher.dispatch('home/x', json(1), packet('home/x'));
    void dispatcher.dispatch('garden/x', json(2), packet('garden/x'));
    expect(labels()).toEqual(['A#home', 'F#one', 'F#two']);
  });

  it('stops routing a removed filter; the same handler keeps its other filters', () => {
    const { dispatcher, on, handler, labels } = setup();
    const bound = on('a/+', handler('A#h'));
    on('b/+', bound);
    dispatcher.removeTopicHandler(parseTopicFilter('a/+'), bound);
    void dispatcher.dispatch('a/1', json(1), packet('a/1'));
    void dispatcher.dispatch('b/1', json(1), packet('b/1'));
    expect(labels()).toEqual(['A#h']);
    expect(dispatcher.dispatch('a/1', json(1), packet('a/1'))).toBeUndefined();
    expect(labels()).toHaveLength(1);
  });

  it('decodes the payload in each handler’s format', () => {
    const { dispatcher, on, handler, calls } = setup();
    on('t', handler('json', { format: 'json' }));
    on('t', handler('text', { format: 'text' }));
    on('t', handler('buffer', { format: 'buffer' }));
    const payload = json({ on: true });
    void dispatcher.dispatch('t', payload, packet('t'));
    const got = Object.fromEntries(calls.map((call) => [call.label, call.payload]));
    expect(got).toEqual({ json: { on: true }, text: '{"on":true}', buffer: payload });
  });

  it('gives a handler that asks for it a context with the named wildcards of its own filter and the client name', () => {
    const { dispatcher, on, handler, calls } = setup();
    on('home/+room/#rest', handler('ctx', { needsContext: true }));
    on('home/#', handler('plain'));
    void dispatcher.dispatch('home/kitchen/a/b', json(1), packet('home/kitchen/a/b'));
    const byLabel = new Map(calls.map((call) => [call.label, call.context]));
    expect(byLabel.get('ctx')?.params).toEqual({ room: 'kitchen', rest: 'a/b' });
    expect(byLabel.get('ctx')?.client).toBe('plant');
    expect(byLabel.get('plain')).toBeUndefined();
  });
});

describe('MessageDispatcher with MQTT 5 subscription identifiers (one copy per matching subscription)', () => {
  it('runs on each copy only the handlers its subscription feeds, so each handler runs once per message', () => {
    const { registry, id } = offlineRegistry('a/+', 'a/#');
    const { dispatcher, on, handler, labels } = setup({ registry });
    on('a/+', handler('Plus'));
    on('a/#', handler('Hash'));
    void dispatcher.dispatch('a/1', json(1), copy('a/1', id('a/+')));
    expect(labels()).toEqual(['Plus']);
    void dispatcher.dispatch('a/1', json(1), copy('a/1', id('a/#')));
    expect(labels()).toEqual(['Plus', 'Hash']);
  });

  it.each([
    ['a/+', 'a/#'],
    ['a/#', 'a/+'],
  ])('runs a method with stacked overlapping filters once: on the copy of the lowest identifier among its feeds (%s subscribed first)', (...order) => {
    const { registry, id } = offlineRegistry(...order);
    const { dispatcher, on, handler, labels } = setup({ registry });
    const key = {};
    on('a/+', handler('Stacked', { key }));
    on('a/#', handler('Stacked', { key }));
    const [first, second] = [id('a/+'), id('a/#')].sort((x, y) => x - y);
    void dispatcher.dispatch('a/1', json(1), copy('a/1', second));
    expect(labels()).toEqual([]);
    void dispatcher.dispatch('a/1', json(1), copy('a/1', first));
    expect(labels()).toEqual(['Stacked']);
  });

  it('runs the handlers of every identifier a single copy carries (a broker that merges copies)', () => {
    const { registry, id } = offlineRegistry('a/+', 'a/#');
    const { dispatcher, on, handler, labels } = setup({ registry });
    on('a/+', handler('Plus'));
    on('a/#', handler('Hash'));
    void dispatcher.dispatch('a/1', json(1), copy('a/1', [id('a/+'), id('a/#')]));
    expect(labels().sort()).toEqual(['Hash', 'Plus']);
  });

  it('runs @OnMessage handlers once per message, on the copy of the lowest matching identifier', () => {
    const { registry, id } = offlineRegistry('x/+', 'x/#');
    const { dispatcher, handler, labels } = setup({ registry });
    dispatcher.addFallbackHandler(handler('Fallback'));
    const ids = [id('x/+'), id('x/#')].sort((a, b) => a - b);
    void dispatcher.dispatch('x/1', json(1), copy('x/1', ids[1]));
    void dispatcher.dispatch('x/1', json(1), copy('x/1', ids[0]));
    expect(labels()).toEqual(['Fallback']);
  });

  it('routes a copy whose identifiers this process did not hand out (an earlier deploy’s durable session) by its topic', () => {
    const { registry, id } = offlineRegistry('a/+', 'a/#');
    const { dispatcher, on, handler, labels } = setup({ registry });
    on('a/+', handler('Plus'));
    on('a/#', handler('Hash'));
    const unknown = Math.max(id('a/+'), id('a/#')) + 1_000;
    void dispatcher.dispatch('a/1', json(1), copy('a/1', unknown));
    expect(labels().sort()).toEqual(['Hash', 'Plus']);
  });

  it('hands a $share handler only copies through its own shared subscription, and a plain handler of the same filter only the others', () => {
    const { registry, id } = offlineRegistry('$share/g/t/+', 't/+');
    const { dispatcher, on, handler, labels } = setup({ registry });
    on('$share/g/t/+', handler('Shared'), '$share/g/t/+');
    on('t/+', handler('Plain'));
    void dispatcher.dispatch('t/1', json(1), copy('t/1', id('$share/g/t/+')));
    expect(labels()).toEqual(['Shared']);
    void dispatcher.dispatch('t/1', json(1), copy('t/1', id('t/+')));
    expect(labels()).toEqual(['Shared', 'Plain']);
  });

  it('keeps delivering after a filter is subscribed again under a new identifier', async () => {
    const { registry, id } = offlineRegistry('a/+');
    const { dispatcher, on, handler, labels } = setup({ registry });
    on('a/+', handler('Plus'));
    const before = id('a/+');
    void dispatcher.dispatch('a/1', json(1), copy('a/1', before));
    await registry.unsubscribe(['a/+']);
    registry.subscribe([{ filter: 'a/+', qos: 1 }]).catch(() => undefined);
    const after = id('a/+');
    expect(after).not.toBe(before);
    void dispatcher.dispatch('a/1', json(1), copy('a/1', after));
    expect(labels()).toEqual(['Plus', 'Plus']);
  });

  it('ignores subscription identifiers on an MQTT 3.1.1 client (no index): routes by topic', () => {
    const { dispatcher, on, handler, labels } = setup();
    on('a/+', handler('Plus'));
    void dispatcher.dispatch('a/1', json(1), copy('a/1', 7));
    expect(labels()).toEqual(['Plus']);
  });
});

describe('MessageDispatcher when a payload cannot be decoded', () => {
  it('warns with the topic, the handler and the format, skips that handler, and still runs the others', () => {
    const { dispatcher, on, handler, labels, logger } = setup();
    on('t', handler('Strict#json', { format: 'json' }));
    on('t', handler('Lenient#auto'));
    void dispatcher.dispatch('t', Buffer.from('{not json'), packet('t'));
    expect(labels()).toEqual(['Lenient#auto']);
    expect(logger.lines).toEqual([{ level: 'warn', text: expect.stringMatching(/'t'.*Strict#json.*not valid JSON.*format 'json'/) }]);
  });

  it('refuses a payload over maxPayloadBytes before any handler runs', () => {
    const { dispatcher, on, handler, labels, logger } = setup({ maxPayloadBytes: 4 });
    on('t', handler('H'));
    void dispatcher.dispatch('t', Buffer.from('12345'), packet('t'));
    expect(labels()).toEqual([]);
    expect(logger.text()).toMatch(/warn: .*5 bytes exceed maxPayloadBytes \(4\)/);
  });

  it('reports a throwing custom codec without letting it escape', () => {
    const codec: PayloadFormat = {
      name: 'cbor',
      decode: () => {
        throw new Error('bad major type');
      },
    };
    const { dispatcher, on, handler, logger } = setup();
    on('t', handler('H', { format: codec }));
    expect(() => dispatcher.dispatch('t', Buffer.from('x'), packet('t'))).not.toThrow();
    expect(logger.text()).toContain("bad major type (format 'cbor')");
  });
});

describe('MessageDispatcher when a handler fails', () => {
  const rejections = unhandledRejections();

  it('logs a synchronous throw as an error with the handler, the topic and the stack, and runs the other handlers', () => {
    const { dispatcher, on, handler, labels, logger } = setup();
    on(
      't',
      handler('Broken#sync', {}, () => {
        throw new Error('boom');
      }),
    );
    on('t', handler('Fine'));
    expect(() => dispatcher.dispatch('t', json(1), packet('t'))).not.toThrow();
    expect(labels()).toEqual(['Broken#sync', 'Fine']);
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0].level).toBe('error');
    expect(logger.lines[0].text).toMatch(/^Broken#sync failed on 't': boom .*message-dispatcher\.spec/s);
  });

  it('logs an asynchronous rejection the same way, and no rejection escapes', async () => {
    const { dispatcher, on, handler, logger } = setup();
    on(
      't',
      handler('Broken#async', {}, () => Promise.reject(new Error('later'))),
    );
    expect(dispatcher.dispatch('t', json(1), packet('t'))).toBeUndefined();
    await dispatcher.drain(1_000);
    expect(logger.lines.map((line) => [line.level, line.text.split('\n')[0]])).toEqual([['error', "Broken#async failed on 't': later Error: later"]]);
    expect(await rejections.settled()).toEqual([]);
  });

  it('survives thrown values that String() cannot convert', async () => {
    const { dispatcher, on, handler, logger } = setup();
    const hostile = Object.create(null) as object;
    const throwsOnToString = {
      toString() {
        throw new Error('no');
      },
    };
    on(
      'sync',
      handler('Sync', {}, () => {
        throw hostile;
      }),
    );
    on(
      'async',
      handler('Async', {}, () => Promise.reject(throwsOnToString)),
    );
    expect(() => dispatcher.dispatch('sync', json(1), packet('sync'))).not.toThrow();
    void dispatcher.dispatch('async', json(1), packet('async'));
    await dispatcher.drain(1_000);
    expect(logger.lines.map((line) => line.level)).toEqual(['error', 'error']);
    expect(logger.text()).toContain("Sync failed on 'sync': [object Object]");
    expect(logger.text()).toContain("Async failed on 'async': [object Object]");
    expect(await rejections.settled()).toEqual([]);
  });

  it('hands the error to the exception filters; what they return is the reply, what they rethrow is logged', async () => {
    const { dispatcher, on, handler, logger, replies } = setup();
    on(
      'handled',
      handler('Handled', { reply: true, filterError: () => Promise.resolve({ fallback: true }) }, () => {
        throw new Error('caught by a filter');
      }),
    );
    on(
      'unhandled',
      handler('Unhandled', { filterError: (error) => Promise.reject(error) }, () => {
        throw new Error('not caught');
      }),
    );
    void dispatcher.dispatch('handled', json(1), request('handled'));
    void dispatcher.dispatch('unhandled', json(1), packet('unhandled'));
    await dispatcher.drain(1_000);
    expect(replies.map(([, outcome]) => outcome)).toEqual([{ value: { fallback: true } }]);
    expect(logger.lines.map((line) => [line.level, line.text.split('\n')[0]])).toEqual([
      ['error', "Unhandled failed on 'unhandled': not caught Error: not caught"],
    ]);
  });
});

describe('MessageDispatcher with Nest guards and pipes (real ExternalContextCreator)', () => {
  @Injectable()
  class Deny implements CanActivate {
    canActivate(): boolean {
      return false;
    }
  }

  class DomainError extends Error {}

  @Catch(DomainError)
  class DomainErrorFilter implements ExceptionFilter {
    catch(): string {
      return 'handled';
    }
  }

  // Nest resolves a handler's guards and pipes in the module of its class: it must be a provider.
  @Injectable()
  class Handlers {
    @UseGuards(Deny)
    guarded(): string {
      return 'never';
    }

    forbidsItself(): never {
      throw new ForbiddenException('Forbidden resource');
    }

    parsed(@Payload(ParseIntPipe) value: number): number {
      return value * 2;
    }

    @UseFilters(DomainErrorFilter)
    parsedWithFilter(@Payload(ParseIntPipe) value: number): number {
      return value * 2;
    }
  }

  async function prepared(): Promise<(method: keyof Handlers, extra?: Partial<BoundHandler>) => BoundHandler> {
    const moduleRef = await Test.createTestingModule({ providers: [HandlerInvokerFactory, Deny, Handlers] }).compile();
    const factory = moduleRef.get(HandlerInvokerFactory);
    const instance = moduleRef.get(Handlers);
    return (method, extra = {}) => ({ label: `Handlers#${method}`, format: 'text', ack: 'auto', ...factory.prepare(instance, method), ...extra });
  }

  it("drops a message a guard refused with a debug line (no error), and replies Nest's refusal", async () => {
    const bind = await prepared();
    const { dispatcher, logger, replies } = setup();
    dispatcher.addTopicHandler(parseTopicFilter('t'), bind('guarded', { reply: true }));
    void dispatcher.dispatch('t', Buffer.from('x'), request('t'));
    await dispatcher.drain(1_000);
    expect(logger.lines).toEqual([{ level: 'debug', text: "Message on 't' dropped: a guard of Handlers#guarded refused it" }]);
    expect(replies.map(([, outcome]) => outcome)).toEqual([{ error: 'Forbidden resource' }]);
  });

  it('reports a ForbiddenException the handler threw itself as a failure, not as a guard refusal', async () => {
    const bind = await prepared();
    const { dispatcher, logger } = setup();
    dispatcher.addTopicHandler(parseTopicFilter('t'), bind('forbidsItself'));
    void dispatcher.dispatch('t', Buffer.from('x'), packet('t'));
    await dispatcher.drain(1_000);
    expect(logger.lines.map((line) => line.level)).toEqual(['error']);
    expect(logger.lines[0].text).toContain("Handlers#forbidsItself failed on 't': Forbidden resource");
  });

  it('warns about a pipe refusal with its reason and no stack trace, and replies a generic refusal', async () => {
    const bind = await prepared();
    const { dispatcher, logger, replies } = setup();
    dispatcher.addTopicHandler(parseTopicFilter('t'), bind('parsed', { reply: true }));
    void dispatcher.dispatch('t', Buffer.from('twelve'), request('t'));
    await dispatcher.drain(1_000);
    expect(logger.lines).toEqual([
      { level: 'warn', text: "Message on 't' not delivered to Handlers#parsed: a pipe refused it: Validation failed (numeric string is expected)" },
    ]);
    expect(replies.map(([, outcome]) => outcome)).toEqual([{ error: 'the message was refused' }]);
  });

  // A handler with exception filters sends a pipe refusal to them first; one they do not catch is still
  // bad input, not a handler failure.
  it('warns about a pipe refusal that the exception filters of the handler do not catch', async () => {
    const bind = await prepared();
    const { dispatcher, logger } = setup();
    dispatcher.addTopicHandler(parseTopicFilter('t'), bind('parsedWithFilter'));
    void dispatcher.dispatch('t', Buffer.from('twelve'), packet('t'));
    await dispatcher.drain(1_000);
    expect(logger.lines).toEqual([
      { level: 'warn', text: "Message on 't' not delivered to Handlers#parsedWithFilter: a pipe refused it: Validation failed (numeric string is expected)" },
    ]);
  });

  it('replies with the value once the pipe accepts the payload', async () => {
    const bind = await prepared();
    const { dispatcher, replies } = setup();
    dispatcher.addTopicHandler(parseTopicFilter('t'), bind('parsed', { reply: true }));
    void dispatcher.dispatch('t', Buffer.from('21'), request('t'));
    await dispatcher.drain(1_000);
    expect(replies.map(([, outcome]) => outcome)).toEqual([{ value: 42 }]);
  });
});

describe('MessageDispatcher replies (MQTT 5 request/response)', () => {
  it('replies with the return value only for handlers with reply: true and only to messages with a response topic', async () => {
    const { dispatcher, on, handler, replies } = setup();
    on(
      'req',
      handler('Replier', { reply: true }, () => 'answer'),
    );
    on(
      'req',
      handler('Silent', {}, () => 'not sent'),
    );
    on(
      'req',
      handler('AsyncReplier', { reply: true }, () => Promise.resolve({ ok: 1 })),
    );
    const asked = request('req');
    void dispatcher.dispatch('req', json(1), asked);
    void dispatcher.dispatch('req', json(1), packet('req')); // no response topic: nobody to answer
    await dispatcher.drain(1_000);
    expect(replies).toEqual([
      [asked, { value: 'answer' }],
      [asked, { value: { ok: 1 } }],
    ]);
  });

  it('does not reply when the handler returned nothing', async () => {
    const { dispatcher, on, handler, replies } = setup();
    on('req', handler('Void', { reply: true }));
    on(
      'req',
      handler('AsyncVoid', { reply: true }, () => Promise.resolve(undefined)),
    );
    void dispatcher.dispatch('req', json(1), request('req'));
    await dispatcher.drain(1_000);
    expect(replies).toEqual([]);
  });

  it('replies a generic error text by default, so handler internals do not reach the requester', async () => {
    const { dispatcher, on, handler, replies } = setup();
    on(
      'req',
      handler('Broken', { reply: true }, () => Promise.reject(new Error('db password wrong'))),
    );
    on('bad', handler('Strict', { reply: true, format: 'json' }));
    void dispatcher.dispatch('req', json(1), request('req'));
    void dispatcher.dispatch('bad', Buffer.from('{'), request('bad'));
    await dispatcher.drain(1_000);
    expect(replies.map(([, outcome]) => outcome)).toEqual([{ error: 'payload could not be decoded' }, { error: 'the handler failed' }]);
  });

  it('replies the error text when replyErrorDetails is on', async () => {
    const { dispatcher, on, handler, replies } = setup({ replyErrorDetails: true });
    on(
      'req',
      handler('Broken', { reply: true }, () => {
        throw new Error('out of stock');
      }),
    );
    on('bad', handler('Strict', { reply: true, format: 'json' }));
    void dispatcher.dispatch('req', json(1), request('req'));
    void dispatcher.dispatch('bad', Buffer.from('{'), request('bad'));
    await dispatcher.drain(1_000);
    expect(replies.map(([, outcome]) => outcome)).toEqual([
      { error: 'out of stock' },
      { error: expect.stringMatching(/^payload could not be decoded: not valid JSON .*\(format 'json'\)$/) },
    ]);
  });
});

describe('MessageDispatcher drain, inFlight and acknowledgement after the handler', () => {
  function deferred(): { promise: Promise<void>; resolve(): void; reject(error: unknown): void } {
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  }

  it('counts running asynchronous handlers, and drain() waits for them, however they end', async () => {
    jest.useFakeTimers(); // nothing hangs on the drain timeout if this breaks
    const { dispatcher, on, handler } = setup();
    const first = deferred();
    const second = deferred();
    const pending = [first, second];
    on(
      't',
      handler('Slow', {}, () => pending.shift()?.promise),
    );
    void dispatcher.dispatch('t', json(1), packet('t'));
    void dispatcher.dispatch('t', json(2), packet('t'));
    expect(dispatcher.inFlight).toBe(2);
    let drained: boolean | undefined;
    const draining = dispatcher.drain(60_000).then((value) => (drained = value));
    first.resolve();
    await first.promise;
    await Promise.resolve();
    expect(dispatcher.inFlight).toBe(1);
    expect(drained).toBeUndefined();
    second.reject(new Error('failed while draining'));
    await draining;
    expect(drained).toBe(true);
    expect(dispatcher.inFlight).toBe(0);
  });

  it('logs a reply that throws after an asynchronous handler, and still counts the handler as finished', async () => {
    const logger = new CaptureLogger();
    const dispatcher = new MessageDispatcher(
      'plant',
      1_024,
      logger,
      () => {
        throw new Error('replier broke');
      },
      undefined,
    );
    dispatcher.addTopicHandler(parseTopicFilter('req'), {
      label: 'Async#reply',
      reply: true,
      needsContext: false,
      format: 'auto',
      ack: 'auto',
      invoke: () => Promise.resolve('v'),
    });
    void dispatcher.dispatch('req', json(1), request('req'));
    expect(dispatcher.inFlight).toBe(1);
    for (let turn = 0; turn < 5; turn++) await Promise.resolve();
    expect(dispatcher.inFlight).toBe(0);
    expect(logger.lines).toEqual([{ level: 'error', text: 'Async#reply: replier broke' }]);
  });

  it('takes no more messages once draining began', async () => {
    const { dispatcher, on, handler, labels } = setup();
    on('t', handler('H'));
    await expect(dispatcher.drain(1_000)).resolves.toBe(true);
    expect(dispatcher.isAccepting).toBe(false);
    expect(dispatcher.dispatch('t', json(1), packet('t'))).toBeUndefined();
    expect(labels()).toEqual([]);
  });

  it('resolves drain() false when handlers are still running at the timeout', async () => {
    jest.useFakeTimers();
    const { dispatcher, on, handler } = setup();
    on(
      't',
      handler('Stuck', {}, () => new Promise<void>(() => undefined)),
    );
    void dispatcher.dispatch('t', json(1), packet('t'));
    const draining = dispatcher.drain(5_000);
    jest.advanceTimersByTime(5_000);
    await expect(draining).resolves.toBe(false);
    expect(dispatcher.inFlight).toBe(1);
  });

  it("returns a promise for 'after-handler' handlers that settles when they finish and never rejects", async () => {
    const { dispatcher, on, handler } = setup();
    const work = deferred();
    on(
      't',
      handler('AfterHandler', { ack: 'after-handler' }, () => work.promise),
    );
    on(
      'u',
      handler('Auto', {}, () => new Promise<void>(() => undefined)),
    );
    expect(dispatcher.needsAckAfterHandler).toBe(true);
    const ack = dispatcher.dispatch('t', json(1), packet('t', undefined, 1));
    expect(ack).toBeInstanceOf(Promise);
    expect(dispatcher.dispatch('u', json(1), packet('u', undefined, 1))).toBeUndefined();
    let settled = false;
    const done = ack?.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    work.reject(new Error('handler failed'));
    await done;
    expect(settled).toBe(true);
  });

  it('needs no ack-after-handler support when no handler asked for it', () => {
    const { dispatcher, on, handler } = setup();
    on('t', handler('Auto'));
    dispatcher.addFallbackHandler(handler('Fallback'));
    expect(dispatcher.needsAckAfterHandler).toBe(false);
  });
});
