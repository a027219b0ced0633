import { Observable, type Subscriber } from 'rxjs';
import type { MqttMessage } from '../interfaces/mqtt-message.interface.js';
import { internalHandler, type MessageDispatcher } from '../dispatch/message-dispatcher.js';
import type { SubscriptionRegistry } from './subscription-registry.js';
import type { ParsedTopicFilter } from '../protocol/topic-filter.js';

interface Observed {
  /** Every observer of the broker filter: all of them learn of a refused subscription. */
  readonly observers: Set<Subscriber<never>>;
  /** Whether observe() made the subscription (so it also drops it); a held filter is left alone. */
  readonly subscribedHere: boolean;
  /** `SubscriptionRegistry.asks()` right after observe() subscribed: more later means someone else wants it too. */
  asks: number;
}

/**
 * `MqttService.observe()`: a cold Observable per call; the broker subscription is made when the
 * first observer of a filter subscribes and dropped after the last one leaves. A filter the client
 * already holds (decorated, or subscribed at run time), granted yet or not, is neither changed nor
 * dropped by observers.
 */
export class MessageObservers {
  private readonly observed = new Map<string, Observed>();

  constructor(
    private readonly dispatcher: MessageDispatcher,
    private readonly subscriptions: SubscriptionRegistry,
  ) {}

  observe<T>(filter: ParsedTopicFilter): Observable<MqttMessage<T>> {
    return new Observable<MqttMessage<T>>((subscriber) => {
      const handler = internalHandler(`MqttService#observe('${filter.source}')`, (payload, topic, packet) =>
        subscriber.next({ topic, payload: payload as T, packet }),
      );
      const key = filter.brokerFilter;
      let entry = this.observed.get(key);
      if (!entry) {
        entry = { observers: new Set(), subscribedHere: !this.subscriptions.holds(key), asks: 0 };
        this.observed.set(key, entry);
        if (entry.subscribedHere) {
          const refusedFor = entry;
          this.subscriptions.subscribe([{ filter: key, qos: 0 }]).catch((error: Error) => this.refused(key, refusedFor, error));
          entry.asks = this.subscriptions.asks(key);
        }
      }
      entry.observers.add(subscriber as Subscriber<never>);
      this.dispatcher.addTopicHandler(filter, handler, key);
      return () => {
        this.dispatcher.removeTopicHandler(filter, handler);
        const current = this.observed.get(key);
        if (!current || !current.observers.delete(subscriber as Subscriber<never>) || current.observers.size > 0) return;
        this.observed.delete(key);
        // Someone else (MqttService.subscribe, say) asked for the filter meanwhile: it stays held for them.
        if (current.subscribedHere && this.subscriptions.asks(key) === current.asks) {
          void this.subscriptions.unsubscribe([key]).catch(() => undefined);
        }
      };
    });
  }

  private refused(key: string, entry: Observed, error: Error): void {
    if (this.observed.get(key) === entry) this.observed.delete(key);
    for (const observer of [...entry.observers]) observer.error(error);
  }
}
