// The README's main command as a new user runs it: `npm start` in a clean copy of the repository (no dist/ to reuse,
// nothing configured), which builds, starts the embedded broker and prints the dashboard's address; the page is then
// fetched from that address. PORT=0 and EMBEDDED_BROKER_PORT=0 only keep the test off ports another run may hold.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childEnv, cleanCopy } from './support/clean-copy.js';

/** A hang guard, not a speed claim: a build and a start on a loaded 2-core machine. */
const START_TIMEOUT_MS = 150_000;
// eslint-disable-next-line no-control-regex -- Nest's logger colours its lines when it thinks it writes to a terminal
const ANSI = /\u001b\[[0-9;]*m/g;

interface Started {
  url: string;
  msToAddress: number;
}

/** Resolves with the address `npm start` prints; rejects, with everything it printed, when it exits or hangs first. */
function addressOf(child: ChildProcess, output: () => string): Promise<Started> {
  const began = performance.now();
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => fail(`printed no address within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    const fail = (why: string): void => {
      clearTimeout(timer);
      reject(new Error(`npm start ${why}:\n${output()}`));
    };
    const check = (): void => {
      const found = /MQTT dashboard at (http:\/\/\S+)/.exec(output().replace(ANSI, ''));
      if (!found) return;
      clearTimeout(timer);
      child.stdout?.off('data', check);
      resolvePromise({ url: found[1], msToAddress: performance.now() - began });
    };
    child.stdout?.on('data', check);
    child.once('exit', (code, signal) => fail(`exited (${code ?? signal ?? 'unknown'}) before printing its address`));
  });
}

describe('npm start from a clean copy', () => {
  let dir: string;
  let child: ChildProcess | undefined;
  let printed = '';
  let started: Started;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nestjs-mqtt-start-'));
    cleanCopy(dir, { nodeModules: 'workspace' });
    // Its own process group, so that the test can stop npm, the shell and node together.
    child = spawn('npm', ['start'], {
      cwd: dir,
      detached: true,
      env: childEnv({ PORT: '0', EMBEDDED_BROKER_PORT: '0', NO_COLOR: '1' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (printed += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (printed += chunk));
    started = await addressOf(child, () => printed);
    process.stdout.write(`npm start printed its address after ${Math.round(started.msToAddress)} ms (build included): ${started.url}\n`);
  }, START_TIMEOUT_MS + 10_000);

  afterAll(async () => {
    const running = child;
    if (running?.pid !== undefined && running.exitCode === null && running.signalCode === null) {
      const closed = new Promise((resolvePromise) => running.once('close', resolvePromise));
      process.kill(-running.pid, 'SIGTERM');
      const guard = setTimeout(() => running.pid !== undefined && process.kill(-running.pid, 'SIGKILL'), 10_000);
      await closed;
      clearTimeout(guard);
    }
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('prints a loopback address with the port it bound', () => {
    expect(started.url).toMatch(/^http:\/\/127\.0\.0\.1:[1-9][0-9]*\/?$/);
  });

  it('serves the dashboard page at that address', async () => {
    const response = await fetch(started.url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await response.text()).toContain('<title>nestjs-mqtt dashboard</title>');
  });

  it('runs on the embedded broker when no broker is configured, and says so', () => {
    expect(printed.replace(ANSI, '')).toMatch(/embedded/i);
  });

  it('stops on SIGTERM and frees its port', async () => {
    const running = child;
    if (running?.pid === undefined) throw new Error('npm start has no pid');
    const closed = new Promise((resolvePromise) => running.once('close', resolvePromise));
    process.kill(-running.pid, 'SIGTERM');
    await closed;
    await expect(fetch(started.url)).rejects.toThrow();
  }, 30_000);
});
