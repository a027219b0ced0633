import { describe, expect, it } from '@jest/globals';
import { MqttTopicError } from '../errors/mqtt-topic.error.js';
import { TopicRouter } from './topic-router.js';

function routerWith(filters: string[]): TopicRouter<string> {
  const router = new TopicRouter<string>();
  for (const filter of filters) router.add(filter, filter);
  return router;
}

describe('TopicRouter.match', () => {
  const cases: Array<[filters: string[], topic: string, expected: string[]]> = [
    [['a/b'], 'a/b', ['a/b']],
    [['a/b'], 'a/b/c', []],
    [['a/b'], 'a', []],
    [['a/+'], 'a/b', ['a/+']],
    [['a/+'], 'a/', ['a/+']], // '+' matches an empty level
    [['a/+'], 'a', []],
    [['a/+'], 'a/b/c', []],
    [['+/+'], '/a', ['+/+']],
    [['a/+/c'], 'a//c', ['a/+/c']],
    [['a/#'], 'a', ['a/#']], // '#' also matches the parent level
    [['a/#'], 'a/b/c/d', ['a/#']],
    [['a/#'], 'ab', []],
    [['#'], 'anything/at/all', ['#']],
    [['#'], '/', ['#']],
    [['+'], 'a', ['+']],
    [['+'], 'a/b', []],
    // $-topics never match a leading wildcard (MQTT 3.1.1 §4.7.2)
    [['#'], '$SYS/broker/uptime', []],
    [['+/broker/uptime'], '$SYS/broker/uptime', []],
    [['$SYS/#'], '$SYS/broker/uptime', ['$SYS/#']],
    [['$SYS/+/uptime'], '$SYS/broker/uptime', ['$SYS/+/uptime']],
    // shared prefixes: every matching filter, in no particular order
    [
      ['home/+/temp', 'home/kitchen/temp', 'home/#', '+/kitchen/+', 'home/+/hum'],
      'home/kitchen/temp',
      ['home/+/temp', 'home/kitchen/temp', 'home/#', '+/kitchen/+'],
    ],
    // $share/<group>/ is stripped for matching
    [['$share/g1/home/+/temp'], 'home/x/temp', ['$share/g1/home/+/temp']],
    [['$share/g1/#'], 'home/x', ['$share/g1/#']],
    // named wildcards match as their plain form
    [['home/+room/sensors/#rest'], 'home/hall/sensors/a/b', ['home/+room/sensors/#rest']],
    [['home/+room/sensors/#rest'], 'home/hall/sensors', ['home/+room/sensors/#rest']],
    [['home/+room/sensors/#rest'], 'home/hall/other', []],
  ];

  it.each(cases)('filters %j on %j -> %j', (filters, topic, expected) => {
    expect([...routerWith(filters).match(topic)].sort()).toEqual([...expected].sort());
  });

  it('returns a value registered under several matching filters once', () => {
    const router = new TopicRouter<string>();
    router.add('a/+', 'h');
    router.add('a/#', 'h');
    router.add('a/b', 'h');
    router.add('a/b', 'other');
    expect([...router.match('a/b')].sort()).toEqual(['h', 'other']);
  });

  it('treats the same value under the same filter as one registration', () => {
    const router = new TopicRouter<string>();
    router.add('a/+', 'h');
    router.add('a/+', 'h');
    expect(router.size).toBe(1);
    expect(router.match('a/x')).toEqual(['h']);
  });

  it('removes registrations and prunes empty branches', () => {
    const router = routerWith(['a/+/c', 'a/#', 'x/y']);
    expect(router.remove('a/+/c', 'a/+/c')).toBe(true);
    expect(router.remove('a/+/c', 'a/+/c')).toBe(false);
    expect(router.match('a/b/c')).toEqual(['a/#']);
    expect(router.remove('a/#', 'a/#')).toBe(true);
    expect(router.remove('x/y', 'x/y')).toBe(true);
    expect(router.match('a/b/c')).toEqual([]);
    expect(router.size).toBe(0);
  });

  it('keeps sibling levels apart from the first child on, through removals', () => {
    // A node holds its first literal child in fields and switches to a Map at the second.
    const router = routerWith(['s/1/+', 's/2/+', 's/3/+']);
    expect(router.match('s/1/x')).toEqual(['s/1/+']);
    expect(router.match('s/3/x')).toEqual(['s/3/+']);
    expect(router.remove('s/1/+', 's/1/+')).toBe(true);
    expect(router.match('s/1/x')).toEqual([]);
    expect(router.match('s/2/x')).toEqual(['s/2/+']);
    const single = routerWith(['only/+']);
    expect(single.remove('only/+', 'only/+')).toBe(true);
    expect(single.match('only/x')).toEqual([]);
    single.add('only/+', 'again');
    single.add('other/+', 'other');
    expect(single.match('only/x')).toEqual(['again']);
    expect(single.match('other/x')).toEqual(['other']);
  });

  it('keeps lookups independent of the number of unrelated filters', () => {
    const router = new TopicRouter<number>();
    for (let i = 0; i < 10_000; i++) router.add(`bench/${i}/+`, i);
    expect(router.match('bench/4242/data')).toEqual([4242]);
    expect(router.match('bench/10000/data')).toEqual([]);
  });

  it('refuses invalid filters with a typed error', () => {
    const router = new TopicRouter<string>();
    expect(() => router.add('a/#/b', 'x')).toThrow(MqttTopicError);
  });
});

