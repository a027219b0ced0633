import { parseTopicFilter } from './topic-filter.js';

/** One node of the filter trie: a topic level. */
class RouterNode<T> {
  /**
   * Literal child levels. Most nodes have one (`site/<id>/+/temp` ends in a chain of single children),
   * so the first child is held in two fields and a Map exists only from the second on: a lookup in a
   * large trie then touches one object fewer per level, which is what it pays for in cache misses.
   */
  private soleKey: string | undefined;
  private sole: RouterNode<T> | undefined;
  private children: Map<string, RouterNode<T>> | undefined;
  /** The `+` child. */
  plus: RouterNode<T> | undefined;
  /** Values whose filter ends with `#` at this depth (they also match the parent level). Copy-on-write. */
  hash: readonly T[] | undefined;
  /** Values whose filter ends exactly here. Copy-on-write. */
  end: readonly T[] | undefined;

  child(level: string): RouterNode<T> | undefined {
    return this.children ? this.children.get(level) : level === this.soleKey ? this.sole : undefined;
  }

  childOrNew(level: string): RouterNode<T> {
    const found = this.child(level);
    if (found) return found;
    const created = new RouterNode<T>();
    if (this.children) this.children.set(level, created);
    else if (this.sole)
      this.children = new Map([
        [this.soleKey as string, this.sole],
        [level, created],
      ]);
    else {
      this.soleKey = level;
      this.sole = created;
    }
    return created;
  }

  deleteChild(level: string): void {
    if (this.children) this.children.delete(level);
    else if (level === this.soleKey) this.soleKey = this.sole = undefined;
  }

  isEmpty(): boolean {
    const childless = this.children ? this.children.size === 0 : !this.sole;
    return childless && !this.plus && !this.hash?.length && !this.end?.length;
  }
}

const NONE: readonly never[] = Object.freeze([]);
/** Topics whose match result is remembered at most; IoT topic sets repeat (one per device and metric). */
const CACHE_SIZE = 4_096;
/** Characters of the remembered topics at most (at most 2 MiB: V8 stores a character in one or two bytes). */
const CACHE_CHARS = 1024 * 1024;
/** Longer topics are never remembered (a topic may be 64 KiB); their lookups walk the trie. */
const CACHE_MAX_TOPIC_LENGTH = 1024;

/**
 * Maps MQTT topic filters to values and finds every value whose filter matches a topic.
 *
 * Filters without wildcards live in a Map keyed by the whole topic (one lookup, no split);
 * the others live in a trie over levels, so a lookup costs O(levels) whatever the number
 * of filters. A value registered under several filters that all match is returned once.
 * Matching follows MQTT 3.1.1 §4.7: `+` matches one level (empty too), `#` matches the
 * rest including the parent level, and topics starting with `$` never match a leading
 * `+` or `#`. `$share/<group>/` is ignored for matching.
 *
 * The lists of values are copy-on-write: add() and remove() replace a list, never change it, so
 * an array that match() or valuesOf() returned stays as it was even when a caller iterating it
 * removes a value (an observer torn down during its own delivery).
 *
 * Wildcard lookups are remembered per topic, for at most 4,096 topics and 1 Mi characters of
 * topics; topics over 1,024 characters are never remembered. Whatever the topics a peer sends,
 * the cache holds at most about 2 MiB of them.
 */
export class TopicRouter<T> {
  private readonly exact = new Map<string, readonly T[]>();
  private readonly root = new RouterNode<T>();
  private wildcardCount = 0;
  private count = 0;
  /** topic -> match result for wildcard lookups; dropped whenever a filter is added or removed. */
  private readonly cache = new Map<string, readonly T[]>();
  /** Characters of the topics in `cache`. */
  private cacheChars = 0;

  /** Number of (filter, value) registrations. */
  get size(): number {
    return this.count;
  }

  /** Registers `value` under `filter` (named wildcards allowed). Throws MqttTopicError on a bad filter. */
  add(filter: string, value: T): void {
    const parsed = parseTopicFilter(filter, 'filter');
    if (parsed.exact) {
      const list = this.exact.get(parsed.matchFilter);
      // The same value under the same filter is one registration.
      if (list?.includes(value)) return;
      this.exact.set(parsed.matchFilter, list ? [...list, value] : [value]);
    } else {
      let node = this.root;
      const last = parsed.levels.length - 1;
      for (let i = 0; i < last; i++) {
        const level = parsed.levels[i];
        node = level === '+' ? (node.plus ??= new RouterNode<T>()) : node.childOrNew(level);
      }
      const level = parsed.levels[last];
      if (level === '#') {
        if (node.hash?.includes(value)) return;
        node.hash = node.hash ? [...node.hash, value] : [value];
      } else {
        const end = level === '+' ? (node.plus ??= new RouterNode<T>()) : node.childOrNew(level);
        if (end.end?.includes(value)) return;
        end.end = end.end ? [...end.end, value] : [value];
      }
      this.wildcardCount++;
    }
    this.clearCache();
    this.count++;
  }

