import { Observable } from 'rxjs';
import type { MqttMessage } from './interfaces/mqtt-message.interface.js';
import type { BoundHandler, MessageDispatcher } from './message-dispatcher.js';
import type { SubscriptionRegistry } from './subscription-registry.js';
import type { ParsedTopicFilter } from './topic-filter.js';

interface Observed {
  observers: number;
  /** Whether observe() made the subscription (so it also drops it); a held filter is left alone. */
  subscribedHere: boolean;
}

/**
 * `MqttService.observe()`: a cold Observable per call; the broker subscription is made when the
 * first observer of a filter subscribes and dropped after the last one leaves.
 */
export class MessageObservers {
  private readonly observed = new Map<string, Observed>();

  constructor(
    private readonly dispatcher: MessageDispatcher,
    private readonly subscriptions: SubscriptionRegistry,
  ) {}

  observe<T>(filter: ParsedTopicFilter): Observable<MqttMessage<T>> {
    return new Observable<MqttMessage<T>>((subscriber) => {
      const handler: BoundHandler = {
        label: `MqttService#observe('${filter.source}')`,
        format: 'auto',
        ack: 'auto',
        needsContext: false,
        invoke: (payload, topic, packet) => subscriber.next({ topic, payload: payload as T, packet }),
      };
      this.dispatcher.addTopicHandler(filter, handler);
      const key = filter.brokerFilter;
      let entry = this.observed.get(key);
      if (!entry) {
        entry = { observers: 0, subscribedHere: !this.subscriptions.topics.has(key) };
        this.observed.set(key, entry);
        if (entry.subscribedHere) {
          this.subscriptions.subscribe([{ filter: key, qos: 0 }]).catch((error: Error) => subscriber.error(error));
        }
      }
      entry.observers++;
      return () => {
        this.dispatcher.removeTopicHandler(filter, handler);
        const current = this.observed.get(key);
        if (!current || --current.observers > 0) return;
        this.observed.delete(key);
        if (current.subscribedHere) void this.subscriptions.unsubscribe([key]).catch(() => undefined);
      };
    });
  }
}
