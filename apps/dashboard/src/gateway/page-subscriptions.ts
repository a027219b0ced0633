import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { MqttService, type MqttMessage, type ParsedTopicFilter } from 'nestjs-mqtt';
import type { Subscription } from 'rxjs';
import { DashboardConfig } from '../dashboard.config.js';
import type { MessageView } from '../protocol.js';
import type { DashboardPage } from './dashboard-page.js';
import { messageView } from './message-view.js';
import { RequestRefused } from './page-requests.js';

/** One filter some pages subscribed: one `observe()` for all of them. */
interface SharedFilter {
  readonly filter: string;
  readonly pages: Set<DashboardPage>;
  readonly observer: Subscription;
  /** The subscription was made for the pages (and is dropped after the last one); false when the app held it already. */
  readonly ownSubscription: boolean;
  qos: 0 | 1 | 2;
  /** Settles when the broker granted (or refused) the subscription. */
  granted: Promise<unknown>;
}

/**
 * The pages' subscriptions. Each filter is observed once, whatever number of pages subscribed to it, and every
 * message is forwarded to the pages that hold the filter (through their outbox, so at a bounded rate). A filter the
 * app holds already (a decorated handler's) is observed as it is and never unsubscribed; one the pages asked for is
 * subscribed at the QoS they asked (the highest of them) and dropped after the last page left it.
 */
@Injectable()
export class PageSubscriptions implements OnModuleDestroy {
  private readonly logger = new Logger('DashboardGateway');
  private readonly filters = new Map<string, SharedFilter>();
  private readonly previewBytes: number;
  private readonly perPage: number;

  constructor(
    private readonly mqtt: MqttService,
    config: DashboardConfig,
  ) {
    this.previewBytes = config.limits.previewBytes;
    this.perPage = config.limits.subscriptionsPerPage;
  }

  /** Resolves once the broker granted the filter (at once while offline: it is made on the next connection). */
  async subscribe(page: DashboardPage, filter: ParsedTopicFilter, qos: 0 | 1 | 2): Promise<void> {
    const key = filter.brokerFilter;
    if (!page.holds(key) && page.size >= this.perPage) throw new RequestRefused('filter', `this page holds ${this.perPage} filters already`);
    let shared = this.filters.get(key);
    if (!shared) {
      shared = this.observe(filter, qos);
    } else if (shared.ownSubscription && qos > shared.qos) {
      shared.qos = qos;
      shared.granted = this.mqtt.subscribe(key, { qos });
      // Awaited below only while connected; a refusal is the pages' business, not an unhandled rejection.
      shared.granted.catch((error: Error) => this.logger.warn(`a page's subscription to '${key}' at QoS ${qos} was refused: ${error.message}`));
    }
    shared.pages.add(page);
    page.add(filter, qos);
    if (this.mqtt.status !== 'connected') return;
    try {
      await shared.granted;
    } catch (error) {
      throw new RequestRefused('filter', `the broker refused it: ${(error as Error).message}`);
    }
  }

  /** False when the page did not hold the filter. */
  async unsubscribe(page: DashboardPage, filter: string): Promise<boolean> {
    if (!page.remove(filter)) return false;
    await this.leave(page, filter);
    return true;
  }

  async unsubscribeAll(page: DashboardPage): Promise<void> {
    const filters = page.brokerFilters;
    for (const filter of filters) page.remove(filter);
    await Promise.all(filters.map((filter) => this.leave(page, filter)));
  }

  onModuleDestroy(): void {
    // The client is closing: its subscriptions end with it.
    for (const shared of this.filters.values()) shared.observer.unsubscribe();
    this.filters.clear();
  }

  private observe(filter: ParsedTopicFilter, qos: 0 | 1 | 2): SharedFilter {
    const key = filter.brokerFilter;
    const heldByApp = this.mqtt.describe().subscriptions.some((subscription) => subscription.filter === key);
    // subscribe() holds the filter before it returns, so observe() below neither subscribes it again nor drops it.
    const granted = heldByApp ? Promise.resolve() : this.mqtt.subscribe(key, { qos });
    const pages = new Set<DashboardPage>();
    const observer = this.mqtt.observe(key).subscribe({
      next: (message) => this.deliver(key, pages, message),
      error: (error: Error) => this.logger.warn(`observing '${key}' failed: ${error.message}`),
    });
    const shared: SharedFilter = { filter: key, pages, observer, ownSubscription: !heldByApp, qos, granted };
    this.filters.set(key, shared);
    granted.catch((error: Error) => {
      // Refused by the broker: no page holds it any more (the snapshots show that).
      this.logger.warn(`a page's subscription to '${key}' was refused: ${error.message}`);
      if (this.filters.get(key) !== shared) return;
      this.filters.delete(key);
      observer.unsubscribe();
      for (const page of pages) page.remove(key);
    });
    return shared;
  }

  private deliver(filter: string, pages: ReadonlySet<DashboardPage>, message: MqttMessage): void {
    const at = Date.now();
    let view: MessageView | undefined;
    const render = () => (view ??= messageView(message.topic, message.packet, this.previewBytes, at));
    for (const page of pages) {
      if (page.takes(filter, message.topic)) page.outbox.offer(render);
    }
  }

  private async leave(page: DashboardPage, filter: string): Promise<void> {
    const shared = this.filters.get(filter);
    if (!shared?.pages.delete(page) || shared.pages.size > 0) return;
    this.filters.delete(filter);
    shared.observer.unsubscribe();
    if (shared.ownSubscription && this.mqtt.status !== 'closed') await this.mqtt.unsubscribe(filter);
  }
}
