import { describe, expect, it } from '@jest/globals';
import {
  Catch,
  Injectable,
  ParseIntPipe,
  createParamDecorator,
  type PipeTransform,
  UseFilters,
  UseGuards,
  UseInterceptors,
  ValidationPipe,
  type ArgumentsHost,
  type CallHandler,
  type CanActivate,
  type ExceptionFilter,
  type ExecutionContext,
  type INestApplication,
  type NestInterceptor,
} from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, APP_PIPE, type AbstractHttpAdapter } from '@nestjs/core';
import { Test, type TestingModule } from '@nestjs/testing';
import { IsInt, IsString, Max, Min } from 'class-validator';
import type { Packet } from 'mqtt';
import { firstValueFrom, type Observable } from 'rxjs';
import { map, take, toArray } from 'rxjs/operators';
import {
  Ctx,
  MqttArgumentError,
  MqttContext,
  MqttHandlerError,
  MqttModule,
  MqttRequestError,
  MqttService,
  MqttTopicError,
  OnSubscribe,
  OnTopic,
  Payload,
  Properties,
  Topic,
  TopicParam,
  UserProperty,
  type MqttModuleOptions,
} from 'nestjs-mqtt';
import { mosquittoPub } from './fixtures/mosquitto-clients.js';
import { CaptureLogger } from './support/capture-logger.js';
import { brokerSuite } from './support/broker-suite.js';
import { Inbox } from './support/inbox.js';

const suite = brokerSuite();
const apps = suite.apps;

async function boot(
  providers: Array<new (...args: never[]) => unknown>,
  options: Partial<MqttModuleOptions> = {},
  extra: { logger?: CaptureLogger; providers?: Array<{ provide: string | symbol; useClass: new (...args: never[]) => unknown }> } = {},
): Promise<TestingModule> {
  const builder = Test.createTestingModule({
    imports: [MqttModule.forRoot({ url: suite.broker.url(), protocolVersion: 5, ...options })],
    providers: [...providers, ...(extra.providers ?? [])],
  });
  if (extra.logger) builder.setLogger(extra.logger);
  const moduleRef = await builder.compile();
  apps.push(moduleRef);
  await moduleRef.init();
  return moduleRef;
}

class ReadingDto {
  @IsString()
  sensor!: string;

  @IsInt()
  @Min(-40)
  @Max(125)
  celsius!: number;
}

@Injectable()
class OnlyKitchen implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const mqtt = MqttContext.from(context);
    return mqtt?.params.room === 'kitchen';
  }
}

@Injectable()
class Timing implements NestInterceptor {
  readonly durations = new Inbox<{ label: string; type: string; ms: number }>();
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const started = process.hrtime.bigint();
    const label = `${context.getClass().name}#${context.getHandler().name}`;
    return next.handle().pipe(
      map((value: unknown) => {
        this.durations.push({ label, type: context.getType(), ms: Number(process.hrtime.bigint() - started) / 1e6 });
        return value;
      }),
    );
  }
}

@Catch(RangeError)
class RangeErrorFilter implements ExceptionFilter {
  readonly caught = new Inbox<string>();
  catch(error: RangeError, host: ArgumentsHost): unknown {
    this.caught.push(`${host.getType()}:${MqttContext.from(host)?.topic}:${error.message}`);
    return { recovered: error.message };
  }
}
const rangeFilter = new RangeErrorFilter();

@Injectable()
class Readings {
  readonly valid = new Inbox<ReadingDto>();
  readonly rooms = new Inbox<string>();
  readonly devices = new Inbox<number>();

  @OnTopic('readings/+room')
  @UseGuards(OnlyKitchen)
  onReading(
    @Payload(new ValidationPipe({ whitelist: true, transform: true })) reading: ReadingDto,
    @TopicParam('room') room: string,
  ): { ok: true; room: string } {
    this.valid.push(reading);
    this.rooms.push(room);
    return { ok: true, room };
  }

  @OnTopic('devices/+id/reset')
  onReset(@TopicParam('id', ParseIntPipe) id: number): number {
    this.devices.push(id);
    return id * 2;
  }

  @OnTopic('math/sqrt')
  @UseInterceptors(Timing)
  @UseFilters(rangeFilter)
  sqrt(@Payload('x') x: number): number {
    if (x < 0) throw new RangeError(`no real root of ${x}`);
    return Math.sqrt(x);
  }
}

