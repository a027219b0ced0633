import { Inject, Injectable } from '@nestjs/common';
import type { MqttService } from 'nestjs-mqtt';
import type { ClientSnapshot, Snapshot } from '../protocol.js';
import { SensorSimulator } from '../simulator/sensor-simulator.js';
import type { DashboardPage } from './dashboard-page.js';

/** The clients the page shows (the app's `MqttService` instances; the dashboard has one, the default). */
export const DASHBOARD_CLIENTS = Symbol('DASHBOARD_CLIENTS');

/** What a snapshot holds: every client's `describe()` (its URL without credentials) and `stats()`, and the page's own state. */
@Injectable()
export class DashboardSnapshots {
  constructor(
    @Inject(DASHBOARD_CLIENTS) private readonly clients: readonly MqttService[],
    private readonly simulator: SensorSimulator,
  ) {}

  /** Read once per snapshot round and shared by every page's snapshot. */
  describeClients(): ClientSnapshot[] {
    return this.clients.map((client) => ({ description: client.describe(), stats: client.stats() }));
  }

  of(page: DashboardPage, clients: readonly ClientSnapshot[] = this.describeClients()): Snapshot {
    return { at: Date.now(), clients, subscriptions: page.subscriptions, simulate: this.simulator.on };
  }
}
