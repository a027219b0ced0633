/** Settings of the dashboard app, from the environment. */
export class DashboardConfig {
  constructor(
    /** Broker URL; when absent the app starts an embedded broker. */
    readonly mqttUrl: string | undefined,
    readonly heartbeatMs: number,
    /** Loopback port of the embedded broker (used only without `mqttUrl`); 0 picks a free one. */
    readonly embeddedBrokerPort: number = DashboardConfig.DEFAULT_EMBEDDED_BROKER_PORT,
  ) {}

  /** Not 1883, so the embedded broker does not collide with a Mosquitto installed on the same machine. */
  static readonly DEFAULT_EMBEDDED_BROKER_PORT = 1884;

  static fromEnv(env: NodeJS.ProcessEnv = process.env): DashboardConfig {
    const heartbeatMs = Number(env.HEARTBEAT_MS ?? 5_000);
    if (!Number.isInteger(heartbeatMs) || heartbeatMs <= 0) {
      throw new Error(`HEARTBEAT_MS must be a positive integer (milliseconds), got ${JSON.stringify(env.HEARTBEAT_MS)}`);
    }
    const portText = env.EMBEDDED_BROKER_PORT?.trim() || String(DashboardConfig.DEFAULT_EMBEDDED_BROKER_PORT);
    const embeddedBrokerPort = /^\d+$/.test(portText) ? Number(portText) : Number.NaN;
    if (!(embeddedBrokerPort >= 0 && embeddedBrokerPort <= 65_535)) {
      throw new Error(
        `EMBEDDED_BROKER_PORT must be a port number from 0 to 65535 (0 picks a free one), got ${JSON.stringify(env.EMBEDDED_BROKER_PORT)}`,
      );
    }
    return new DashboardConfig(env.MQTT_URL || undefined, heartbeatMs, embeddedBrokerPort);
  }
}
