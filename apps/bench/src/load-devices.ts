import mqtt, { type MqttClient, type Packet } from 'mqtt';
import { nowMs } from './load-protocol.js';

/** Connections opened at once: Mosquitto's listen backlog is 100. */
const CONNECT_CHUNK = 50;
/** The pacing timer: each tick publishes every message that has come due since the last one. */
export const TICK_MS = 5;
/** MQTT 5 PUBACK reason 0x10: accepted, but no subscriber matched (mqtt.js reports it as success). */
const NO_MATCHING_SUBSCRIBERS = 16;

/** What the fleet learns of each message: when it left, and whether the broker acknowledged it. */
export interface PublishSink {
  onPublish(index: number, sentAt: number): void;
  onAck(index: number, ok: boolean): void;
}

export interface PaceResult {
  readonly published: number;
  /** Latest a message went out after its scheduled time; one tick is normal, more means this process fell behind. */
  readonly maxLagMs: number;
}

/** Simulated devices: one mqtt.js client each, MQTT 5 with a clean session. Message `index` is sent by device `index % size`. */
export class DeviceFleet {
  /** PUBACKs with reason 0x10 since the last reset: acknowledged messages the broker delivered to nobody. */
  noSubscriberAcks = 0;

  private constructor(private readonly clients: readonly MqttClient[]) {
    for (const client of clients) {
      client.on('packetreceive', (packet: Packet) => {
        if (packet.cmd === 'puback' && packet.reasonCode === NO_MATCHING_SUBSCRIBERS) this.noSubscriberAcks++;
      });
    }
  }

  static async connect(url: string, size: number): Promise<DeviceFleet> {
    const clients: MqttClient[] = [];
    for (let first = 0; first < size; first += CONNECT_CHUNK) {
      const ids = Array.from({ length: Math.min(CONNECT_CHUNK, size - first) }, (_, i) => first + i);
      clients.push(...(await Promise.all(ids.map((id) => mqtt.connectAsync(url, { protocolVersion: 5, clean: true, clientId: `load-device-${id}` })))));
    }
    return new DeviceFleet(clients);
  }

  get size(): number {
    return this.clients.length;
  }

  /**
   * Publishes messages 0, 1, 2, ... at `rate` per second in total (at most `limit`) on a timer schedule: each tick
   * sends the backlog due by then, so a late tick catches up instead of lowering the rate. `stop()` ends it.
   */
  pace(rate: number, limit: number, sink: PublishSink): { stop(): PaceResult } {
    const start = nowMs();
    let published = 0;
    let maxLagMs = 0;
    const timer = setInterval(() => {
      const now = nowMs();
      const due = Math.min(limit, Math.floor(((now - start) * rate) / 1000));
      if (due > published) maxLagMs = Math.max(maxLagMs, now - (start + (published * 1000) / rate));
      while (published < due) this.publish(published++, sink);
    }, TICK_MS);
    return {
      stop: () => {
        clearInterval(timer);
        return { published, maxLagMs };
      },
    };
  }

  private publish(index: number, sink: PublishSink): void {
    const device = index % this.clients.length;
    const seq = Math.floor(index / this.clients.length);
    const sentAt = nowMs();
    sink.onPublish(index, sentAt);
    const payload = `{"device":${device},"seq":${seq},"sentAt":${sentAt},"temp":21.5}`;
    this.clients[device]!.publish(`load/d${String(device).padStart(4, '0')}/telemetry`, payload, { qos: 1 }, (error) => sink.onAck(index, !error));
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.endAsync()));
  }
}
