import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { acceptsConnections, freePort } from 'nestjs-mqtt/testing';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BenchBroker {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** A private Mosquitto for the benchmark: loopback only, no queue limits, logs to a file. `port` restarts one on its port. */
export async function startBroker(fixedPort?: number): Promise<BenchBroker> {
  const port = fixedPort ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'nestjs-mqtt-bench-'));
  const config = join(dir, 'mosquitto.conf');
  writeFileSync(
    config,
    [
      '# Benchmark broker: loopback, anonymous, unbounded queues (QoS 0 would be dropped past 1000 queued)',
      'user root',
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'max_queued_messages 0',
      'max_inflight_messages 0',
      `log_dest file ${join(dir, 'mosquitto.log')}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('mosquitto', ['-c', config], { stdio: 'ignore', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin` } });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let attempt = 0; !(await acceptsConnections(port)); attempt++) {
    if (attempt > 100) throw new Error(`mosquitto did not start on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function mosquittoVersion(): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('mosquitto', ['-h'], { env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin` } });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', () => resolve(out.split('\n')[0]?.trim() || 'unknown'));
    child.once('error', () => resolve('unknown'));
  });
}