describe('pipes, guards, interceptors and filters', () => {
  it('ValidationPipe validates a DTO: valid ones reach the handler as instances, invalid ones never do (a warning without a stack trace)', async () => {
    const logger = new CaptureLogger();
    const moduleRef = await boot([Readings, OnlyKitchen, Timing], {}, { logger });
    const readings = moduleRef.get(Readings);
    await mosquittoPub(suite.broker.ports.plain as number, 'readings/kitchen', '{"sensor":"s1","celsius":300}');
    await mosquittoPub(suite.broker.ports.plain as number, 'readings/kitchen', '{"sensor":"s1","celsius":21,"extra":"dropped"}');
    const [reading] = await readings.valid.waitFor(1);
    expect(reading).toBeInstanceOf(ReadingDto);
    expect({ ...reading }).toEqual({ sensor: 's1', celsius: 21 });
    expect(readings.valid.items).toHaveLength(1);
    // Bad input from a publisher: a warning with the constraint, no stack trace, no error line.
    const refusal = logger.lines.find((line) => line.text.includes('Readings#onReading'));
    expect(refusal).toEqual({
      level: 'warn',
      text: expect.stringMatching(
        /Message on 'readings\/kitchen' not delivered to Readings#onReading: a pipe refused it: Bad Request Exception: celsius must not be greater than 125/,
      ),
    });
    expect(refusal?.text).not.toContain('\n    at ');
    expect(logger.lines.filter((line) => line.level === 'error')).toEqual([]);
  });

  it('a requester whose payload fails validation gets the constraint as the error reply', async () => {
    const moduleRef = await boot([Readings, OnlyKitchen, Timing], { reply: true, replyErrorDetails: true });
    const mqtt = moduleRef.get(MqttService);
    await expect(mqtt.request('readings/kitchen', { sensor: 's9', celsius: 'warm' })).rejects.toThrow(
      /the responder failed: Bad Request Exception: .*celsius must be an integer number/,
    );
    await expect(mqtt.request('readings/kitchen', { sensor: 's9', celsius: 22 })).resolves.toEqual({ ok: true, room: 'kitchen' });
  });

  it('a guard that returns false drops the message (debug log); MqttContext is reachable from it', async () => {
    const logger = new CaptureLogger();
    const moduleRef = await boot([Readings, OnlyKitchen, Timing], {}, { logger });
    const readings = moduleRef.get(Readings);
    await mosquittoPub(suite.broker.ports.plain as number, 'readings/hall', '{"sensor":"s2","celsius":19}');
    await mosquittoPub(suite.broker.ports.plain as number, 'readings/kitchen', '{"sensor":"s3","celsius":20}');
    expect(await readings.rooms.waitFor(1)).toEqual(['kitchen']);
    expect(readings.valid.items.map((r) => r.sensor)).toEqual(['s3']);
    expect(logger.lines).toContainEqual({
      level: 'debug',
      text: expect.stringContaining("Message on 'readings/hall' dropped: a guard of Readings#onReading refused it"),
    });
    expect(logger.lines.filter((line) => line.level === 'error')).toEqual([]);
  });

  it('ParseIntPipe converts a topic parameter', async () => {
    const moduleRef = await boot([Readings, OnlyKitchen, Timing]);
    await mosquittoPub(suite.broker.ports.plain as number, 'devices/42/reset', '');
    expect(await moduleRef.get(Readings).devices.waitFor(1)).toEqual([42]);
  });

  it('an interceptor times the handler with context type mqtt; an exception filter sees its errors and its return value is the reply', async () => {
    const moduleRef = await boot([Readings, OnlyKitchen, Timing], { reply: true });
    const mqtt = moduleRef.get(MqttService);
    await expect(mqtt.request('math/sqrt', { x: 16 })).resolves.toBe(4);
    const [timing] = await moduleRef.get(Timing).durations.waitFor(1);
    expect(timing).toEqual({ label: 'Readings#sqrt', type: 'mqtt', ms: expect.any(Number) });
    await expect(mqtt.request('math/sqrt', { x: -1 })).resolves.toEqual({ recovered: 'no real root of -1' });
    expect(rangeFilter.caught.items).toContain('mqtt:math/sqrt:no real root of -1');
  });

  /** Errors that no filter of the handler catches: Nest's chain is skipped, so only the dispatcher logs them. */
  @UseFilters(RangeErrorFilter)
  @Injectable()
  class Filtered {
    @OnTopic('filtered/method-class')
    @UseFilters(RangeErrorFilter)
    methodClass(@Payload('kind') kind: string): never {
      throw kind === 'range' ? new RangeError('method filter class') : new TypeError('not a RangeError (method filter class)');
    }

    @OnTopic('filtered/method-instance')
    @UseFilters(new RangeErrorFilter())
    methodInstance(): never {
      throw new TypeError('not a RangeError (method filter instance)');
    }

    @OnTopic('filtered/class')
    classLevel(@Payload('kind') kind: string): never {
      throw kind === 'range' ? new RangeError('class filter') : new Error('not a RangeError (class filter)');
    }
  }

  it.each([
    ['methodClass', 'filtered/method-class', 'not a RangeError (method filter class)'],
    ['methodInstance', 'filtered/method-instance', 'not a RangeError (method filter instance)'],
    ['classLevel', 'filtered/class', 'not a RangeError (class filter)'],
  ])('@UseFilters with a filter that does not catch the error (Filtered#%s): logged once, with the handler and the topic', async (method, topic, message) => {
    const logger = new CaptureLogger();
    const moduleRef = await boot([Filtered], { reply: true, replyErrorDetails: true }, { logger });
    await expect(moduleRef.get(MqttService).request(topic, { kind: 'other' })).rejects.toThrow(`the responder failed: ${message}`);
    const errors = logger.lines.filter((line) => line.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0].text).toContain(`Filtered#${method} failed on '${topic}': ${message}`);
    expect(logger.lines.filter((line) => line.text.includes('ExceptionsHandler'))).toEqual([]);
  });

  it('@UseFilters given as a class, on the method or the class, still catches what it declares', async () => {
    const logger = new CaptureLogger();
    const moduleRef = await boot([Filtered], { reply: true, replyErrorDetails: true }, { logger });
    const mqtt = moduleRef.get(MqttService);
    await expect(mqtt.request('filtered/method-class', { kind: 'range' })).resolves.toEqual({ recovered: 'method filter class' });
    await expect(mqtt.request('filtered/class', { kind: 'range' })).resolves.toEqual({ recovered: 'class filter' });
    expect(logger.lines.filter((line) => line.level === 'error')).toEqual([]);
  });

  @Injectable()
  class DenyAll implements CanActivate {
    canActivate(): boolean {
      return false;
    }
  }

  @Injectable()
  class Plain {
    readonly got = new Inbox<string>();
    @OnTopic('plain/+')
    on(payload: unknown, topic: string): void {
      this.got.push(topic);
    }
    @OnTopic('barrier')
    barrier(): void {
      this.got.push('barrier');
    }
  }

  it('global guards registered with APP_GUARD apply to handlers without decorators of their own', async () => {
    const moduleRef = await boot([Plain], { reply: true }, { providers: [{ provide: APP_GUARD, useClass: DenyAll }] });
    await mosquittoPub(suite.broker.ports.plain as number, 'plain/x', 'x');
    await mosquittoPub(suite.broker.ports.plain as number, 'barrier', 'x');
    // The barrier handler is refused too: nothing arrives; the request shows it as a refusal.
    await expect(moduleRef.get(MqttService).request('plain/y', 'x', { timeout: 2_000 })).rejects.toThrow('the responder failed: Forbidden resource');
    expect(moduleRef.get(Plain).got.items).toEqual([]);
  });

  /** An own parameter decorator: the room of the filter's named wildcard, upper-cased. */
  const Room = createParamDecorator((_data: unknown, context: ExecutionContext) => MqttContext.from(context)?.params.room.toUpperCase());

  @Injectable()
  class OwnDecorator {
    readonly got = new Inbox<string>();
    @OnTopic('own/+room/temp')
    on(@Room() room: string, @Payload() payload: string): void {
      this.got.push(`${room}:${payload}`);
    }
  }

  it('an own createParamDecorator decorator gets its value from the MQTT context', async () => {
    const moduleRef = await boot([OwnDecorator]);
    await mosquittoPub(suite.broker.ports.plain as number, 'own/kitchen/temp', 'warm');
    expect(await moduleRef.get(OwnDecorator).got.waitFor(1)).toEqual(['KITCHEN:warm']);
  });

  /** Upper-cases string arguments. */
  class Shout implements PipeTransform {
    transform(value: unknown): unknown {
      return typeof value === 'string' ? value.toUpperCase() : value;
    }
  }

  /** Wraps what a handler returns, and records the handler. */
  class Wrap implements NestInterceptor {
    static readonly seen = new Inbox<string>();
    intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
      Wrap.seen.push(`${context.getType()}:${context.getClass().name}#${context.getHandler().name}`);
      return next.handle().pipe(map((value: unknown) => ({ wrapped: value })));
    }
  }

  @Injectable()
  class Globals {
    @OnTopic('globals/plain')
    plain(payload: unknown): unknown {
      return payload;
    }
    @OnTopic('globals/decorated')
    decorated(@Payload() payload: unknown): unknown {
      return payload;
    }
  }

  it('APP_INTERCEPTOR and APP_PIPE providers reach every handler: the interceptor wraps both, the pipe acts on the decorated parameter', async () => {
    Wrap.seen.clear();
    const moduleRef = await boot(
      [Globals],
      { reply: true },
      {
        providers: [
          { provide: APP_INTERCEPTOR, useClass: Wrap },
          { provide: APP_PIPE, useClass: Shout },
        ],
      },
    );
    const mqtt = moduleRef.get(MqttService);
    await expect(mqtt.request('globals/plain', 'quiet')).resolves.toEqual({ wrapped: 'quiet' });
    await expect(mqtt.request('globals/decorated', 'quiet')).resolves.toEqual({ wrapped: 'QUIET' });
    expect(Wrap.seen.items).toEqual(['mqtt:Globals#plain', 'mqtt:Globals#decorated']);
  });
});

