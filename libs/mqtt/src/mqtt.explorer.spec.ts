import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Injectable, Logger, UseGuards, UsePipes, type CanActivate, type PipeTransform } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { OnConnect, OnError, OnMessage } from './decorators/on-event.decorators.js';
import { OnTopic } from './decorators/on-topic.decorator.js';
import { MqttHandlerError } from './errors/mqtt-handler.error.js';
import type { HandlerInvokerFactory, PreparedHandler } from './dispatch/handler-invoker.js';
import { MqttClientRegistry, planSubscriptions, type DecoratedSubscription } from './mqtt-client.registry.js';
import { MqttExplorer } from './mqtt.explorer.js';
import { MqttMetadataAccessor } from './mqtt-metadata.accessor.js';
import type { MqttConnection } from './connection/mqtt-connection.js';

@Injectable()
class Allow implements CanActivate {
  canActivate(): boolean {
    return true;
  }
}

@Injectable()
class Same implements PipeTransform {
  transform(value: unknown): unknown {
    return value;
  }
}

class Handlers {
  @OnTopic('plain/+', { qos: 1 })
  plain(): void {}

  @UseGuards(Allow)
  @OnTopic('guarded/+')
  guarded(): void {}

  @OnMessage()
  fallback(): void {}

  @OnConnect()
  connected(): void {}

  @UseGuards(Allow)
  @UsePipes(Same)
  @OnConnect()
  @OnError()
  guardedEvents(): void {}
}

/**
 * The explorer over stub discovery (one static provider per instance), the real accessor and a real
 * registry whose clients are never started: startAll() is replaced to capture what it is given.
 */
async function explore(...instances: object[]) {
  const registry = new MqttClientRegistry();
  await registry.create('default', { url: 'mqtt://127.0.0.1:1', connect: 'background', telemetry: false });
  const started: DecoratedSubscription[][] = [];
  jest.spyOn(registry, 'startAll').mockImplementation((subscriptions) => {
    started.push([...subscriptions]);
    return Promise.resolve();
  });
  const prepared: string[] = [];
  const invokers = {
    prepare: (instance: object, methodName: string): PreparedHandler => {
      prepared.push(methodName);
      return { invoke: () => undefined, needsContext: false };
    },
  } as unknown as HandlerInvokerFactory;
  const wrappers = instances.map((instance) => ({ instance, isAlias: false, isDependencyTreeStatic: () => true }));
  const discovery = { getControllers: () => [], getProviders: () => wrappers } as unknown as DiscoveryService;
  const warnings: string[] = [];
  jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => {
    warnings.push(String(message));
  });
  const explorer = new MqttExplorer(discovery, new MetadataScanner(), new MqttMetadataAccessor(new Reflector()), registry, invokers);
  try {
    await explorer.onModuleInit();
  } finally {
    await Promise.all(registry.all().map((connection) => connection.close()));
  }
  return { started, prepared, warnings, registry };
}

afterEach(() => {
  jest.restoreAllMocks();
});

describe('MqttExplorer', () => {
  it('prepares an invoker only for @OnTopic and @OnMessage methods: client events call the method directly', async () => {
    const { prepared } = await explore(new Handlers());
    expect(prepared.sort()).toEqual(['fallback', 'guarded', 'plain']);
  });

  it('warns once per client-event method that carries enhancers, naming them and its decorators', async () => {
    const { warnings } = await explore(new Handlers());
    expect(warnings).toEqual([
      'Handlers#guardedEvents has guards and pipes, which @OnConnect and @OnError handlers do not run: client-event handlers are called ' +
        'directly; guards, interceptors, pipes and exception filters apply to @OnTopic and @OnMessage handlers only',
    ]);
  });

  it('hands the registry every decorated subscription, with the handler that asked for it', async () => {
    const { started, registry } = await explore(new Handlers());
    const connection = registry.get('default');
    expect(started).toEqual([
      [
        { connection, label: 'Handlers#plain', request: { filter: 'plain/+', qos: 1 } },
        { connection, label: 'Handlers#guarded', request: { filter: 'guarded/+', qos: 0 } },
      ],
    ]);
  });
});

