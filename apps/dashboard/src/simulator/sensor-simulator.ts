import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { MqttService } from 'nestjs-mqtt';
import { BehaviorSubject, type Observable } from 'rxjs';
import { DashboardConfig } from '../dashboard.config.js';
import { RoomSensor } from './room-sensor.js';

/** The rooms and their usual levels. */
const ROOMS = { kitchen: { celsius: 22.5, percent: 55 }, 'living-room': { celsius: 21, percent: 45 }, bedroom: { celsius: 19, percent: 50 } };

/** The bedroom's humidity sensor glitches (120 %) on this tick and every `GLITCH_EVERY` after, so the demo handler fails now and then. */
const FIRST_GLITCH = 5;
const GLITCH_EVERY = 60;

/**
 * The built-in sensor feed: every room publishes `home/<room>/temperature` (`{ celsius, at }`) and
 * `home/<room>/humidity` (`{ percent, at }`) every `intervalMs`. On at start with the embedded broker (`SIMULATE`
 * changes that), switched by the page.
 */
@Injectable()
export class SensorSimulator implements OnApplicationBootstrap, OnModuleDestroy {
  static readonly intervalMs = 1_000;
  private readonly logger = new Logger('Simulator');
  private readonly state: BehaviorSubject<boolean>;
  private readonly sensors = Object.entries(ROOMS).map(([room, level]) => new RoomSensor(room, level));
  private timer: NodeJS.Timeout | undefined;
  private tick = 0;
  private destroyed = false;

  constructor(
    private readonly mqtt: MqttService,
    config: DashboardConfig,
  ) {
    this.state = new BehaviorSubject(config.simulate);
  }

  get on(): boolean {
    return this.state.value;
  }

  /** Emits the current state, then every change. */
  get on$(): Observable<boolean> {
    return this.state.asObservable();
  }

  onApplicationBootstrap(): void {
    if (this.on) this.start();
  }

  onModuleDestroy(): void {
    this.destroyed = true;
    clearInterval(this.timer);
    this.state.complete();
  }

  /** Turns the feed on or off; the first readings go out at once. */
  set(on: boolean): void {
    if (on === this.on || this.destroyed) return;
    if (on) this.start();
    else this.stop();
  }

  private start(): void {
    clearInterval(this.timer);
    if (!this.on) this.state.next(true);
    this.publishAll();
    this.timer = setInterval(() => this.publishAll(), SensorSimulator.intervalMs);
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.on) this.state.next(false);
  }

  private publishAll(): void {
    this.tick += 1;
    const at = new Date().toISOString();
    for (const sensor of this.sensors) {
      const { celsius, percent } = sensor.next();
      const glitch = sensor.room === 'bedroom' && this.tick % GLITCH_EVERY === FIRST_GLITCH % GLITCH_EVERY;
      this.send(`home/${sensor.room}/temperature`, { celsius, at });
      this.send(`home/${sensor.room}/humidity`, { percent: glitch ? 120 : percent, at });
    }
  }

  private send(topic: string, reading: object): void {
    // QoS 0 while offline is refused at once: a feed has nothing to catch up on.
    this.mqtt.publish(topic, reading).catch((error: Error) => this.logger.debug(`${topic} not published: ${error.message}`));
  }
}