describe('app.useGlobal*()', () => {
  /**
   * Does nothing: these apps have no routes, and @nestjs/platform-express is not a dependency.
   * (`then` stays undefined, so it is never taken for a promise.)
   */
  const noHttp = new Proxy({}, { get: (_target, key) => (key === 'then' ? undefined : () => undefined) }) as AbstractHttpAdapter;

  /** A real NestApplication: `configure` calls `app.useGlobal*()` before `app.init()`, as an app does before `listen()`. */
  async function bootApp(
    providers: Array<new (...args: never[]) => unknown>,
    configure: (app: INestApplication) => void,
    logger = new CaptureLogger(),
  ): Promise<INestApplication> {
    const moduleRef = await Test.createTestingModule({
      imports: [MqttModule.forRoot({ url: suite.broker.url(), protocolVersion: 5, reply: true, replyErrorDetails: true })],
      providers,
    })
      .setLogger(logger)
      .compile();
    apps.push(moduleRef);
    const app = moduleRef.createNestApplication(noHttp, { logger });
    configure(app);
    await app.init();
    return app;
  }

  @Catch(RangeError)
  class GlobalRangeFilter implements ExceptionFilter {
    readonly caught = new Inbox<string>();
    catch(error: RangeError, host: ArgumentsHost): unknown {
      const mqtt = MqttContext.from(host);
      this.caught.push(`${host.getType()}:${mqtt?.topic}:${error.message}`);
      return { recovered: error.message };
    }
  }

  @Injectable()
  class AllowAll implements CanActivate {
    canActivate(): boolean {
      return true;
    }
  }

  @Injectable()
  class Failing {
    @OnTopic('global/guarded')
    @UseGuards(AllowAll)
    guarded(): never {
      throw new RangeError('guarded handler failed');
    }

    @OnTopic('global/plain')
    plain(): never {
      throw new RangeError('plain handler failed');
    }

    @OnTopic('global/other')
    other(): never {
      throw new Error('not a RangeError');
    }
  }

  it('a filter from app.useGlobalFilters() sees the errors of a handler with @UseGuards; its return value is the reply', async () => {
    const filter = new GlobalRangeFilter();
    const logger = new CaptureLogger();
    const app = await bootApp([Failing, AllowAll], (nest) => nest.useGlobalFilters(filter), logger);
    await expect(app.get(MqttService).request('global/guarded', null)).resolves.toEqual({ recovered: 'guarded handler failed' });
    expect(filter.caught.items).toEqual(['mqtt:global/guarded:guarded handler failed']);
    expect(logger.lines.filter((line) => line.level === 'error')).toEqual([]);
  });

  it('a filter from app.useGlobalFilters() reaches a handler without decorators of its own, as an APP_FILTER provider does', async () => {
    const filter = new GlobalRangeFilter();
    const logger = new CaptureLogger();
    const app = await bootApp([Failing, AllowAll], (nest) => nest.useGlobalFilters(filter), logger);
    const mqtt = app.get(MqttService);
    await expect(mqtt.request('global/plain', null)).resolves.toEqual({ recovered: 'plain handler failed' });
    expect(filter.caught.items).toEqual(['mqtt:global/plain:plain handler failed']);
    // An error the filter does not catch is still a failure, logged with the handler and the topic.
    await expect(mqtt.request('global/other', null)).rejects.toThrow('the responder failed: not a RangeError');
    expect(logger.lines).toContainEqual({ level: 'error', text: expect.stringContaining("Failing#other failed on 'global/other': not a RangeError") });
  });

  /** A catch-all written for HTTP: other context types get the exception back. */
  @Catch()
  class HttpOnlyFilter implements ExceptionFilter {
    catch(exception: unknown, host: ArgumentsHost): unknown {
      if (host.getType() !== 'http') throw exception;
      return host.switchToHttp().getResponse<{ status(code: number): unknown }>().status(500);
    }
  }

  it('a global filter written for HTTP hands MQTT errors back by rethrowing them: logged once, with the handler and the topic', async () => {
    const logger = new CaptureLogger();
    const app = await bootApp([Failing, AllowAll], (nest) => nest.useGlobalFilters(new HttpOnlyFilter()), logger);
    await expect(app.get(MqttService).request('global/other', null)).rejects.toThrow('the responder failed: not a RangeError');
    const errors = logger.lines.filter((line) => line.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0].text).toContain("Failing#other failed on 'global/other': not a RangeError");
  });

  it('an APP_FILTER provider reaches a handler without decorators too (read from the same application config)', async () => {
    const moduleRef = await boot([Failing], { reply: true }, { providers: [{ provide: APP_FILTER, useClass: GlobalRangeFilter }] });
    await expect(moduleRef.get(MqttService).request('global/plain', null)).resolves.toEqual({ recovered: 'plain handler failed' });
  });

  it.each([
    ['app.useGlobalFilters()', 'global'],
    ['an APP_FILTER provider', 'provider'],
  ])('an error that %s does not catch is logged once, with the handler and the topic (no ExceptionsHandler line)', async (_label, how) => {
    const logger = new CaptureLogger();
    const mqtt =
      how === 'global'
        ? (await bootApp([Failing, AllowAll], (nest) => nest.useGlobalFilters(new GlobalRangeFilter()), logger)).get(MqttService)
        : (await boot([Failing], { reply: true, replyErrorDetails: true }, { logger, providers: [{ provide: APP_FILTER, useClass: GlobalRangeFilter }] })).get(
            MqttService,
          );
    await expect(mqtt.request('global/other', null)).rejects.toThrow('the responder failed: not a RangeError');
    const errors = logger.lines.filter((line) => line.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0].text).toContain("Failing#other failed on 'global/other': not a RangeError");
    expect(logger.lines.filter((line) => line.text.includes('ExceptionsHandler'))).toEqual([]);
    // What the filter declares is still caught.
    await expect(mqtt.request('global/plain', null)).resolves.toEqual({ recovered: 'plain handler failed' });
    expect(logger.lines.filter((line) => line.level === 'error')).toHaveLength(1);
  });

  @Injectable()
  class Quiet {
    /** The topic, and whether the call came through Nest (only that path hands a two-parameter method an MqttContext). */
    readonly got = new Inbox<string>();
    @OnTopic('quiet/+')
    on(payload: unknown, topic: string, ...rest: unknown[]): string {
      this.got.push(`${topic}${rest[1] instanceof MqttContext ? ' (through Nest)' : ''}`);
      return topic;
    }
  }

  /** Refuses topics ending in `/deny`. */
  class DenyTopic implements CanActivate {
    canActivate(context: ExecutionContext): boolean {
      return !MqttContext.from(context)?.topic.endsWith('/deny');
    }
  }

  class Seen implements NestInterceptor {
    readonly handlers = new Inbox<string>();
    intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
      this.handlers.push(`${context.getType()}:${context.getClass().name}#${context.getHandler().name}`);
      return next.handle().pipe(map((value: unknown) => (typeof value === 'string' ? value.toUpperCase() : value)));
    }
  }

  it('guards and interceptors from app.useGlobalGuards() and app.useGlobalInterceptors() reach handlers without decorators', async () => {
    const seen = new Seen();
    const app = await bootApp([Quiet], (nest) => nest.useGlobalGuards(new DenyTopic()).useGlobalInterceptors(seen));
    const mqtt = app.get(MqttService);
    await expect(mqtt.request('quiet/deny', null, { timeout: 2_000 })).rejects.toThrow('the responder failed: Forbidden resource');
    await expect(mqtt.request('quiet/allow', null)).resolves.toBe('QUIET/ALLOW');
    expect(app.get(Quiet).got.items).toEqual(['quiet/allow (through Nest)']);
    expect(seen.handlers.items).toEqual(['mqtt:Quiet#on']);
  });

  it('app.useGlobalPipes() alone leaves a handler without decorators called directly (pipes need parameter decorators)', async () => {
    const app = await bootApp([Quiet], (nest) => nest.useGlobalPipes(new ValidationPipe()));
    await expect(app.get(MqttService).request('quiet/direct', null)).resolves.toBe('quiet/direct');
    expect(app.get(Quiet).got.items).toEqual(['quiet/direct']);
  });

  @Injectable()
  class Decorated {
    @OnTopic('piped/+')
    on(@Payload() payload: unknown, @Topic() topic: string): string {
      return `${String(payload)}@${topic}`;
    }
  }

  it('app.useGlobalPipes() acts on decorated parameters', async () => {
    const upper: PipeTransform = { transform: (value: unknown) => (typeof value === 'string' ? value.toUpperCase() : value) };
    const app = await bootApp([Decorated], (nest) => nest.useGlobalPipes(upper));
    await expect(app.get(MqttService).request('piped/a', 'hello')).resolves.toBe('HELLO@PIPED/A');
  });
});

