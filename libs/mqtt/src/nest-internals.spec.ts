import { describe, expect, it } from '@jest/globals';
import { ForbiddenException } from '@nestjs/common';
import {
  EXCEPTION_FILTERS_METADATA_READ,
  FILTER_CATCH_TYPES_METADATA,
  GUARDS_METADATA_READ,
  INTERCEPTORS_METADATA_READ,
  PIPES_METADATA_READ,
  ROUTE_ARGS_METADATA_READ,
} from './mqtt.constants.js';

/**
 * What the library relies on of Nest beyond its public API. Each key is read from a public decorator
 * at load time; if a Nest upgrade changes how a decorator stores its data, this spec fails instead of
 * handlers silently losing their guards, pipes, filters or parameter decorators.
 */
describe('Nest internals the library relies on', () => {
  it.each([
    ['@UseGuards', GUARDS_METADATA_READ],
    ['@UseInterceptors', INTERCEPTORS_METADATA_READ],
    ['@UsePipes', PIPES_METADATA_READ],
    ['@UseFilters', EXCEPTION_FILTERS_METADATA_READ],
    ['@Catch', FILTER_CATCH_TYPES_METADATA],
    ['createParamDecorator', ROUTE_ARGS_METADATA_READ],
  ])('the metadata key written by %s can be read from the decorator', (_decorator, key) => {
    expect(typeof key).toBe('string');
  });

  it("a guard's refusal is a ForbiddenException with Nest's message, which the dispatcher recognises", () => {
    // ExternalContextCreator throws new ForbiddenException(FORBIDDEN_MESSAGE) when a guard returns false.
    expect(new ForbiddenException('Forbidden resource')).toMatchObject({ name: 'ForbiddenException', message: 'Forbidden resource' });
  });
});
