import { Catch, createParamDecorator, UseFilters, UseGuards, UseInterceptors, UsePipes, type ExceptionFilter } from '@nestjs/common';

/** Name of the client that `MqttModule.forRoot()` registers when no `name` is given. */
export const DEFAULT_MQTT_CLIENT_NAME = 'default';

/** Context type seen by guards, interceptors and filters (`host.getType()`). */
export const MQTT_CONTEXT_TYPE = 'mqtt';

/** Metadata keys written by the method decorators. */
export const MQTT_TOPIC_HANDLER_METADATA = Symbol('nestjs-mqtt:topic-handler');
export const MQTT_EVENT_HANDLER_METADATA = Symbol('nestjs-mqtt:event-handler');

/**
 * The metadata key under which a public Nest decorator, applied to a probe, stored a value that
 * `holds` recognises: the keys below are read from the decorators themselves, not copied from Nest.
 */
function keyWritten(target: object, holds: (value: unknown) => boolean): string | symbol | undefined {
  return (Reflect.getOwnMetadataKeys(target) as Array<string | symbol>).find((key) => holds(Reflect.getOwnMetadata(key, target)));
}
class ProbeError extends Error {}
class ProbeFilter implements ExceptionFilter {
  catch(): void {}
}
class ProbeHost {}
const probeFilter = new ProbeFilter();
Catch(ProbeError)(ProbeFilter);
UseFilters(probeFilter)(ProbeHost);

/**
 * Where `@Catch(...types)` keeps the exception types a filter catches (none: everything). Undefined
 * only if Nest stopped storing them as it did; then every error is handed to Nest's filters.
 */
export const FILTER_CATCH_TYPES_METADATA = keyWritten(ProbeFilter, (value) => Array.isArray(value) && value.length === 1 && value[0] === ProbeError);

/**
 * Nest's enhancer metadata keys (written by @UseGuards, @UseInterceptors, @UsePipes, @UseFilters), read
 * from the decorators; the fallbacks are Nest 12's strings. `nest-internals.spec.ts` fails if a key can
 * no longer be read, before a Nest upgrade could silently leave handlers without their guards.
 */
class ProbeEnhancer {
  canActivate(): boolean {
    return true;
  }
  intercept(): undefined {
    return undefined;
  }
  transform(value: unknown): unknown {
    return value;
  }
}
class GuardedProbe {}
class InterceptedProbe {}
class PipedProbe {}
UseGuards(ProbeEnhancer)(GuardedProbe);
UseInterceptors(ProbeEnhancer)(InterceptedProbe);
UsePipes(ProbeEnhancer)(PipedProbe);
const holdsEnhancer = (value: unknown): boolean => Array.isArray(value) && value.includes(ProbeEnhancer);
export const GUARDS_METADATA_READ = keyWritten(GuardedProbe, holdsEnhancer);
export const INTERCEPTORS_METADATA_READ = keyWritten(InterceptedProbe, holdsEnhancer);
export const PIPES_METADATA_READ = keyWritten(PipedProbe, holdsEnhancer);
export const EXCEPTION_FILTERS_METADATA_READ = keyWritten(ProbeHost, (value) => Array.isArray(value) && value.includes(probeFilter));
export const EXCEPTION_FILTERS_METADATA = EXCEPTION_FILTERS_METADATA_READ ?? '__exceptionFilters__';
export const ENHANCER_METADATA_KEYS = [
  GUARDS_METADATA_READ ?? '__guards__',
  INTERCEPTORS_METADATA_READ ?? '__interceptors__',
  PIPES_METADATA_READ ?? '__pipes__',
  EXCEPTION_FILTERS_METADATA,
] as const;

/**
 * Nest's key for parameter metadata, read from `createParamDecorator` (which writes it, as
 * ExternalContextCreator reads it), so users' own parameter decorators work on MQTT handlers as on routes.
 */
class ParamProbe {
  method(): void {}
}
createParamDecorator(() => undefined)()(ParamProbe.prototype, 'method', 0);
export const ROUTE_ARGS_METADATA_READ = (Reflect.getOwnMetadataKeys(ParamProbe, 'method') as Array<string | symbol>).find(
  (key): key is string => typeof key === 'string',
);
export const ROUTE_ARGS_METADATA = ROUTE_ARGS_METADATA_READ ?? '__routeArguments__';

/** MQTT protocol limits (MQTT 3.1.1 §1.5.3, §4.7; Mosquitto's TOPIC_HIERARCHY_LIMIT). */
export const MQTT_MAX_TOPIC_BYTES = 65_535;
export const MQTT_MAX_TOPIC_LEVELS = 200;

/** The longest delay Node's timers keep; a longer one fires at once (TimeoutOverflowWarning). */
export const MAX_TIMER_DELAY_MS = 2_147_483_647;
