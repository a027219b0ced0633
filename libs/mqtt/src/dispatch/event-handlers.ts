import type { LoggerService } from '@nestjs/common';
import type { MqttEvent } from '../interfaces/mqtt-handler.interface.js';
import { describeError } from '../errors/describe-error.js';
import { isPromiseLike } from './is-promise-like.js';

/** A decorated client-event handler (`@OnConnect`, `@OnError`, ...). */
export interface EventBinding {
  readonly label: string;
  readonly call: (...args: unknown[]) => unknown;
}

/** The client-event handlers of one client; an error in one never reaches mqtt.js or the others. */
export class MqttEventHandlers {
  private readonly handlers = new Map<MqttEvent, EventBinding[]>();

  constructor(private readonly logger: LoggerService) {}

  add(event: MqttEvent, binding: EventBinding): void {
    const list = this.handlers.get(event);
    if (list) list.push(binding);
    else this.handlers.set(event, [binding]);
  }

  has(event: MqttEvent): boolean {
    return (this.handlers.get(event)?.length ?? 0) > 0;
  }

  emit(event: MqttEvent, ...args: unknown[]): void {
    const list = this.handlers.get(event);
    if (!list) return;
    for (const binding of list) {
      try {
        const result = binding.call(...args);
        // Promise.resolve adopts a thenable too; one whose then() throws rejects instead of escaping.
        if (isPromiseLike(result)) Promise.resolve(result).catch((error: unknown) => this.report(binding, event, error));
      } catch (error) {
        this.report(binding, event, error);
      }
    }
  }

  private report(binding: EventBinding, event: MqttEvent, error: unknown): void {
    const message = describeError(error);
    this.logger.error(`${binding.label} failed on '${event}': ${message}`, error instanceof Error ? error.stack : undefined);
  }
}