describe('MqttExplorer, handler options from plain JavaScript', () => {
  /** What both MqttEvent decorators and `@OnTopic` are, applied to a `handle(): void` method. */
  type Decorate = (target: object, key: string, descriptor: TypedPropertyDescriptor<() => void>) => unknown;

  /** Explores one class whose method carries `decorate`, and returns the bootstrap error. */
  async function refusal(decorate: Decorate): Promise<unknown> {
    class Plain {
      handle(): void {}
    }
    decorate(Plain.prototype, 'handle', { value: Plain.prototype.handle });
    return explore(new Plain()).then(
      () => undefined,
      (error: unknown) => error,
    );
  }

  it.each([
    ['share: true', OnTopic('a/+', { share: true } as never), 'Plain#handle: share: the shared-subscription group must be a string, got boolean'],
    ["share: 'a/b'", OnTopic('a/+', { share: 'a/b' }), "Plain#handle: share: the shared-subscription group 'a/b' must not contain '/'"],
    ['client: 5', OnTopic('a/+', { client: 5 } as never), 'Plain#handle: client: expected a string, got number'],
    ["noLocal: 'yes'", OnTopic('a/+', { noLocal: 'yes' } as never), 'Plain#handle: noLocal: expected true or false, got "yes"'],
    ['retainAsPublished: 1', OnTopic('a/+', { retainAsPublished: 1 } as never), 'Plain#handle: retainAsPublished: expected true or false, got 1'],
    ['qos: 3', OnTopic('a/+', { qos: 3 } as never), 'Plain#handle: qos: must be 0, 1 or 2, got 3'],
    ["ack: 'later'", OnTopic('a/+', { ack: 'later' } as never), "Plain#handle: ack: must be 'auto' or 'after-handler', got \"later\""],
    ['a typo', OnTopic('a/+', { qso: 1 } as never), "Plain#handle: qso: unknown option (did you mean 'qos'?)"],
    ['@OnConnect({ payload })', OnConnect({ payload: 'json' } as never), 'Plain#handle: payload: unknown option (@OnConnect takes only client)'],
    ["@OnMessage({ payload: 'xml' })", OnMessage({ payload: 'xml' as never }), "Plain#handle: payload: must be 'auto', 'json', 'text', 'buffer' or a codec"],
  ])('refuses %s at bootstrap, naming the handler and the option', async (_what, decorate, message) => {
    const error = await refusal(decorate);
    expect(error).toBeInstanceOf(MqttHandlerError);
    expect((error as Error).message).toContain(message);
  });
});

describe('planSubscriptions', () => {
  const connection = {} as MqttConnection;
  const other = {} as MqttConnection;

  it('makes one subscription per distinct filter and client, at the highest QoS asked for', () => {
    const plan = planSubscriptions([
      { connection, label: 'A#a', request: { filter: 'x/+', qos: 0 } },
      { connection, label: 'B#b', request: { filter: 'x/+', qos: 2 } },
      { connection, label: 'C#c', request: { filter: 'x/+', qos: 1 } },
      { connection: other, label: 'D#d', request: { filter: 'x/+', qos: 0 } },
    ]);
    expect([...(plan.get(connection)?.values() ?? [])]).toEqual([{ filter: 'x/+', qos: 2 }]);
    expect([...(plan.get(other)?.values() ?? [])]).toEqual([{ filter: 'x/+', qos: 0 }]);
  });

  it('refuses handlers of one filter that ask for different MQTT 5 subscription options, naming the second', () => {
    const plan = () =>
      planSubscriptions([
        { connection, label: 'A#a', request: { filter: 'x/+', qos: 0, nl: true } },
        { connection, label: 'B#b', request: { filter: 'x/+', qos: 0 } },
      ]);
    expect(plan).toThrow(MqttHandlerError);
    expect(plan).toThrow("B#b: subscribes 'x/+' with other MQTT 5 subscription options than another handler of that filter");
  });
});