describe('TopicRouter match cache', () => {
  it('forgets remembered results when filters change', () => {
    const router = new TopicRouter<string>();
    router.add('a/+', 'w');
    expect(router.match('a/b')).toEqual(['w']);
    router.add('a/b', 'e');
    expect([...router.match('a/b')].sort()).toEqual(['e', 'w']);
    router.remove('a/b', 'e');
    expect(router.match('a/b')).toEqual(['w']);
    router.add('a/b', 'e2');
    expect([...router.match('a/b')].sort()).toEqual(['e2', 'w']);
    router.remove('a/+', 'w');
    expect(router.match('a/b')).toEqual(['e2']);
  });

  it('stays correct past the cache size', () => {
    const router = new TopicRouter<number>();
    router.add('t/+', 1);
    for (let i = 0; i < 10_000; i++) expect(router.match(`t/${i}`)).toEqual([1]);
  });
});

describe('TopicRouter lists are copy-on-write', () => {
  it.each([
    ['an exact filter, no wildcard filters', 'dev/1/state', []],
    ['an exact filter, wildcard filters elsewhere', 'dev/1/state', ['other/+']],
    ['a wildcard filter', 'dev/+/state', []],
    ['a # filter', 'dev/#', []],
  ])('an array match() returned stays unchanged when values are added or removed: %s', (_case, filter, others) => {
    const router = routerWith(others);
    router.add(filter, 'first');
    router.add(filter, 'second');
    const before = router.match('dev/1/state');
    expect(before).toEqual(['first', 'second']);
    expect(router.remove(filter, 'first')).toBe(true);
    router.add(filter, 'third');
    expect(before).toEqual(['first', 'second']);
    expect(router.match('dev/1/state')).toEqual(['second', 'third']);
    expect(router.remove(filter, 'second')).toBe(true);
    expect(router.remove(filter, 'third')).toBe(true);
    expect(before).toEqual(['first', 'second']);
    expect(router.match('dev/1/state')).toEqual([]);
  });

  it.each(['dev/1/state', 'dev/+/state'])('removing the first value while iterating a match result still visits the second (%s)', (filter) => {
    // An observer torn down inside its own delivery (firstValueFrom, take(1)) removes its route mid-dispatch.
    const router = new TopicRouter<string>();
    router.add(filter, 'first');
    router.add(filter, 'second');
    const visited: string[] = [];
    for (const value of router.match('dev/1/state')) {
      visited.push(value);
      if (value === 'first') router.remove(filter, 'first');
      if (value === 'second') router.add(filter, 'late');
    }
    expect(visited).toEqual(['first', 'second']);
    expect(router.match('dev/1/state')).toEqual(['second', 'late']);
  });

  it('keeps pruning and the cache right through copy-on-write removals', () => {
    const router = routerWith(['a/+/c', 'a/b/c']);
    router.add('a/+/c', 'x');
    expect([...router.match('a/b/c')].sort()).toEqual(['a/+/c', 'a/b/c', 'x']);
    expect(router.remove('a/+/c', 'a/+/c')).toBe(true);
    expect([...router.match('a/b/c')].sort()).toEqual(['a/b/c', 'x']);
    expect(router.remove('a/+/c', 'x')).toBe(true);
    expect(router.remove('a/+/c', 'x')).toBe(false);
    expect(router.match('a/b/c')).toEqual(['a/b/c']);
    expect(router.valuesOf('a/+/c')).toEqual([]);
    expect(router.size).toBe(1);
  });
});