  /** Removes one registration of `value` under `filter`; returns whether it was there. */
  remove(filter: string, value: T): boolean {
    const parsed = parseTopicFilter(filter, 'filter');
    if (parsed.exact) {
      const list = this.exact.get(parsed.matchFilter);
      if (!list?.includes(value)) return false;
      const rest = without(list, value);
      if (rest) this.exact.set(parsed.matchFilter, rest);
      else this.exact.delete(parsed.matchFilter);
      this.clearCache();
      this.count--;
      return true;
    }
    const path: RouterNode<T>[] = [this.root];
    let node: RouterNode<T> | undefined = this.root;
    for (const level of parsed.levels) {
      if (level === '#') break;
      node = level === '+' ? node.plus : node.child(level);
      if (!node) return false;
      path.push(node);
    }
    if (parsed.levels[parsed.levels.length - 1] === '#') {
      if (!node.hash?.includes(value)) return false;
      node.hash = without(node.hash, value);
    } else {
      if (!node.end?.includes(value)) return false;
      node.end = without(node.end, value);
    }
    this.clearCache();
    this.prune(path, parsed.levels);
    this.wildcardCount--;
    this.count--;
    return true;
  }

  /**
   * The values registered under `filter` itself (not under other filters that match the same
   * topics), parsed as add() parses it: `$share/<group>/` and wildcard names do not count, so
   * `$share/g/a/+x` and `a/+` name one list. Never changed afterwards; must not be modified.
   */
  valuesOf(filter: string): readonly T[] {
    const parsed = parseTopicFilter(filter, 'filter');
    if (parsed.exact) return this.exact.get(parsed.matchFilter) ?? NONE;
    let node: RouterNode<T> | undefined = this.root;
    const last = parsed.levels.length - 1;
    for (let i = 0; i < last && node; i++) {
      const level = parsed.levels[i];
      node = level === '+' ? node.plus : node.child(level);
    }
    if (!node) return NONE;
    const level = parsed.levels[last];
    if (level === '#') return node.hash ?? NONE;
    return (level === '+' ? node.plus : node.child(level))?.end ?? NONE;
  }

  /**
   * Every value whose filter matches `topic`, each once. The returned array is never changed
   * afterwards (often it is the router's own copy-on-write list) and must not be modified.
   */
  match(topic: string): readonly T[] {
    if (this.wildcardCount === 0) {
      return this.exact.get(topic) ?? NONE;
    }
    const cacheable = topic.length <= CACHE_MAX_TOPIC_LENGTH;
    if (cacheable) {
      const cached = this.cache.get(topic);
      if (cached) return cached;
    }
    const collector: Collector<T> = { first: this.exact.get(topic), merged: undefined };
    walk(this.root, topic.split('/'), 0, topic.charCodeAt(0) === 0x24 /* '$' */, collector);
    const result = collector.merged ?? collector.first ?? NONE;
    if (cacheable) {
      if (this.cache.size >= CACHE_SIZE || this.cacheChars + topic.length > CACHE_CHARS) this.clearCache();
      this.cache.set(topic, result);
      this.cacheChars += topic.length;
    }
    return result;
  }

  private clearCache(): void {
    this.cache.clear();
    this.cacheChars = 0;
  }

  private prune(path: RouterNode<T>[], levels: readonly string[]): void {
    for (let i = path.length - 1; i > 0; i--) {
      const node = path[i];
      if (!node.isEmpty()) return;
      const parent = path[i - 1];
      const level = levels[i - 1];
      if (level === '+') parent.plus = undefined;
      else parent.deleteChild(level);
    }
  }
}

interface Collector<T> {
  /** The first list found; returned as is when it is the only one. */
  first: readonly T[] | undefined;
  /** Allocated only when a second list is found. */
  merged: T[] | undefined;
}

function add<T>(collector: Collector<T>, values: readonly T[] | undefined): void {
  if (!values || values.length === 0) return;
  if (!collector.first) {
    collector.first = values;
    return;
  }
  if (!collector.merged) {
    collector.merged = [...collector.first];
  }
  for (const value of values) {
    if (!collector.merged.includes(value)) collector.merged.push(value);
  }
}

function walk<T>(node: RouterNode<T>, levels: string[], depth: number, dollar: boolean, out: Collector<T>): void {
  // A leading wildcard must not match a `$` topic (MQTT 3.1.1 §4.7.2).
  const wildcardsAllowed = !(dollar && depth === 0);
  if (wildcardsAllowed) add(out, node.hash);
  if (depth === levels.length) {
    add(out, node.end);
    return;
  }
  const next = node.child(levels[depth]);
  if (next) walk(next, levels, depth + 1, dollar, out);
  if (node.plus && wildcardsAllowed) walk(node.plus, levels, depth + 1, dollar, out);
}

/** `list` without `value` (which it holds), as a new array; undefined when nothing is left. */
function without<T>(list: readonly T[], value: T): readonly T[] | undefined {
  if (list.length === 1) return undefined;
  const index = list.indexOf(value);
  return [...list.slice(0, index), ...list.slice(index + 1)];
}
