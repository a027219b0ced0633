import type { LoggerService } from '@nestjs/common';
import { Inbox } from './inbox.js';

export interface LogLine {
  level: 'log' | 'error' | 'warn' | 'debug' | 'verbose' | 'fatal';
  text: string;
}

/** A Nest logger that keeps every line (message, context and stack) for assertions. */
export class CaptureLogger implements LoggerService {
  readonly lines: LogLine[] = [];

  log(message: unknown, ...rest: unknown[]): void {
    this.add('log', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.add('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.add('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.add('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.add('verbose', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.add('fatal', message, rest);
  }

  text(): string {
    return this.lines.map((line) => `${line.level}: ${line.text}`).join('\n');
  }

  /** Resolves with the first line (logged so far or later) that contains `text`; rejects after `timeoutMs`. */
  waitFor(text: string, timeoutMs = 5_000): Promise<LogLine> {
    return this.inbox
      .until((lines) => lines.some((line) => line.text.includes(text)), timeoutMs, `a log line with '${text}'`)
      .then(() => this.lines.find((line) => line.text.includes(text)) as LogLine);
  }

  /** Resolves once `done(lines)` holds; rejects after `timeoutMs`. */
  until(done: (lines: readonly LogLine[]) => boolean, timeoutMs = 5_000): Promise<void> {
    return this.inbox.until(done, timeoutMs, 'the expected log lines');
  }

  private readonly inbox = new Inbox<LogLine>();

  private add(level: LogLine['level'], message: unknown, rest: unknown[]): void {
    const parts = [message, ...rest].map((part) => (typeof part === 'string' ? part : JSON.stringify(part)));
    const line: LogLine = { level, text: parts.join(' ') };
    this.lines.push(line);
    this.inbox.push(line);
  }
}