describe('MQTT 5 properties and request/reply', () => {
  @Injectable()
  class Props {
    readonly got = new Inbox<unknown>();
    @OnTopic('props/in')
    on(@UserProperty('tenant') tenant: string, @Properties() properties: Record<string, unknown>, @Topic() topic: string): void {
      this.got.push({ tenant, contentType: properties.contentType, topic });
    }
  }

  it('user properties round-trip both ways', async () => {
    const moduleRef = await boot([Props]);
    await mosquittoPub(suite.broker.ports.plain as number, 'props/in', 'x', { protocolVersion: 5, userProperties: { tenant: 'acme' } });
    expect(await moduleRef.get(Props).got.waitFor(1)).toEqual([{ tenant: 'acme', contentType: undefined, topic: 'props/in' }]);

    const mqtt = moduleRef.get(MqttService);
    const received = firstValueFrom(mqtt.observe('props/out'));
    await mqtt.publish(
      'props/out',
      { a: 1 },
      { qos: 1, properties: { userProperties: { trace: 't-1' }, contentType: 'application/json', messageExpiryInterval: 60 } },
    );
    const message = await received;
    expect(message.payload).toEqual({ a: 1 });
    expect(message.packet.properties).toMatchObject({ userProperties: { trace: 't-1' }, contentType: 'application/json' });
  });

  @Injectable()
  class Responder {
    @OnTopic('rpc/add')
    add(@Payload() numbers: number[]): number {
      return numbers.reduce((sum, n) => sum + n, 0);
    }
    @OnTopic('rpc/fail')
    fail(): never {
      throw new Error('cannot do that');
    }
  }

  it('request() gets the reply of a decorated handler in another app instance', async () => {
    await boot([Responder], { reply: true, replyErrorDetails: true });
    const requester = await boot([]);
    const mqtt = requester.get(MqttService);
    await expect(mqtt.request('rpc/add', [1, 2, 3])).resolves.toBe(6);
    await expect(mqtt.request('rpc/add', [10, 20], { qos: 1 })).resolves.toBe(30);
    await expect(mqtt.request('rpc/fail', null)).rejects.toThrow(new MqttRequestError('rpc/fail', 'the responder failed: cannot do that'));
  });

  it('a request with no responder times out with a typed error', async () => {
    const mqtt = (await boot([])).get(MqttService);
    const result = mqtt.request('rpc/nobody', 'x', { timeout: 300 });
    await expect(result).rejects.toThrow(MqttRequestError);
    await expect(result).rejects.toThrow("Request to 'rpc/nobody' failed: no reply within 300 ms");
    expect(await result.catch((error: MqttRequestError) => error.timedOut)).toBe(true);
  });

  it('refuses bad requests before sending: wildcard topics, bad timeouts, MQTT 3.1.1', async () => {
    const mqtt = (await boot([])).get(MqttService);
    await expect(mqtt.request('rpc/+', 'x')).rejects.toThrow(MqttTopicError);
    await expect(mqtt.request('rpc/x', 'x', { timeout: 0 })).rejects.toThrow("Invalid argument 'options.timeout': expected a positive number");
    await expect(mqtt.request('rpc/x', 'x', { timeout: Number.NaN })).rejects.toThrow(MqttArgumentError);
    const v4 = (await boot([], { protocolVersion: 4 })).get(MqttService);
    await expect(v4.request('rpc/x', 'x')).rejects.toThrow('request() needs MQTT 5');
  });
});

