import { Injectable, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { MqttError } from '../errors/mqtt.error.js';
import { loadTerminus } from './load-terminus.js';
import { getMqttToken } from '../mqtt.tokens.js';
import { MQTT_DEFAULTS } from '../options/mqtt-defaults.js';
import type { MqttService } from '../mqtt.service.js';

export interface MqttHealthOptions {
  /** Client name (`MqttModule.forRoot({ name })`); the default client when absent. */
  client?: string;
  /**
   * Also publish a QoS 1 probe and wait for the broker's PUBACK, within `timeout` ms: proves the
   * broker still answers, not only that the socket is open.
   */
  ping?: boolean;
  /** Milliseconds for the ping (default 1000). */
  timeout?: number;
}

const PING_TOPIC = 'nestjs-mqtt/health';

/**
 * A @nestjs/terminus health indicator for a client: `up` while connected (and, with `ping`, while
 * the broker acknowledges a QoS 1 probe in time), `down` with the client's status otherwise. The details
 * name the client, its `state` and its `server` (the broker URL without credentials).
 * Import it from 'nestjs-mqtt/terminus' and provide it next to TerminusModule.
 *
 * @nestjs/terminus is an optional peer, loaded when the indicator starts (not by a static import, so that a missing
 * package fails with an `MqttError` naming it; see importOptionalPeer): the HealthIndicatorService is taken from
 * the app at module init rather than injected.
 */
@Injectable()
export class MqttHealthIndicator implements OnModuleInit {
  private health?: Promise<HealthIndicatorService>;

  constructor(private readonly moduleRef: ModuleRef) {}

  /** Fails the app's start when @nestjs/terminus is missing or TerminusModule is not imported. */
  async onModuleInit(): Promise<void> {
    await this.healthService();
  }

  async isHealthy<const Key extends string>(key: Key, options: MqttHealthOptions = {}): Promise<HealthIndicatorResult<Key>> {
    const check = (await this.healthService()).check(key);
    const mqtt = this.moduleRef.get<MqttService>(getMqttToken(options.client), { strict: false });
    const state = mqtt.status;
    // The broker connected to (or tried next), without credentials: it changes when a failover list moves on.
    const details = { client: mqtt.name, state, server: mqtt.server };
    if (!mqtt.connected) return check.down(details);
    if (!options.ping) return check.up(details);
    const timeout = options.timeout ?? MQTT_DEFAULTS.healthPingTimeout;
    try {
      await withTimeout(mqtt.publish(`${PING_TOPIC}/${mqtt.name}`, null, { qos: 1 }), timeout);
      return check.up(details);
    } catch (error) {
      return check.down({ ...details, message: (error as Error).message });
    }
  }

  private healthService(): Promise<HealthIndicatorService> {
    return (this.health ??= loadTerminus().then(({ HealthIndicatorService: token }) => {
      try {
        return this.moduleRef.get(token, { strict: false });
      } catch (error) {
        throw new MqttError('MqttHealthIndicator needs the HealthIndicatorService of @nestjs/terminus: import TerminusModule in the app', { cause: error });
      }
    }));
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no PUBACK within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error as Error);
      },
    );
  });
}
