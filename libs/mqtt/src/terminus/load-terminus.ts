import { importOptionalPeer } from '../optional-peer.js';

/**
 * `@nestjs/terminus`, an optional peer, loaded when `MqttHealthIndicator` starts rather than when
 * `nestjs-mqtt/terminus` is imported: without it, an `MqttError` naming the package (see importOptionalPeer).
 */
export function loadTerminus(): Promise<typeof import('@nestjs/terminus')> {
  return importOptionalPeer(() => import('@nestjs/terminus'), '@nestjs/terminus', 'nestjs-mqtt/terminus');
}
