import type * as Otel from '@opentelemetry/api';
import type { MessageTelemetry, TelemetryGauges } from './message-telemetry.js';
import { isMissingPackage } from '../optional-peer.js';
import { OtelTelemetry, registeredProviders, type TelemetryClient } from './otel-telemetry.js';

/**
 * `@opentelemetry/api` when the app has it, else undefined: an optional peer, loaded when the Nest app
 * is created (not when this package is imported) so that providers registered after the app's imports
 * are seen. Any other failure to load it is a real error and propagates.
 */
export async function loadOtelApi(): Promise<typeof Otel | undefined> {
  try {
    return await import('@opentelemetry/api');
  } catch (error) {
    if (isMissingPackage(error, '@opentelemetry/api')) return undefined;
    throw error;
  }
}

/** The client's telemetry, or undefined when OpenTelemetry is absent or no provider is registered. */
export function createTelemetry(api: typeof Otel | undefined, client: TelemetryClient, gauges: TelemetryGauges): MessageTelemetry | undefined {
  const providers = api && registeredProviders(api);
  return providers && new OtelTelemetry(api, client, providers, gauges);
}
