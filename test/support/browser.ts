import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from '@jest/globals';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium: the browser tests drive it with playwright-core (no downloaded browser, no network). */
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_INSTALL_HINT = 'install it with `apt-get install -y chromium` (bash .ci/run does when it is missing)';

/** These machines have no outside network: nothing in the browser may try to reach it. */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface TestBrowser {
  readonly context: BrowserContext;
  /** Uncaught exceptions, console errors and failed loads of every page, as text: a page test expects none. */
  readonly pageErrors: string[];
  newPage(): Promise<Page>;
  /** Closes the browser and removes its profile directory. Idempotent. */
  close(): Promise<void>;
}

/** Fails (never skips) with the install command when Chromium is absent. */
export function assertChromium(): void {
  try {
    accessSync(CHROMIUM, constants.X_OK);
  } catch {
    throw new Error(`Chromium not found at ${CHROMIUM}: the dashboard's browser tests need it; ${CHROMIUM_INSTALL_HINT}`);
  }
}

/** Chromium on a fresh profile (a temp `--user-data-dir`, removed by close()), headless, offline-friendly flags. */
export async function launchBrowser(options: { timeoutMs?: number } = {}): Promise<TestBrowser> {
  assertChromium();
  const profile = mkdtempSync(join(tmpdir(), 'nestjs-mqtt-chromium-'));
  let context: BrowserContext;
  try {
    // launchPersistentContext passes the profile as --user-data-dir (Playwright refuses that flag in args).
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1440, height: 900 },
      timeout: 30_000,
    });
  } catch (error) {
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
  context.setDefaultTimeout(options.timeoutMs ?? 10_000);
  const pageErrors: string[] = [];
  context.on('page', (page) => watch(page, pageErrors));
  for (const page of context.pages()) watch(page, pageErrors);
  let closing: Promise<void> | undefined;
  return {
    context,
    pageErrors,
    newPage: () => context.newPage(),
    close: () =>
      (closing ??= (async () => {
        try {
          await context.close();
        } finally {
          rmSync(profile, { recursive: true, force: true });
        }
      })()),
  };
}

/**
 * Collects what a page test expects none of: uncaught exceptions, console errors, and failed loads of the page's own
 * files. socket.io's transport requests are left out: a test that stops the server on purpose makes some fail.
 */
function watch(page: Page, errors: string[]): void {
  const isSocket = (url: string) => new URL(url).pathname.startsWith('/socket.io/') && !url.endsWith('.js');
  page.on('pageerror', (error) => errors.push(`${page.url()}: ${error.stack ?? error.message}`));
  page.on('console', (message) => {
    // The browser's own line for a failed request (no URL in it): the response and requestfailed events below judge those.
    if (message.type() !== 'error' || message.text().startsWith('Failed to load resource')) return;
    errors.push(`${page.url()}: console: ${message.text()}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400 && !isSocket(response.url())) errors.push(`${response.url()}: HTTP ${response.status()}`);
  });
  page.on('requestfailed', (request) => {
    const failure = request.failure()?.errorText ?? 'failed';
    if (!isSocket(request.url()) && failure !== 'net::ERR_ABORTED') errors.push(`${request.url()}: ${failure}`);
  });
}

export interface PollOptions {
  /** Default 10 s. */
  timeout?: number;
  /** Between two reads; default 50 ms. */
  interval?: number;
}

/** Jest's matchers, retried until they pass or the time is up (Playwright Test's `expect.poll`, which Jest lacks). */
export interface Poll {
  toBe(expected: unknown): Promise<void>;
  toEqual(expected: unknown): Promise<void>;
  toMatch(expected: RegExp | string): Promise<void>;
  toContain(expected: unknown): Promise<void>;
  toBeGreaterThan(expected: number): Promise<void>;
  toBeGreaterThanOrEqual(expected: number): Promise<void>;
}

/** `await poll(() => locator.textContent()).toBe('connected')`: reads until the matcher passes; fails with its last error. */
export function poll<T>(read: () => T | Promise<T>, options: PollOptions = {}): Poll {
  const until = async (check: (value: T) => void): Promise<void> => {
    const deadline = Date.now() + (options.timeout ?? 10_000);
    for (;;) {
      const value = await read();
      try {
        check(value);
        return;
      } catch (error) {
        if (Date.now() >= deadline) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, options.interval ?? 50));
    }
  };
  return {
    toBe: (expected) => until((value) => expect(value).toBe(expected)),
    toEqual: (expected) => until((value) => expect(value).toEqual(expected)),
    toMatch: (expected) => until((value) => expect(value).toMatch(expected)),
    toContain: (expected) => until((value) => expect(value).toContain(expected)),
    toBeGreaterThan: (expected) => until((value) => expect(value).toBeGreaterThan(expected)),
    toBeGreaterThanOrEqual: (expected) => until((value) => expect(value).toBeGreaterThanOrEqual(expected)),
  };
}