describe('overlapping filters', () => {
  @Injectable()
  class Overlap {
    readonly runs = new Inbox<string>();
    @OnTopic('ov/a/b')
    exact(): void {
      this.runs.push('exact');
    }
    @OnTopic('ov/+/b')
    plus(): void {
      this.runs.push('plus');
    }
    @OnTopic('ov/#')
    hash(): void {
      this.runs.push('hash');
    }
    @OnTopic('end')
    end(): void {
      this.runs.push('end');
    }
  }

  it.each([4, 5] as const)('three overlapping filters: each handler runs exactly once per message (MQTT %s)', async (protocolVersion) => {
    const moduleRef = await boot([Overlap], { protocolVersion });
    await mosquittoPub(suite.broker.ports.plain as number, 'ov/a/b', 'x', { qos: 1 });
    await mosquittoPub(suite.broker.ports.plain as number, 'end', 'x', { qos: 1 });
    const runs = moduleRef.get(Overlap).runs;
    await runs.waitFor(4);
    expect([...runs.items].sort()).toEqual(['end', 'exact', 'hash', 'plus']);
  });
});

describe('observe()', () => {
  @Injectable()
  class Grants {
    readonly topics = new Inbox<string>();
    @OnSubscribe()
    onGranted(granted: Array<{ topic: string }>): void {
      for (const { topic } of granted) this.topics.push(topic);
    }
  }

  it('subscribes on the first subscription and unsubscribes after the last', async () => {
    const moduleRef = await boot([Grants]);
    const mqtt = moduleRef.get(MqttService);
    const sent: Packet[] = [];
    const acks = new Inbox<string>();
    mqtt.client.on('packetsend', (packet: Packet) => sent.push(packet));
    mqtt.client.on('packetreceive', (packet: Packet) => (packet.cmd === 'suback' || packet.cmd === 'unsuback') && acks.push(packet.cmd));
    const count = (cmd: string) => sent.filter((p) => p.cmd === cmd).length;

    const first = mqtt.observe<string>('obs/+');
    const a = firstValueFrom(first.pipe(take(2), toArray()));
    const b = firstValueFrom(mqtt.observe<string>('obs/+').pipe(take(1), toArray()));
    const subscribed = firstValueFrom(mqtt.observe<unknown>('obs/ready'));
    expect((await moduleRef.get(Grants).topics.waitFor(2)).sort()).toEqual(['obs/+', 'obs/ready']);
    expect([...mqtt.topics.keys()].sort()).toEqual(['obs/+', 'obs/ready']);
    expect(count('subscribe')).toBe(2);
    await mosquittoPub(suite.broker.ports.plain as number, 'obs/1', 'one');
    await mosquittoPub(suite.broker.ports.plain as number, 'obs/2', 'two');
    expect((await a).map((m) => [m.topic, m.payload])).toEqual([
      ['obs/1', 'one'],
      ['obs/2', 'two'],
    ]);
    expect((await b).map((m) => m.payload)).toEqual(['one']);
    await mosquittoPub(suite.broker.ports.plain as number, 'obs/ready', 'r');
    await subscribed;
    // Both observers of obs/+ are done: one UNSUBSCRIBE for it, one for obs/ready.
    await acks.until((cmds) => cmds.filter((cmd) => cmd === 'unsuback').length === 2);
    expect(count('unsubscribe')).toBe(2);
    expect(mqtt.topics.size).toBe(0);
    expect(() => mqtt.observe('obs/#/x')).toThrow(MqttTopicError);
  });
});