describe('TopicRouter.valuesOf', () => {
  it('returns the values registered under exactly that filter, not those of other matching filters', () => {
    const router = new TopicRouter<string>();
    router.add('a/+', 'x');
    router.add('a/+', 'y');
    router.add('a/#', 'z');
    router.add('a/b', 'w');
    router.add('#', 'all');
    expect(router.valuesOf('a/+')).toEqual(['x', 'y']);
    expect(router.valuesOf('a/#')).toEqual(['z']);
    expect(router.valuesOf('a/b')).toEqual(['w']);
    expect(router.valuesOf('#')).toEqual(['all']);
    expect(router.valuesOf('a/c')).toEqual([]);
    expect(router.valuesOf('a')).toEqual([]); // a trie node, but no filter ends there
    expect(router.valuesOf('a/+/c')).toEqual([]);
    expect(router.valuesOf('+')).toEqual([]);
  });

  it('parses the filter as add() does: $share/<group>/ and wildcard names do not count', () => {
    const router = new TopicRouter<string>();
    router.add('$share/g/home/+room/#rest', 'shared');
    router.add('home/+/#', 'plain');
    expect(router.valuesOf('home/+/#')).toEqual(['shared', 'plain']);
    expect(router.valuesOf('$share/other/home/+r/#')).toEqual(['shared', 'plain']);
    expect(() => router.valuesOf('home/#/x')).toThrow(MqttTopicError);
  });

  it('follows removals, and an array it returned stays unchanged', () => {
    const router = new TopicRouter<string>();
    router.add('s/+', 'a');
    router.add('s/+', 'b');
    const before = router.valuesOf('s/+');
    router.remove('s/+', 'a');
    expect(before).toEqual(['a', 'b']);
    expect(router.valuesOf('s/+')).toEqual(['b']);
    router.remove('s/+', 'b');
    expect(router.valuesOf('s/+')).toEqual([]);
  });
});

describe('TopicRouter match cache memory', () => {
  // Two matching filters: an uncached lookup merges them into a new array, a cached one returns the same.
  const router = () => {
    const r = new TopicRouter<string>();
    r.add('in/#', 'all');
    r.add('in/+', 'one');
    return r;
  };

  it('never caches a topic longer than 1 KiB, so long topics cannot pin memory', () => {
    const r = router();
    const short = 'in/x';
    expect(r.match(short)).toBe(r.match(short));
    const long = `in/${'x'.repeat(2_000)}`;
    expect([...r.match(long)].sort()).toEqual(['all', 'one']);
    expect(r.match(long)).not.toBe(r.match(long));
  });

  it('caches at most 1 MiB of topic characters, forgetting older topics', () => {
    const r = router();
    const first = r.match('in/first');
    const topics = Array.from({ length: 1_100 }, (_, i) => `in/${String(i).padStart(4, '0')}${'y'.repeat(996)}`);
    for (const topic of topics) expect(r.match(topic)).toHaveLength(2);
    expect(r.match('in/first')).not.toBe(first);
    expect(r.match('in/first')).toEqual(first);
  });
});

describe('TopicRouter against a plain matcher', () => {
  /** MQTT 3.1.1 §4.7 matching, level by level, without a trie or a cache. */
  function plainMatch(filter: string, topic: string): boolean {
    const f = filter.split('/');
    const t = topic.split('/');
    if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
    for (let i = 0; i < f.length; i++) {
      if (f[i] === '#') return true;
      if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
    }
    return f.length === t.length;
  }

  it('agrees on random filters, topics, additions and removals', () => {
    let seed = 42;
    const random = (n: number) => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % n;
    const words = ['a', 'b', '', '$s'];
    const level = (wild: boolean) => (wild && random(3) === 0 ? (random(2) ? '+' : '#') : words[random(words.length)]);
    const filter = () => {
      const levels = Array.from({ length: 1 + random(3) }, () => level(true));
      const hash = levels.indexOf('#');
      return (hash === -1 ? levels : levels.slice(0, hash + 1)).join('/');
    };
    const router = new TopicRouter<number>();
    const registered: Array<[string, number]> = [];
    for (let step = 0; step < 3_000; step++) {
      if (registered.length > 0 && random(3) === 0) {
        const [f, v] = registered.splice(random(registered.length), 1)[0];
        expect(router.remove(f, v)).toBe(true);
      } else {
        const f = filter();
        const v = random(5);
        if (!registered.some(([rf, rv]) => rf === f && rv === v)) registered.push([f, v]);
        router.add(f, v);
      }
      const topic = Array.from({ length: 1 + random(3) }, () => level(false)).join('/');
      const expected = [...new Set(registered.filter(([f]) => plainMatch(f, topic)).map(([, v]) => v))].sort();
      expect([topic, [...router.match(topic)].sort()]).toEqual([topic, expected]);
      expect(router.size).toBe(registered.length);
    }
  });
});
