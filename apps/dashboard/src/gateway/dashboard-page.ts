import type { ParsedTopicFilter } from 'nestjs-mqtt';
import type { Socket } from 'socket.io';
import type { PageSubscription } from '../protocol.js';
import { PageOutbox } from './page-outbox.js';

/** One connected page: its socket, the filters it subscribed (in order) and the messages waiting for it. */
export class DashboardPage {
  readonly outbox: PageOutbox;
  private readonly filters = new Map<string, { readonly subscription: PageSubscription; readonly levels: readonly string[] }>();

  constructor(
    readonly socket: Socket,
    messagesPerSecond: number,
  ) {
    this.outbox = new PageOutbox(messagesPerSecond);
  }

  get subscriptions(): PageSubscription[] {
    return [...this.filters.values()].map((entry) => entry.subscription);
  }

  get brokerFilters(): string[] {
    return [...this.filters.keys()];
  }

  get size(): number {
    return this.filters.size;
  }

  holds(brokerFilter: string): boolean {
    return this.filters.has(brokerFilter);
  }

  /** Keyed by the filter the broker sees (`home/+room/#` and `home/+/#` are one); listed as the page wrote it. */
  add(filter: ParsedTopicFilter, qos: 0 | 1 | 2): void {
    this.filters.set(filter.brokerFilter, { subscription: { filter: filter.source, qos }, levels: filter.levels });
  }

  remove(brokerFilter: string): boolean {
    return this.filters.delete(brokerFilter);
  }

  /**
   * Whether a message that arrived through `brokerFilter` is this page's to show: with overlapping filters a message
   * reaches several of them (once each, or one copy each on MQTT 5), and the page shows it once, through the first.
   */
  takes(brokerFilter: string, topic: string): boolean {
    if (this.filters.size === 1) return true;
    for (const [filter, { levels }] of this.filters) {
      if (matches(levels, topic)) return filter === brokerFilter;
    }
    return true;
  }

  /** Whether the socket can take a frame now; otherwise the outbox keeps (a bounded number of) messages for later. */
  get writable(): boolean {
    return this.socket.connected && this.socket.conn.transport.writable;
  }
}

/** MQTT matching of a topic against a filter's levels: `+` one level, `#` the rest (the parent too), `$` topics only literally. */
function matches(levels: readonly string[], topic: string): boolean {
  const parts = topic.split('/');
  if (topic.startsWith('$') && (levels[0] === '+' || levels[0] === '#')) return false;
  for (let i = 0; i < levels.length; i++) {
    if (levels[i] === '#') return true;
    if (i >= parts.length || (levels[i] !== '+' && levels[i] !== parts[i])) return false;
  }
  return parts.length === levels.length;
}
