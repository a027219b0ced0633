import { ConsoleLogger, type LogLevel } from '@nestjs/common';

/** Nest's own start-up lines (one per module, route and gateway): left out at the `log` level, shown from `debug` on. */
const BOOT_CONTEXTS = new Set(['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestApplication', 'WebSocketsController']);

/** The levels `LOG_LEVEL` turns on: `log` (the default) shows errors, warnings and the app's own lines. */
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/** The app's logger: quiet by default, so that `npm start` prints the URL and what goes wrong, not every message. */
export class DashboardLogger extends ConsoleLogger {
  constructor(private readonly level: LogLevel = 'log') {
    super({ logLevels: LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(level) + 1) });
  }

  override log(message: unknown, ...rest: unknown[]): void {
    const context = rest.at(-1);
    if (this.level === 'log' && typeof context === 'string' && BOOT_CONTEXTS.has(context)) return;
    super.log(message, ...rest);
  }
}