describe('custom payload codecs', () => {
  /** A tiny binary format: uint16 id, float32 value (big-endian). */
  const sensorFrame = {
    name: 'sensor-frame',
    decode(bytes: Buffer): { id: number; value: number } {
      if (bytes.length !== 6) throw new Error(`expected 6 bytes, got ${bytes.length}`);
      return { id: bytes.readUInt16BE(0), value: Math.round(bytes.readFloatBE(2) * 100) / 100 };
    },
  };

  @Injectable()
  class Frames {
    readonly got = new Inbox<unknown>();
    @OnTopic('frames/+', { payload: sensorFrame })
    on(frame: { id: number; value: number }): void {
      this.got.push(frame);
    }
  }

  it('decodes with a per-handler codec; what it cannot decode never reaches the handler', async () => {
    const logger = new CaptureLogger();
    const moduleRef = await boot([Frames], {}, { logger });
    const frame = Buffer.alloc(6);
    frame.writeUInt16BE(7, 0);
    frame.writeFloatBE(21.5, 2);
    await mosquittoPub(suite.broker.ports.plain as number, 'frames/a', Buffer.from([1, 2, 3]));
    await mosquittoPub(suite.broker.ports.plain as number, 'frames/a', frame);
    expect(await moduleRef.get(Frames).got.waitFor(1)).toEqual([{ id: 7, value: 21.5 }]);
    expect(logger.lines).toContainEqual({
      level: 'warn',
      text: expect.stringContaining("Payload on 'frames/a' not delivered to Frames#on: expected 6 bytes, got 3 (format 'sensor-frame')"),
    });
  });
});

