/** Settings of the dashboard app, from the environment. */
export class DashboardConfig {
  constructor(
    /** Broker URL; when absent the app starts an embedded broker. */
    readonly mqttUrl: string | undefined,
    readonly heartbeatMs: number,
  ) {}

  static fromEnv(env: NodeJS.ProcessEnv = process.env): DashboardConfig {
    const heartbeatMs = Number(env.HEARTBEAT_MS ?? 5_000);
    if (!Number.isInteger(heartbeatMs) || heartbeatMs <= 0) {
      throw new Error(`HEARTBEAT_MS must be a positive integer (milliseconds), got ${JSON.stringify(env.HEARTBEAT_MS)}`);
    }
    return new DashboardConfig(env.MQTT_URL || undefined, heartbeatMs);
  }
}
