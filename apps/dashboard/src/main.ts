import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { startDashboard } from './dashboard.js';
import { DashboardConfig } from './dashboard.config.js';

async function main(): Promise<void> {
  const logger = new Logger('Dashboard');
  const config = DashboardConfig.fromEnv();
  const dashboard = await startDashboard(config, logger);
  logger.log(`MQTT dashboard at ${dashboard.url}${config.token ? ' (the page asks for DASHBOARD_TOKEN)' : ''}`);
  const stop = (): void => {
    dashboard.close().catch((error: unknown) => {
      logger.error(`shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

// A failed start has closed what it opened, so the process exits on its own, with status 1.
main().catch((error: unknown) => {
  new Logger('Dashboard').error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
