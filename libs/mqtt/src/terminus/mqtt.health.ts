import { Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
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
 * the broker acknowledges a QoS 1 probe in time), `down` with the client's status otherwise.
 * Import it from 'nestjs-mqtt/terminus' and provide it next to TerminusModule.
 */
@Injectable()
export class MqttHealthIndicator {
  constructor(
    private readonly health: HealthIndicatorService,
    private readonly moduleRef: ModuleRef,
  ) {}

  async isHealthy<const Key extends string>(key: Key, options: MqttHealthOptions = {}): Promise<HealthIndicatorResult<Key>> {
    const check = this.health.check(key);
    const mqtt = this.moduleRef.get<MqttService>(getMqttToken(options.client), { strict: false });
    const state = mqtt.status;
    if (!mqtt.connected) return check.down({ client: mqtt.name, state });
    if (!options.ping) return check.up({ client: mqtt.name, state });
    const timeout = options.timeout ?? MQTT_DEFAULTS.healthPingTimeout;
    try {
      await withTimeout(mqtt.publish(`${PING_TOPIC}/${mqtt.name}`, null, { qos: 1 }), timeout);
      return check.up({ client: mqtt.name, state });
    } catch (error) {
      return check.down({ client: mqtt.name, state, message: (error as Error).message });
    }
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