describe('a codec as the module-wide payload', () => {
  /** Reads a payload as comma-separated numbers. */
  const csv = {
    name: 'csv',
    decode(bytes: Buffer): number[] {
      const values = bytes.toString('utf8').split(',').map(Number);
      if (values.some((value) => Number.isNaN(value))) throw new Error('not a list of numbers');
      return values;
    },
  };

  @Injectable()
  class Series {
    readonly got = new Inbox<unknown>();
    @OnTopic('series/+')
    on(values: unknown): void {
      this.got.push(values);
    }
    @OnTopic('series-text/+', { payload: 'text' })
    onText(@Payload() text: unknown): void {
      this.got.push(text);
    }
  }

  it('decodes for every handler that does not set its own payload; a decode failure never reaches the handler', async () => {
    const logger = new CaptureLogger();
    const moduleRef = await boot([Series], { payload: csv }, { logger });
    await mosquittoPub(suite.broker.ports.plain as number, 'series/a', 'x,y');
    await mosquittoPub(suite.broker.ports.plain as number, 'series/a', '1,2,3');
    await mosquittoPub(suite.broker.ports.plain as number, 'series-text/a', '4,5');
    expect(await moduleRef.get(Series).got.waitFor(2)).toEqual([[1, 2, 3], '4,5']);
    expect(logger.lines).toContainEqual({
      level: 'warn',
      text: expect.stringContaining("Payload on 'series/a' not delivered to Series#on: not a list of numbers (format 'csv')"),
    });
  });
});

