import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { Server, ServerOptions } from 'socket.io';
import type { DashboardConfig } from '../dashboard.config.js';
import { originCheck } from './handshake-checks.js';

/**
 * socket.io on the app's HTTP server, with what the gateway decorator cannot know statically: the largest frame a
 * page may send (a publish of `maxPayloadBytes`, room for escaping, and the rest of the request) and the origin check.
 */
export class DashboardIoAdapter extends IoAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly config: DashboardConfig,
  ) {
    super(app);
  }

  override createIOServer(port: number, options?: ServerOptions): Server {
    const ours: Partial<ServerOptions> = {
      maxHttpBufferSize: this.config.limits.maxPayloadBytes * 2 + 64 * 1024,
      allowRequest: originCheck(this.config.token),
    };
    return super.createIOServer(port, { ...options, ...ours } as ServerOptions);
  }
}
