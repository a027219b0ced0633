// What the page keeps of the messages it receives, all of it bounded: the live list, the topic tree's entries,
// the chart series and the rate history. Panels read it; the store tells them (at most every RENDER_MS) to redraw.

export const LIMITS = {
  /** Messages in the live list. */
  messages: 500,
  /** Topics in the tree; the least recently updated one goes first. */
  topics: 2000,
  /** Numeric series (topic + field) for the values chart. */
  series: 50,
  /** Points per series, and rate samples (one a second: five minutes). */
  points: 300,
};

const RENDER_MS = 250;
const RATE_WINDOW_S = 10;
const RATE_SAMPLE_MS = 900;

/** Messages per second over the last RATE_WINDOW_S seconds, in one-second buckets (constant memory). */
class RateMeter {
  buckets = new Array(RATE_WINDOW_S).fill(0);
  second = 0;

  add(at, n = 1) {
    this.advance(Math.floor(at / 1000));
    this.buckets[this.second % RATE_WINDOW_S] += n;
  }

  perSecond(now) {
    this.advance(Math.floor(now / 1000));
    return this.buckets.reduce((sum, n) => sum + n, 0) / RATE_WINDOW_S;
  }

  advance(second) {
    if (second <= this.second) return;
    const gap = Math.min(second - this.second, RATE_WINDOW_S);
    for (let i = 1; i <= gap; i++) this.buckets[(this.second + i) % RATE_WINDOW_S] = 0;
    this.second = second;
  }
}

/** Appends to a capped array, dropping the oldest entries. */
function pushCapped(array, value, cap) {
  array.push(value);
  if (array.length > cap) array.splice(0, array.length - cap);
}

export class Store {
  /** The live list, oldest first; each entry is a MessageView plus `seq`. */
  messages = [];
  /** topic -> { topic, last, count, meter } in least-recently-updated order. */
  topics = new Map();
  /** `topic field` -> { key, topic, field, xs, ys } in least-recently-updated order; xs in epoch seconds. */
  series = new Map();
  /** Messages the gateway did not forward (its per-second cap), in total and in the last batch that had any. */
  skipped = { total: 0, last: 0 };
  /** Messages received (forwarded + skipped) since the page opened. */
  received = 0;
  /** Rate history for the chart: xs in epoch seconds, `page` and one array per client. */
  rates = { xs: [], page: [], clients: new Map() };

  #seq = 0;
  #listeners = new Set();
  #timer = undefined;
  #lastSample = undefined;

  subscribe(listener) {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A `messages` batch from the gateway. */
  addBatch(batch) {
    for (const message of batch.messages ?? []) this.#add(message);
    if (batch.skipped > 0) {
      this.skipped.total += batch.skipped;
      this.skipped.last = batch.skipped;
      this.received += batch.skipped;
    }
    this.#changed();
  }

  #add(message) {
    const entry = { ...message, seq: ++this.#seq };
    this.received++;
    pushCapped(this.messages, entry, LIMITS.messages);

    let topic = this.topics.get(message.topic);
    if (topic) this.topics.delete(message.topic);
    else topic = { topic: message.topic, count: 0, meter: new RateMeter(), last: entry };
    topic.count++;
    topic.last = entry;
    topic.meter.add(message.at);
    this.topics.set(message.topic, topic);
    if (this.topics.size > LIMITS.topics) this.topics.delete(this.topics.keys().next().value);

    for (const [field, value] of Object.entries(message.numbers ?? {})) {
      if (typeof value !== 'number' || !Number.isFinite(value)) continue;
      // A payload that is a bare number comes as { value }: its series is named by the topic alone.
      const bare = field === 'value' && message.encoding === 'json' && !message.payload.trimStart().startsWith('{');
      const key = bare ? message.topic : `${message.topic} ${field}`;
      let series = this.series.get(key);
      if (series) this.series.delete(key);
      else series = { key, topic: message.topic, field: bare ? '' : field, xs: [], ys: [] };
      pushCapped(series.xs, message.at / 1000, LIMITS.points);
      pushCapped(series.ys, value, LIMITS.points);
      this.series.set(key, series);
      if (this.series.size > LIMITS.series) this.series.delete(this.series.keys().next().value);
    }
  }

  /** Called with each snapshot (about once a second): one rate sample for the page and for each client. */
  sampleRates(snapshot) {
    const now = snapshot.at ?? Date.now();
    const clients = new Map(snapshot.clients.map((c) => [c.description.client, c.stats.messages.received]));
    const last = this.#lastSample;
    // About one sample a second, however often snapshots come: shorter intervals make a jagged line.
    if (last && now - last.at < RATE_SAMPLE_MS) return;
    this.#lastSample = { at: now, received: this.received, clients };
    if (!last) return;
    const seconds = (now - last.at) / 1000;
    pushCapped(this.rates.xs, now / 1000, LIMITS.points);
    pushCapped(this.rates.page, (this.received - last.received) / seconds, LIMITS.points);
    const length = this.rates.xs.length;
    for (const [name, received] of clients) {
      let values = this.rates.clients.get(name);
      if (!values) this.rates.clients.set(name, (values = []));
      const before = last.clients.get(name);
      // A client seen for the first time, or whose counts restarted, has no rate for this interval.
      pushCapped(values, before === undefined || received < before ? null : (received - before) / seconds, LIMITS.points);
      while (values.length < length) values.unshift(null);
    }
    for (const [name, values] of this.rates.clients) {
      if (!clients.has(name)) pushCapped(values, null, LIMITS.points);
      if (values.every((v) => v === null)) this.rates.clients.delete(name);
    }
    this.#changed();
  }

  #changed() {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      for (const listener of this.#listeners) listener();
    }, RENDER_MS);
  }
}