describe('MQTT 5 subscription options', () => {
  @Injectable()
  class Options {
    readonly local = new Inbox<string>();
    readonly retained = new Inbox<string>();
    @OnTopic('nl/+', { noLocal: true })
    onNoLocal(payload: string): void {
      this.local.push(payload);
    }
    @OnTopic('rh/+', { retainHandling: 2 })
    onRetained(payload: string, _topic: string, packet: { retain: boolean }): void {
      this.retained.push(`${payload}:${packet.retain}`);
    }
  }

  it('noLocal keeps our own publishes away; retainHandling 2 sends no retained message on subscribe', async () => {
    await mosquittoPub(suite.broker.ports.plain as number, 'rh/x', 'old', { retain: true, qos: 1 });
    const moduleRef = await boot([Options]);
    const mqtt = moduleRef.get(MqttService);
    await mqtt.publish('nl/x', 'mine', { qos: 1 });
    await mosquittoPub(suite.broker.ports.plain as number, 'nl/x', 'theirs', { qos: 1 });
    await mosquittoPub(suite.broker.ports.plain as number, 'rh/x', 'new', { qos: 1 });
    const options = moduleRef.get(Options);
    expect(await options.local.waitFor(1)).toEqual(['theirs']);
    expect(await options.retained.waitFor(1)).toEqual(['new:false']);
    await mosquittoPub(suite.broker.ports.plain as number, 'rh/x', '', { retain: true, qos: 1 });
  });

  @Injectable()
  class Retained {
    readonly got = new Inbox<string>();
    @OnTopic('rap/on/+', { retainAsPublished: true })
    onKept(payload: string, _topic: string, packet: { retain: boolean }): void {
      this.got.push(`kept ${payload}:${packet.retain}`);
    }
    @OnTopic('rap/off/+')
    onCleared(payload: string, _topic: string, packet: { retain: boolean }): void {
      this.got.push(`cleared ${payload}:${packet.retain}`);
    }
  }

  it('retainAsPublished keeps the retain flag on messages forwarded live; without it the broker clears it', async () => {
    const moduleRef = await boot([Retained]);
    const got = moduleRef.get(Retained).got;
    try {
      await mosquittoPub(suite.broker.ports.plain as number, 'rap/on/x', 'a', { retain: true, qos: 1 });
      await got.waitFor(1);
      await mosquittoPub(suite.broker.ports.plain as number, 'rap/off/x', 'b', { retain: true, qos: 1 });
      expect(await got.waitFor(2)).toEqual(['kept a:true', 'cleared b:false']);
    } finally {
      await mosquittoPub(suite.broker.ports.plain as number, 'rap/on/x', '', { retain: true, qos: 1 });
      await mosquittoPub(suite.broker.ports.plain as number, 'rap/off/x', '', { retain: true, qos: 1 });
    }
  });

  it('refuses stacked @OnTopic decorators of one method that disagree on noLocal, naming the handler', async () => {
    @Injectable()
    class Disagree {
      @OnTopic('st/a/+', { noLocal: true })
      @OnTopic('st/+/b')
      on(): void {}
    }
    const moduleRef = await Test.createTestingModule({
      imports: [MqttModule.forRoot({ url: suite.broker.url(), protocolVersion: 5 })],
      providers: [Disagree],
    }).compile();
    apps.push(moduleRef);
    const init = moduleRef.init();
    await expect(init).rejects.toThrow(MqttHandlerError);
    await expect(init).rejects.toThrow('Disagree#on: stacked @OnTopic decorators of one method must agree on noLocal');
  });

  it('refuses MQTT 5 subscription options on an MQTT 3.1.1 client at bootstrap', async () => {
    const compile = Test.createTestingModule({ imports: [MqttModule.forRoot({ url: suite.broker.url() })], providers: [Options] }).compile();
    const moduleRef = await compile;
    apps.push(moduleRef);
    await expect(moduleRef.init()).rejects.toThrow('Options#onNoLocal: noLocal, retainAsPublished and retainHandling are MQTT 5 subscription options');
  });
});

describe('@Ctx()', () => {
  @Injectable()
  class WithContext {
    readonly got = new Inbox<unknown>();
    @OnTopic('ctx/+room/#rest', { qos: 1 })
    on(@Ctx() context: MqttContext): void {
      this.got.push({
        isContext: context instanceof MqttContext,
        topic: context.topic,
        params: context.params,
        client: context.client,
        packetTopic: context.packet.topic,
        qos: context.packet.qos,
      });
    }
  }

  it('injects the MqttContext: topic, packet, named wildcard values and client name', async () => {
    const moduleRef = await boot([WithContext]);
    await mosquittoPub(suite.broker.ports.plain as number, 'ctx/hall/a/b', 'x', { qos: 1 });
    expect(await moduleRef.get(WithContext).got.waitFor(1)).toEqual([
      { isContext: true, topic: 'ctx/hall/a/b', params: { room: 'hall', rest: 'a/b' }, client: 'default', packetTopic: 'ctx/hall/a/b', qos: 1 },
    ]);
  });
});
